"""Before/after sampling on a tiny random Llama with a real peft LoRA adapter."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from loradoc.train.model.tinybase import TinyBaseSpec, make_model, train_tokenizer  # noqa: E402
from loradoc.train.run.samples import (  # noqa: E402
    SampleResult,
    format_samples_markdown,
    format_samples_text,
    load_adapter,
    peft_wrap_quietly,
    prompts_from_rows,
    sample_before_after,
    write_samples_md,
)

TEXT = [
    "The miller walked along the river bank to look at the old gate.",
    "Bread needs flour, water, salt and yeast, and a hot oven.",
    "In spring the birds come back and the farmers plant their seeds.",
    "Hello, Sam. How are you today? I am well, thank you.",
]
PROMPTS = ["The river", "Hello, Sam."]


@pytest.fixture(scope="module")
def tiny() -> tuple[object, object]:
    tokenizer = train_tokenizer(TEXT, vocab_size=300)
    spec = TinyBaseSpec(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2)
    torch.manual_seed(0)
    return make_model(spec, tokenizer), tokenizer


def greedy(model: object, tokenizer: object, prompt: str, n: int) -> str:
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True).strip()


def with_lora(base: object) -> object:
    # init_lora_weights=False: B is random too, so the adapter changes the outputs from step 0
    cfg = peft.LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False)
    torch.manual_seed(1)
    with peft_wrap_quietly():  # peft reads a property transformers 5 deprecated
        return peft.get_peft_model(copy.deepcopy(base), cfg)


def test_before_is_the_base_model_and_after_is_the_adapter(tiny: tuple[object, object]) -> None:
    base, tokenizer = tiny
    n = 8
    base_answers = [greedy(base, tokenizer, p, n) for p in PROMPTS]
    model = with_lora(base)
    adapted_answers = [greedy(model, tokenizer, p, n) for p in PROMPTS]
    assert base_answers != adapted_answers, "the random adapter should change the greedy output"

    results = sample_before_after(model, tokenizer, PROMPTS, expected=["x", None], max_new_tokens=n)

    assert [r.prompt for r in results] == PROMPTS
    assert [r.before for r in results] == base_answers
    assert [r.after for r in results] == adapted_answers
    assert [r.expected for r in results] == ["x", None]
    # the adapter is active again afterwards
    assert [greedy(model, tokenizer, p, n) for p in PROMPTS] == adapted_answers


def test_model_state_is_restored(tiny: tuple[object, object]) -> None:
    base, tokenizer = tiny
    model = with_lora(base)
    model.train()
    model.get_base_model().config.use_cache = False  # as packed training runs
    sample_before_after(model, tokenizer, PROMPTS[:1], max_new_tokens=3)
    assert model.training is True
    assert model.get_base_model().config.use_cache is False

    model.eval()
    model.get_base_model().config.use_cache = True
    sample_before_after(model, tokenizer, PROMPTS[:1], max_new_tokens=3)
    assert model.training is False
    assert model.get_base_model().config.use_cache is True


def test_rejects_a_plain_model_and_mismatched_expected(tiny: tuple[object, object]) -> None:
    base, tokenizer = tiny
    with pytest.raises(TypeError, match="peft model"):
        sample_before_after(base, tokenizer, PROMPTS)
    with pytest.raises(ValueError, match="1 entries for 2 prompts"):
        sample_before_after(with_lora(base), tokenizer, PROMPTS, expected=["a"])
    assert sample_before_after(with_lora(base), tokenizer, []) == []


def test_write_samples_md(tmp_path: Path) -> None:
    results = [
        SampleResult(
            prompt="### Instruction:\nSay hello to Zoe.\n\n### Response:\n",
            before="The the",
            after="Hello, Zoe!",
            expected="Hello, Zoe!",
        ),
        SampleResult(prompt="code ``` inside", before="a\nb", after="```", expected=None),
    ]
    path = write_samples_md(results, tmp_path / "run" / "samples.md")
    text = path.read_text()
    assert path == tmp_path / "run" / "samples.md"
    assert text == format_samples_markdown(results)
    assert text.count("## Sample") == 2
    assert "Say hello to Zoe." in text and "Hello, Zoe!" in text
    assert "**Expected**" in text and text.count("**Expected**") == 1
    # a result containing ``` is fenced with a longer fence, so the document stays well formed
    assert "````text\n```\n````" in text
    assert [p.name for p in path.parent.iterdir()] == ["samples.md"]  # no temp file left behind


def test_format_samples_text_shows_the_end_of_the_prompt() -> None:
    long_preamble = "Below is an instruction. " * 10
    r = SampleResult(
        prompt=long_preamble + "### Instruction:\nGreet Ada.\n\n### Response:\n",
        before="x\ny",
        after="Hello, Ada!",
    )
    out = format_samples_text([r], width=60)
    first, *rest = out.splitlines()
    assert first.startswith("sample 1: ...") and first.endswith("Greet Ada. ### Response:")
    assert rest == ["  before:   x | y", "  after:    Hello, Ada!"]


def test_prompts_from_rows_split_at_the_answer() -> None:
    from loradoc.train.data.prompts import AlpacaFormat, CompletionFormat

    rows = [
        {"instruction": "Say hello to Zoe.", "input": "", "output": "Hello, Zoe!"},
        {"instruction": "no output"},  # does not render: skipped
        {"instruction": "Name the topic.", "input": "Bread needs yeast.", "output": "Bread."},
        {"instruction": "Greet Ada.", "input": "", "output": "Hello, Ada!"},
    ]
    fmt = AlpacaFormat("instruct")
    prompts, expected = prompts_from_rows(fmt, rows, limit=2)
    assert prompts == [
        fmt.prompt("Say hello to Zoe.", ""),
        fmt.prompt("Name the topic.", "Bread needs yeast."),
    ]
    assert expected == ["Hello, Zoe!", "Bread."]
    assert prompts[0].endswith("### Response:\n")
    # completion data has no prompt to answer: nothing to sample
    assert prompts_from_rows(CompletionFormat("text"), [{"text": "The river."}], limit=3) == ([], [])


def test_a_prompt_that_starts_with_bos_gets_no_second_one(tiny: tuple[object, object]) -> None:
    base, tokenizer = tiny
    model = with_lora(base)
    plain, with_bos = sample_before_after(model, tokenizer, ["The river", "<s>The river"], max_new_tokens=6)
    assert (plain.before, plain.after) == (with_bos.before, with_bos.after)


def test_load_adapter_round_trips_without_peft_s_future_warning(
    tiny: tuple[object, object], tmp_path: Path
) -> None:
    base, tokenizer = tiny
    model = with_lora(base)
    model.save_pretrained(str(tmp_path / "adapter"))
    filters = list(warnings.filters)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # what show_samples.py would print
        loaded = load_adapter(copy.deepcopy(base), tmp_path / "adapter")
        assert warnings.filters[0][2] is FutureWarning  # the narrow filter went away again
    assert warnings.filters == filters
    assert [greedy(loaded, tokenizer, p, 6) for p in PROMPTS] == [
        greedy(model, tokenizer, p, 6) for p in PROMPTS
    ]
