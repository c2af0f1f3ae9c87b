"""The embedded default in examples/tiny: base-model builder, instruction data, config, full run."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from loradoc.errors import UserError  # noqa: E402
from loradoc.train.model import tinybase  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
STEPS = "4"  # a few pretraining steps: enough to exercise the loop, fast enough for every run


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"tiny_{name}", TINY / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_base() -> ModuleType:
    return load_script("build_base")


@pytest.fixture(scope="module")
def built(build_base: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "model"
    assert build_base.main(["--out", str(out), "--steps", STEPS]) == 0
    return out


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --- the base model ------------------------------------------------------------------------


def test_build_writes_a_loadable_llama_that_generates(built: Path) -> None:
    assert (built / "model.safetensors").is_file()
    info = json.loads((built / tinybase.BUILD_INFO).read_text())
    assert info["spec"]["steps"] == int(STEPS) and len(info["build_hash"]) == 16

    model = transformers.AutoModelForCausalLM.from_pretrained(built)
    tok = transformers.AutoTokenizer.from_pretrained(built)
    assert model.config.model_type == "llama"
    assert model.config.vocab_size >= len(tok)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "</s>", "<pad>")
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id

    ids = tok("The river", return_tensors="pt")["input_ids"]
    assert ids[0, 0].item() == tok.bos_token_id  # a Llama-style tokenizer: <s> in front
    out = model.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, do_sample=False
    )
    assert out.shape[1] > ids.shape[1]
    # byte-level BPE round-trips text it never saw, and the chat template renders
    assert tok.decode(tok("Zyx qü 42!", add_special_tokens=False)["input_ids"]) == "Zyx qü 42!"
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert chat == "<s><|user|>\nhi</s>\n<|assistant|>\n"


def test_same_inputs_reuse_the_build(
    build_base: ModuleType, built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (built / "model.safetensors").stat().st_mtime_ns
    capsys.readouterr()
    assert build_base.main(["--out", str(built), "--steps", STEPS]) == 0
    assert "reusing the tiny base model" in capsys.readouterr().out
    assert (built / "model.safetensors").stat().st_mtime_ns == before


def weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_same_seed_same_weights_other_seed_other_weights(built: Path, tmp_path: Path) -> None:
    spec = tinybase.with_steps(tinybase.TinyBaseSpec(), int(STEPS))
    again = tinybase.build_tiny_base(tmp_path / "again", TINY / "corpus", spec, log=lambda _: None)
    assert again.build_hash == json.loads((built / tinybase.BUILD_INFO).read_text())["build_hash"]
    a, b = weights(built), weights(tmp_path / "again")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (built / "tokenizer.json").read_bytes() == (tmp_path / "again" / "tokenizer.json").read_bytes()

    other = tinybase.build_tiny_base(
        tmp_path / "other",
        TINY / "corpus",
        tinybase.TinyBaseSpec(**{**spec.__dict__, "seed": 7}),
        log=lambda _: None,
    )
    assert other.build_hash != again.build_hash
    c = weights(tmp_path / "other")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_changed_corpus_rebuilds(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("The cat sat on the mat. " * 40)
    spec = tinybase.with_steps(tinybase.TinyBaseSpec(), 2)
    first = tinybase.build_tiny_base(tmp_path / "m", corpus, spec, log=lambda _: None)
    assert tinybase.build_tiny_base(tmp_path / "m", corpus, spec, log=lambda _: None).reused
    (corpus / "a.txt").write_text("The dog sat on the log. " * 40)
    second = tinybase.build_tiny_base(tmp_path / "m", corpus, spec, log=lambda _: None)
    assert not second.reused and second.build_hash != first.build_hash
    assert tinybase.existing_build_hash(tmp_path / "m") == second.build_hash
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


def test_user_mistakes_are_one_line_errors(
    build_base: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert build_base.main(["--out", str(foreign), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a tiny base build" in err and err.count("\n") == 1
    assert (foreign / "notes.txt").read_text() == "keep me"

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no \\*.txt files"):
        tinybase.build_tiny_base(tmp_path / "m", empty)
    with pytest.raises(UserError, match="corpus folder not found"):
        tinybase.build_tiny_base(tmp_path / "m", tmp_path / "nowhere")
    assert build_base.main(["--out", str(tmp_path / "m"), "--steps", "0"]) == 2
    assert capsys.readouterr().err == "error: --steps must be at least 1 (got 0)\n"


# --- the data and the config ---------------------------------------------------------------


def test_dataset_files_parse_and_eval_is_held_out() -> None:
    train = read_jsonl(TINY / "data" / "train.jsonl")
    evals = read_jsonl(TINY / "data" / "eval.jsonl")
    assert 500 <= len(train) <= 2000 and 20 <= len(evals) <= 200
    for row in train + evals:
        assert set(row) == {"instruction", "input", "output"}
        assert all(isinstance(v, str) for v in row.values()) and row["instruction"] and row["output"]
    train_prompts = {(r["instruction"], r["input"]) for r in train}
    assert not train_prompts & {(r["instruction"], r["input"]) for r in evals}
    # held out by content, not just by wording: no eval name is greeted in train
    greeted = {r["output"] for r in train if r["output"].startswith("Hello, ")}
    assert not greeted & {r["output"] for r in evals if r["output"].startswith("Hello, ")}
    # some long rows, so packing has work to do
    assert max(len(r["input"]) for r in train) > 800


def test_committed_data_is_what_make_data_writes() -> None:
    train, evals = load_script("make_data").build()
    assert train == read_jsonl(TINY / "data" / "train.jsonl")
    assert evals == read_jsonl(TINY / "data" / "eval.jsonl")


def test_lora_yml_loads_with_paths_beside_it(tmp_path: Path) -> None:
    config = pytest.importorskip("loradoc.config.load")
    # a copy without the model: the config still loads; paths resolve beside the file
    shutil.copytree(TINY / "data", tmp_path / "data")
    shutil.copy(TINY / "lora.yml", tmp_path / "lora.yml")
    cfg = config.load_config(str(tmp_path / "lora.yml"), {}, echo=False)
    assert cfg.adapter == "lora" and cfg.sample_packing is True and cfg.lora_target_linear is True
    assert cfg.datasets[0].path == str(tmp_path / "data" / "train.jsonl")
    assert cfg.test_datasets[0].path == str(tmp_path / "data" / "eval.jsonl")
    assert 256 <= cfg.sequence_len <= 512


# --- the whole demo, shortened --------------------------------------------------------------


@pytest.mark.slow
def test_full_pipeline_on_the_tiny_example(built: Path, tmp_path: Path) -> None:
    pytest.importorskip("loradoc.train.run.start")
    from loradoc.cli import main

    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                str(TINY / "lora.yml"),
                "--base_model",
                str(built),
                "--max_steps",
                "6",
                "--evals_per_epoch",
                "",
                "--output_dir",
                str(out),
                "--dataset_prepared_path",
                str(tmp_path / "prepared"),
            ]
        )
    assert exit_info.value.code == 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in logged if "loss" in m]
    assert losses and all(loss == loss and loss > 0 for loss in losses)  # finite, positive
