"""The embedded default in examples/tiny: base-model builder, instruction data, config, full run."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from loradoc.errors import UserError  # noqa: E402
from loradoc.train.model import tinybase  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "tiny"
MODEL = TINY / "model"  # the committed build: what `python examples/tiny/build_base.py` reuses
REBUILD = "rebuild it with `python examples/tiny/build_base.py --force` and commit examples/tiny/model/"
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


def test_the_committed_base_model_is_up_to_date(
    build_base: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the main command runs build_base.py: with the committed model it must do nothing
    info = json.loads((MODEL / tinybase.BUILD_INFO).read_text())
    spec = tinybase.TinyBaseSpec()
    files = tinybase.corpus_files(TINY / "corpus")
    assert info["spec"] == dataclasses.asdict(spec), REBUILD
    assert info["build_hash"] == tinybase.build_hash(spec, files), f"the committed model is stale: {REBUILD}"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in MODEL.iterdir()}
    capsys.readouterr()
    assert build_base.main([]) == 0
    assert capsys.readouterr().out.startswith("reusing the tiny base model in ")
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in MODEL.iterdir()} == before
    # small enough to live in git
    assert sum(p.stat().st_size for p in MODEL.iterdir()) < 8 * 2**20

    # the hash is of names and contents: another folder, other mtimes or CRLF line ends match
    copy = tmp_path / "corpus"
    copy.mkdir()
    for f in files:
        (copy / f.name).write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
        os.utime(copy / f.name, (0, 0))
    assert tinybase.build_hash(spec, tinybase.corpus_files(copy)) == info["build_hash"]
    (copy / files[0].name).write_bytes(files[0].read_bytes() + b"!")
    assert tinybase.build_hash(spec, tinybase.corpus_files(copy)) != info["build_hash"]


def sha256(path: Path) -> str:
    # compare files by digest: a failed `assert bytes == bytes` on megabytes makes pytest diff them for hours
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_loss(model_dir: Path, windows: int = 8, size: int = 128) -> float:
    """Mean next-token loss of a build on the first windows of the corpus (the same tokens for every build)."""
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    ids: list[int] = []
    for f in tinybase.corpus_files(TINY / "corpus"):
        ids += tok(f.read_text(encoding="utf-8"))["input_ids"]
    batch = torch.tensor(ids[: windows * size]).view(windows, size)
    with torch.no_grad():
        return float(model(input_ids=batch, labels=batch).loss)


@pytest.mark.slow
def test_build_base_remakes_the_committed_model(build_base: ModuleType, tmp_path: Path) -> None:
    # the whole 300-step pretraining (20 s on 2 idle cores, several minutes on a busy machine)
    out = tmp_path / "model"
    assert build_base.main(["--out", str(out), "--force"]) == 0
    # the tokenizer and config are text from integer work: the same bytes on any machine
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert sha256(out / name) == sha256(MODEL / name), f"{name} differs: {REBUILD}"
    config, committed = (json.loads((d / "config.json").read_text()) for d in (out, MODEL))
    config.pop("transformers_version", None), committed.pop("transformers_version", None)
    assert config == committed
    fresh, info = (json.loads((d / tinybase.BUILD_INFO).read_text()) for d in (out, MODEL))
    same = ("build_hash", "spec", "corpus_tokens", "parameters")
    assert {k: fresh[k] for k in same} == {k: info[k] for k in same}
    # the weights only up to float rounding: another CPU's vector width (AVX2, AVX-512) sums in
    # another order and 300 steps amplify it (seen: every weight differs, up to 11% of a tensor's
    # range, with the same losses to 4 decimals and the same greedy sample). So the rebuild must
    # train the same way, and the committed weights must score like the rebuilt ones.
    assert fresh["loss_first"] == pytest.approx(info["loss_first"], abs=1e-3)
    assert fresh["loss_last"] == pytest.approx(info["loss_last"], rel=0.03), REBUILD
    rebuilt, shipped = corpus_loss(out), corpus_loss(MODEL)
    assert rebuilt < 0.5 * info["loss_first"]  # a trained model, far below the untrained one
    assert shipped == pytest.approx(rebuilt, rel=0.02), (
        f"the committed weights are not this build's: {REBUILD}"
    )


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


# --- the whole demo -----------------------------------------------------------------------


def example_config(folder: Path, **keys: Any) -> Path:
    """lora.yml with the committed model and data, its outputs in ``folder``, ``keys`` changed."""
    import yaml

    doc = yaml.safe_load((TINY / "lora.yml").read_text())
    doc["base_model"] = str(MODEL)
    for ds in doc["datasets"] + doc["test_datasets"]:
        ds["path"] = str(TINY / ds["path"])
    doc.update(output_dir=str(folder / "out"), dataset_prepared_path=str(folder / "prepared"), **keys)
    path = folder / "lora.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def train(config: Path, *args: str) -> None:
    from loradoc.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(config), *args])
    assert exit_info.value.code == 0


@pytest.mark.slow
def test_the_example_runs_again_and_again(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the README's main command twice: lora.yml replaces its earlier run (and says so in one
    # line), and show_samples.py reads whichever run is there
    pytest.importorskip("loradoc.train.run.start")
    config = example_config(tmp_path, max_steps=4)
    out = tmp_path / "out"
    show = load_script("show_samples")
    for run in range(3):
        capsys.readouterr()
        train(config)
        said = capsys.readouterr().out
        emptied = [line for line in said.splitlines() if "emptied" in line]
        assert emptied == ([f"output_dir: emptied {out} (overwrite_output_dir: true)"] if run else [])
        assert (out / "adapter_model.safetensors").is_file() and (out / "loss.png").is_file()
        logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses = [m["loss"] for m in logged if "loss" in m]
        assert losses and all(loss == loss and loss > 0 for loss in losses)  # finite, positive
        assert max(m["step"] for m in logged) == 4  # this run's records only

        assert show.main(["--config", str(config), "-n", "2"]) == 0
        printed = capsys.readouterr()
        assert printed.out.count("after:") == 2 and (out / "samples.md").is_file()
        assert "in the task's shape: before " in printed.out
        assert "Warning" not in printed.err


@pytest.mark.slow
def test_the_adapter_answers_the_held_out_tasks_and_the_base_does_not(tmp_path: Path) -> None:
    # what examples/tiny/README.md claims, as behaviour rather than strings: after the example's
    # one epoch, the adapted model answers (nearly) every held-out prompt in its task's format,
    # the base model (nearly) never; which names and items it copies is not checked
    config = example_config(tmp_path)
    train(config)

    from loradoc.config.load import load_config
    from loradoc.train.data.prompts import format_for
    from loradoc.train.run.samples import load_adapter, prompts_from_rows, sample_before_after

    cfg = load_config(str(config), echo=False)
    spec = cfg.test_datasets[0]
    rows = read_jsonl(Path(spec.path))
    tokenizer = transformers.AutoTokenizer.from_pretrained(MODEL)
    fmt = format_for(spec, where=spec.path, tokenizer=tokenizer, chat_template=lambda: "")
    prompts, expected = prompts_from_rows(fmt, rows, len(rows))
    base = transformers.AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32)
    model = load_adapter(base, tmp_path / "out")
    results = sample_before_after(model, tokenizer, prompts, expected=expected, max_new_tokens=16)

    show = load_script("show_samples")
    by_task: dict[str, list[Any]] = {}
    for r in results:
        assert r.expected is not None and show.task_shape(r.expected) is not None, r.expected
        by_task.setdefault(r.expected.split()[0], []).append(r)
    assert set(by_task) == {"Hello,", "Shopping", "This"} and len(results) == len(rows)
    for task, some in by_task.items():
        c = show.score(some)
        assert c["after_shape"] >= 0.75 * c["n"], (task, c)
        assert c["after_shape"] - c["before_shape"] >= 0.5 * c["n"], (task, c)


def test_show_samples_scores_the_shape_of_each_task() -> None:
    from loradoc.train.run.samples import SampleResult

    show = load_script("show_samples")
    evals = read_jsonl(TINY / "data" / "eval.jsonl")
    assert all(show.task_shape(r["output"]).match(r["output"]) for r in evals)  # every task known
    results = [
        SampleResult("p", before="The river.", after="Hello, Kum! It is nice to meet you.", expected=e)
        for e in ("Hello, Mateo! It is nice to meet you.", "Hello, Kum! It is nice to meet you.")
    ] + [
        SampleResult(
            "p", before="Shopping list:\n- a", after="This text is about x.", expected="Shopping list:\n- a"
        ),
        SampleResult(
            "p", before="", after="This text is about the sea.", expected="This text is about bread."
        ),
    ]
    assert show.score(results) == {
        "n": 4,
        "before_shape": 1,
        "after_shape": 3,
        "before_exact": 1,
        "after_exact": 1,
    }


# --- the loss plot ------------------------------------------------------------------------


def test_loss_plot_is_titled_with_the_run_and_shows_each_point_once(tmp_path: Path) -> None:
    from loradoc.train.run.plot import loss_series, plot_losses, plot_title

    records = [
        {"step": 5, "loss": 3.0},
        {"step": 10, "loss": 2.0},
        {"step": 10, "eval_loss": 2.5},
        {"step": 12, "loss": 1.5, "eval_loss": None},
        {"step": 12, "eval_loss": 2.25},
        {"step": 12, "eval_loss": 2.2},  # the same eval logged again: one point, the last value
        {"step": 12, "train_loss": 2.1, "train_runtime": 1.0},
    ]
    train_points, eval_points = loss_series(records)
    assert train_points == [(5, 3.0), (10, 2.0), (12, 1.5)]
    assert eval_points == [(10, 2.5), (12, 2.2)]

    path = tmp_path / "lora-out" / "loss.png"
    assert plot_title(path, "model LoRA") == "lora-out: model LoRA"
    assert plot_title(path, "model LoRA", run_name="my-wandb-run") == "my-wandb-run: model LoRA"
    assert plot_title(path, "") == "lora-out"
    path.parent.mkdir()
    assert plot_losses(records, path, title="model LoRA") == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_losses([{"step": 1, "lr": 0.1}], tmp_path / "none.png") is None
