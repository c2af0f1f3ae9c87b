"""Write the tiny example's instruction data: data/train.jsonl and data/eval.jsonl (alpaca format).

    python examples/tiny/make_data.py            # rewrites both files, deterministically

Three small tasks with a fixed answer format, so that a tiny base model that has only
read prose (corpus/*.txt) visibly picks up the format in a minute of LoRA:

  greet   "Say hello to Mira."                         -> "Hello, Mira! It is nice to meet you."
  list    "Make a shopping list with: eggs, honey."    -> "Shopping list:\n- eggs\n- honey"
  topic   instruction + a passage of the corpus as `input` -> "This text is about baking bread."

The topic passages are 1 to 10 sentences of one corpus file, so lengths run from
78 to 417 tokens and packing has something to do. Names, list items and passage
sentences are split into train and eval pools, so every eval prompt is held out
(eval passages come from the last fifth of each corpus file).

A model of this size learns the three formats within one epoch; copying a name or
an item out of the prompt is beyond it, and the topic is right only now and then
(see README.md). The before/after samples show how far it got.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240601
N_TRAIN = 1200
N_EVAL = 48


def words(text: str) -> list[str]:
    return text.split()


NAMES = words(
    """
Ada Alba Alec Anna Arlo Asha Aston Bea Ben Bram Cara Cato Clara Cleo Cora Dara Dev Dina Eda Edgar
Ella Elsa Emil Enzo Esme Ezra Fay Felix Finn Flora Gus Hana Hugo Ida Ilse Ina Iris Ivo Jago Jana
Jonas Juno Kai Kara Kit Lara Leo Lena Lev Lila Linus Lior Lola Luca Lucy Mae Mara Mateo Max Mila
Mira Nell Nico Nina Noa Nora Ola Omar Opal Oren Otto Pia Quin Rafa Remy Rhea Rosa Rumi Ruth Sam
Sana Saul Seth Sol Suki Tam Tara Tess Theo Tomas Uma Vera Vida Wren Yara Yuri Zara Zeno Zoe Anouk
Bruno Cyril Dorian Elif Frieda Greta Hector Ingrid Jasper Kasimir Leopold Magnus Nadia Orla Perpetua
"""
)

ITEMS = words(
    """
apples bread eggs cheese honey plums carrots onions potatoes butter milk flour salt pears cherries
beans peas tomatoes cucumbers lettuce spinach radishes garlic oats rice tea coffee soup jam nuts
raisins sugar yeast lemons squash cabbage herbs rolls buns candles soap matches string nails glue
paper ink wool thread buttons plates cups spoons towels
"""
)

GREET = [
    "Say hello to {name}.",
    "Greet {name}.",
    "Please say hello to {name}.",
    "My friend {name} just arrived. Say hello to {name}.",
    "Write a greeting for {name}.",
]
LIST = [
    "Make a shopping list with these items: {items}.",
    "Turn this into a shopping list: {items}.",
    "We need {items}. Write it as a shopping list.",
]
TOPIC = [
    "What is this text about?",
    "Read the text below and say what it is about.",
    "Name the topic of this text.",
    "Tell me in a few words what the following passage is about.",
]
# corpus file -> topic (files of letters and dialogue are left out: their sentences are quotes)
TOPICS = {
    "01_river_village.txt": "a village by a river",
    "02_bread.txt": "baking bread",
    "03_seasons.txt": "the seasons",
    "04_market.txt": "a market",
    "05_night_sky.txt": "the night sky",
    "06_workshop.txt": "woodwork",
    "07_sea.txt": "boats and the sea",
    "08_garden.txt": "gardening",
    "10_animals.txt": "animals",
    "11_numbers.txt": "numbers",
}


def sentences_by_topic() -> dict[str, list[str]]:
    """Plain narrative sentences of each topic's corpus file (no dialogue or titles)."""
    out: dict[str, list[str]] = {}
    for name, topic in TOPICS.items():
        text = re.sub(r"\s+", " ", (HERE / "corpus" / name).read_text(encoding="utf-8"))
        parts = re.split(r"(?<=[.!?])\s+", text)
        out[topic] = [
            s for s in parts if 30 <= len(s) <= 240 and '"' not in s and s[0].isupper() and s[-1] == "."
        ]
    return out


def split_pool(pool: list[str], n_eval: int, rng: random.Random) -> tuple[list[str], list[str]]:
    items = pool[:]
    rng.shuffle(items)
    return items[n_eval:], items[:n_eval]


def make_row(kind: str, rng: random.Random, pools: dict[str, list[str]]) -> dict[str, str]:
    if kind == "greet":
        name = rng.choice(pools["names"])
        return {
            "instruction": rng.choice(GREET).format(name=name),
            "input": "",
            "output": f"Hello, {name}! It is nice to meet you.",
        }
    if kind == "list":
        items = rng.sample(pools["items"], rng.randint(2, 4))
        return {
            "instruction": rng.choice(LIST).format(items=", ".join(items)),
            "input": "",
            "output": "Shopping list:\n" + "\n".join(f"- {item}" for item in items),
        }
    topic = rng.choice(sorted(TOPICS.values()))
    sentences = pools[topic]
    n = min(len(sentences), rng.choice([1, 2, 2, 3, 3, 4, 5, 7, 10]))
    start = rng.randrange(len(sentences) - n + 1)
    return {
        "instruction": rng.choice(TOPIC),
        "input": " ".join(sentences[start : start + n]),
        "output": f"This text is about {topic}.",
    }


def build() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(SEED)
    names_train, names_eval = split_pool(NAMES, 16, rng)
    items_train, items_eval = split_pool(ITEMS, 12, rng)
    train_pools: dict[str, list[str]] = {"names": names_train, "items": items_train}
    eval_pools: dict[str, list[str]] = {"names": names_eval, "items": items_eval}
    for topic, sentences in sentences_by_topic().items():
        cut = len(sentences) * 4 // 5
        train_pools[topic], eval_pools[topic] = sentences[:cut], sentences[cut:]
    kinds = ["greet", "list", "topic"]
    train = [make_row(kinds[i % len(kinds)], rng, train_pools) for i in range(N_TRAIN)]
    rng.shuffle(train)
    seen = {(r["instruction"], r["input"]) for r in train}
    evals: list[dict[str, str]] = []
    i = 0
    while len(evals) < N_EVAL:  # interleaved, so the first three eval rows cover every task
        row = make_row(kinds[i % len(kinds)], rng, eval_pools)
        i += 1
        if (row["instruction"], row["input"]) not in seen:
            seen.add((row["instruction"], row["input"]))
            evals.append(row)
    return train, evals


def write_jsonl(rows: list[dict[str, str]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    train, evals = build()
    write_jsonl(train, HERE / "data" / "train.jsonl")
    write_jsonl(evals, HERE / "data" / "eval.jsonl")
    print(f"wrote {len(train)} train rows and {len(evals)} eval rows to {HERE / 'data'}")


if __name__ == "__main__":
    main()
