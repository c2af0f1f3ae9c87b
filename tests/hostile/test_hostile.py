"""The hostile-input corpus: every broken input gets exactly one ``error:`` line naming the
file, key or row and the fix, a non-zero exit, no traceback, and leaves nothing half-written
(``output_dir`` absent or unchanged, no temporary files, the corpus untouched).

The cases are files: ``cases/configs/*.yml`` (placeholders ``__MODEL__``, ``__CASES__``,
``__WS__`` filled in per test), ``cases/data``, ``cases/models``, ``cases/snapshots``, and the
config-level corpus kept in ``tests/train/configs/bad`` (reused here as real, non-dry runs).
Config-level cases run ``loradoc.cli.main`` in-process; a few run ``python -m loradoc`` in a
subprocess, the way a user meets them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from loradoc.cli import main

HERE = Path(__file__).parent
CASES = HERE / "cases"
TRAIN_BAD = HERE.parent / "train" / "configs" / "bad"
CPU_SNAPSHOT = HERE.parent / "train" / "snapshots" / "cpu.json"


@dataclass
class Case:
    args: Callable[[Path], list[str]]  # workspace -> loradoc words
    expect: tuple[str, ...]  # fragments of the one error line (after placeholders are filled)
    code: int = 2
    subprocess: bool = False
    setup: Callable[[Path], None] | None = None
    fix: str | None = None  # a fragment of the `fix:` line a preflight error prints under it
    only_ours: bool = False  # stderr holds loradoc's own lines only (no library's log line before the error)


def _config(name: str) -> Callable[[Path], list[str]]:
    return lambda ws: ["train", str(ws / f"{name}.yml")]


def _previous_run(ws: Path) -> None:
    out = ws / "out"
    out.mkdir(parents=True)
    (out / "resolved_config.yml").write_text("base_model: earlier/model\n")
    (out / "adapter_model.safetensors").write_bytes(b"an earlier adapter")
    (out / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')


def _single_line_array(ws: Path) -> None:
    row = json.dumps({"instruction": "Say red.", "input": "", "output": "red"})
    count = 17 * (1 << 20) // (len(row) + 2) + 1
    (ws / "single_line_array.jsonl").write_text("[" + ", ".join([row] * count) + "]\n", encoding="utf-8")


def _half_written_checkpoint(ws: Path) -> None:
    ck = ws / "out" / "checkpoint-4"
    ck.mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(b"half")
    (ws / "out" / "resolved_config.yml").write_text("base_model: earlier/model\n")


CONFIG_CASES: dict[str, Case] = {
    "missing_dataset": Case(
        _config("missing_dataset"),
        ("datasets[0].path: no such file or folder: __WS__/no_such_file.jsonl", "[config-path-missing]"),
        code=1,
        fix="fix the path",
    ),
    "empty_dataset": Case(_config("empty_dataset"), ("__CASES__/data/empty.jsonl", "no rows")),
    "missing_fields": Case(
        _config("missing_fields"),
        (
            "__CASES__/data/missing_field.jsonl: row 3: missing field 'output'",
            "alpaca needs instruction, output",
        ),
        subprocess=True,
    ),
    "missing_fields_two_processes": Case(
        _config("missing_fields_two_processes"),
        ("__CASES__/data/missing_field.jsonl: row 3: missing field 'output'",),
        subprocess=True,
    ),
    "not_utf8": Case(
        _config("not_utf8"),
        ("__CASES__/data/not_utf8.jsonl: line 2: not valid UTF-8 (byte 0xe9", "save the file as UTF-8"),
        subprocess=True,
    ),
    "all_too_long": Case(
        _config("all_too_long"),
        ("the train split is empty", "3 longer than sequence_len", "excess_length_strategy: truncate"),
    ),
    "base_model_without_weights": Case(
        _config("base_model_without_weights"),
        ("base_model folder __CASES__/models/no_weights has no weights", "[config-base-model-incomplete]"),
        code=1,
        fix="save_pretrained",
    ),
    "deepspeed_not_installed": Case(
        _config("deepspeed_not_installed"),
        ("deepspeed is set but the deepspeed package is not installed", "[config-deepspeed-missing]"),
        code=1,
        fix="pip install deepspeed",
    ),
    "output_dir_under_a_file": Case(
        _config("output_dir_under_a_file"),
        ("output_dir: __CASES__/data/good.jsonl/out cannot be created", "is a file", "choose another folder"),
    ),
    "output_dir_holds_another_run": Case(
        _config("output_dir_holds_another_run"),
        (
            "output_dir: __WS__/out already holds a run",
            "resume_from_checkpoint: true",
            "overwrite_output_dir: true",
        ),
        setup=_previous_run,
    ),
    "resume_without_checkpoint": Case(
        _config("resume_without_checkpoint"),
        ("resume_from_checkpoint: true, but no checkpoint in __WS__/out is complete (checkpoint-4)",),
        setup=_half_written_checkpoint,
    ),
    "remote_code_model": Case(
        _config("remote_code_model"),
        ("base_model: __CASES__/models/remote_code", "trust_remote_code: true"),
        subprocess=True,
    ),
    "fsdp_one_process": Case(
        _config("fsdp_one_process"),
        ("fsdp needs at least 2 processes: add --num-processes 2, or remove fsdp/fsdp_config",),
        subprocess=True,
        only_ours=True,
    ),
    "base_model_is_a_file": Case(
        _config("base_model_is_a_file"),
        (
            "base_model: __CASES__/models/no_weights/config.json is a file; base_model must be a folder or a hub id",
            "[config-base-model-incomplete]",
        ),
        code=1,
        fix="save_pretrained",
    ),
    "rows_are_arrays": Case(
        _config("rows_are_arrays"),
        ("__CASES__/data/rows_are_arrays.jsonl: row 1 is a JSON array; each row must be a JSON object",),
        only_ours=True,
    ),
    "single_line_array": Case(
        _config("single_line_array"),
        (
            "__WS__/single_line_array.jsonl: row 1 is 17.0 MB; rows are limited to 16 MB",
            "(a single-line JSON array? write one object per line)",
        ),
        setup=_single_line_array,
        only_ours=True,
    ),
    "unterminated_string": Case(
        _config("unterminated_string"),
        ("__CASES__/data/unterminated.jsonl: line 2: invalid JSON (Unterminated string starting at column",),
        subprocess=True,
        only_ours=True,
    ),
    "micro_batch_larger_than_data": Case(
        _config("micro_batch_larger_than_data"),
        (
            "micro_batch_size 8 x 1 process = 8 rows per forward pass, but the train split has 6 example(s)",
            "set micro_batch_size to 6 or less",
        ),
    ),
    "output_dir_in_proc": Case(
        _config("output_dir_in_proc"),
        ("output_dir: /proc/loradoc-out cannot be created",),
    ),
    "null_key": Case(_config("null_key"), ("line 15: key 'null' is not a name",)),
}

SNAPSHOT_CASES: dict[str, tuple[str, ...]] = {
    "corrupt": ("corrupt.json:1: not valid JSON", "loradoc doctor check --save"),
    "truncated": ("truncated.json:", "not valid JSON"),
    "wrong_schema_version": ("wrong_schema_version.json: schema_version 99 is not supported",),
    "wrong_field_types": ("wrong_field_types.json: gpus: expected a list of gpu mappings, got a string",),
    "not_utf8": ("not_utf8.json: cannot read snapshot",),
}


def _fill(text: str, ws: Path, model: Path) -> str:
    return text.replace("__MODEL__", str(model)).replace("__CASES__", str(CASES)).replace("__WS__", str(ws))


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its content (folders as '<dir>')."""
    if not root.exists():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "<dir>" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class Ran:
    code: int
    out: str
    err: str


def _run(words: list[str], *, in_subprocess: bool, cwd: Path, capfd: pytest.CaptureFixture[str]) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(TQDM_DISABLE="1", OMP_NUM_THREADS="1", LORADOC_HOSTILE_MARKER=str(cwd / "REMOTE_CODE_RAN"))
    if in_subprocess:
        proc = subprocess.run(
            [sys.executable, "-m", "loradoc", *words],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            cwd=cwd,
        )
        return Ran(proc.returncode, proc.stdout, proc.stderr)
    capfd.readouterr()
    old = dict(os.environ)
    os.environ.update(TQDM_DISABLE="1", LORADOC_HOSTILE_MARKER=str(cwd / "REMOTE_CODE_RAN"))
    try:
        with pytest.raises(SystemExit) as exc:
            main(words)
    finally:
        os.environ.clear()
        os.environ.update(old)
    captured = capfd.readouterr()
    code = exc.value.code
    return Ran(code if isinstance(code, int) else 1, captured.out, captured.err)


def _assert_one_clean_error(ran: Ran, code: int, fragments: tuple[str, ...]) -> str:
    errors = [line for line in ran.err.splitlines() if line.startswith("error:")]
    assert ran.code == code, (ran.code, ran.err[-3000:])
    assert len(errors) == 1, ran.err[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert "Traceback" not in ran.err and "Traceback" not in ran.out
    return errors[0]


def test_the_corpus_is_all_in_the_tables() -> None:
    assert sorted(p.stem for p in (CASES / "configs").glob("*.yml")) == sorted(CONFIG_CASES)
    assert sorted(p.stem for p in (CASES / "snapshots").glob("*.json")) == sorted(SNAPSHOT_CASES)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=[pytest.mark.slow] if CONFIG_CASES[n].subprocess else [])
        for n in sorted(CONFIG_CASES)
    ],
)
def test_hostile_config(
    name: str, hostile_model_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    case = CONFIG_CASES[name]
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / f"{name}.yml").write_text(
        _fill((CASES / "configs" / f"{name}.yml").read_text(), ws, hostile_model_dir)
    )
    if case.setup:
        case.setup(ws)
    before_ws, before_cases = _tree(ws), _tree(CASES)
    before_out = _tree(ws / "out")

    ran = _run(case.args(ws), in_subprocess=case.subprocess, cwd=ws, capfd=capfd)

    line = _assert_one_clean_error(
        ran, case.code, tuple(_fill(f, ws, hostile_model_dir) for f in case.expect)
    )
    if case.fix:
        after = ran.err.split(line, 1)[1].splitlines()
        assert after[1].startswith("  fix: ") and case.fix in after[1], ran.err
    if case.only_ours:
        ours = ("error:", "  fix:", "changed:", "note:", "warning:", "data:")
        assert [t for t in ran.err.splitlines() if t.strip() and not t.startswith(ours)] == [], ran.err
        assert "at at " not in line
    # nothing half-written: output_dir as it was (absent, or the earlier run untouched), no temp
    # files anywhere, and the corpus itself unchanged
    assert _tree(ws / "out") == before_out
    assert not [p for p in ws.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert _tree(CASES) == before_cases
    new = sorted(set(_tree(ws)) - set(before_ws))
    assert all(n.startswith("prepared") for n in new), new  # at most the data cache (complete, reusable)
    assert not (ws / "REMOTE_CODE_RAN").exists(), "the model's own code was imported"


@pytest.mark.parametrize("name", sorted(p.name for p in TRAIN_BAD.glob("*.yml")))
def test_hostile_config_from_the_config_corpus(
    name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """tests/train/configs/bad, as real runs (not --dry-run): one error, nothing written."""
    ran = _run(["train", str(TRAIN_BAD / name)], in_subprocess=False, cwd=tmp_path, capfd=capfd)
    line = _assert_one_clean_error(ran, 2, (str(TRAIN_BAD / name),))
    assert line.startswith(f"error: {TRAIN_BAD / name}: ")
    assert ran.out == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(SNAPSHOT_CASES))
@pytest.mark.parametrize("command", ["doctor", "train"])
def test_hostile_snapshot(name: str, command: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = CASES / "snapshots" / f"{name}.json"
    words = ["doctor", "check", "--from", str(path)]
    if command == "train":  # the same file given to `train --from` (the config itself is fine)
        cfg = tmp_path / "ok.yml"
        cfg.write_text(
            "base_model: org/model\nadapter: lora\ndatasets:\n  - path: org/data\n    type: alpaca\n"
            f"output_dir: {tmp_path / 'out'}\n"
        )
        words = ["train", str(cfg), "--dry-run", "--from", str(path)]
    ran = _run(words, in_subprocess=False, cwd=tmp_path, capfd=capfd)
    line = _assert_one_clean_error(ran, 2, SNAPSHOT_CASES[name])
    assert str(path) in line
    assert not (tmp_path / "out").exists()


def test_a_good_snapshot_still_plans(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The control: the same `train --from` with a sound snapshot succeeds."""
    cfg = tmp_path / "ok.yml"
    cfg.write_text("base_model: org/model\nadapter: lora\ndatasets:\n  - path: org/data\n    type: alpaca\n")
    ran = _run(
        ["train", str(cfg), "--dry-run", "--from", str(CPU_SNAPSHOT)],
        in_subprocess=False,
        cwd=tmp_path,
        capfd=capfd,
    )
    assert ran.code == 0 and "dry run: the config is valid" in ran.out
    assert json.loads(CPU_SNAPSHOT.read_text())["schema_version"] == 1


@pytest.mark.slow
def test_the_remote_code_marker_does_fire_when_code_is_trusted(tmp_path: Path) -> None:
    """The control for `remote_code_model`: with trust_remote_code=True transformers imports the
    folder's module and the marker appears, so its absence above means the code never ran."""
    marker = tmp_path / "REMOTE_CODE_RAN"
    script = (
        "from transformers import AutoConfig\n"
        "try:\n"
        f"    AutoConfig.from_pretrained({str(CASES / 'models' / 'remote_code')!r}, trust_remote_code=True)\n"
        "except Exception:\n"
        "    pass\n"
    )
    env = dict(os.environ, LORADOC_HOSTILE_MARKER=str(marker), HF_MODULES_CACHE=str(tmp_path / "modules"))
    subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True, check=False)
    assert marker.read_text() == "remote code ran\n"
