"""The field corpus (tests/doctor/field/): real broken environments from public threads, replayed
through `doctor check` and `doctor explain`; and healthy machines that must raise no alarm.

Run `python tests/doctor/field/replay.py -v` for the table and every miss.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest
from field.replay import (
    _CONFIG_CHANGE,
    _PLACEHOLDER,
    CASES,
    all_cases,
    fix_lines,
    load_case,
    printed_fix,
    replay,
    shell_parses,
    table,
)

from loradoc.compat.load import load_matrix
from loradoc.doctor.diagnose import diagnose
from loradoc.doctor.explain import explain
from loradoc.doctor.findings import Severity
from loradoc.doctor.rules import all_codes
from loradoc.doctor.snapshot import Snapshot

HERE = Path(__file__).resolve().parent
KINDS = {
    "bitsandbytes",
    "nvcc",
    "flash-attn",
    "xformers",
    "driver",
    "gpu-arch",
    "cpu-torch",
    "pip-torch",
    "gpu-too-old",
    "multi-gpu",
    "container-wsl",
    "platform",
    "wandb",
}
# Raised as the doctor learns; the figure is printed on every run (-s shows it). Lowered only
# when new cases are added as found, before the doctor is taught them: from 0.89/0.89 to
# 0.85/0.84 (29 cases, 9 right on arrival), from 0.88/0.86 to 0.87/0.85 (41 cases, 24 right), and
# from 0.89/0.86 to 0.88/0.85 (33 cases, 18 right), from 0.90/0.87 to 0.89/0.86 (21 cases, 5
# right: conda installs and cuDNN majors), and to 0.88/0.85 (24 cases, 8 right: threads sought for
# wordings the doctor did not read). Raised to 0.90/0.87 once torch 1.x releases, the notes of a
# pre-Ampere GPU and more wordings were taught (789/873 right, 765 usable). Usable raised to 0.88
# once fixes that pip would have answered with "Requirement already satisfied" forced the
# reinstall, and compilers, build tools and the stack's package mismatches were taught (814/896
# right, 798 usable). Raised to 0.91/0.89 once GPU settings, Macs, OpenMP, OS limits, distributed
# launches, the Hub, disks and W&B were taught and their cases measured on arrival (855/937 right,
# 839 usable).
# Raised to 0.92/0.90 once the threads of the missed cases were re-read (facts they state added,
# 11 cases whose cause no one confirmed removed) and quantization, diffusion-trainer and installer
# wordings were taught (947/1020 right, 930 usable). Held there since: the next 80 cases from
# uncited threads arrived at 60 right and 46 usable, and after teaching and an audit that removed
# 11 of them the figure is 1025/1104 right and 1000 usable (90.6%). Held again: 38 more cases from
# uncited threads arrived at 27 right and 25 usable (71% and 66%), and with the wordings of four
# harvests taught the figure is 1058/1142 right and 1034 usable (90.5%). Held again: a re-read of
# all 108 missed cases and 40 right ones removed 8 unconfirmed cases and added stated facts, 12
# cases from uncited threads arrived at 8 right and 8 usable, and with eight harvests taught the
# figure is 1066/1146 right and 1043 usable (91.0%). Held again: 33 cases from uncited threads
# arrived at 27 right and 24 usable (one right case then dropped), and with nine harvests (distributed training, pip/uv/conda,
# xformers/flash-attn/Triton, fine-tuning frameworks, extension builds, ROCm/MPS, serving stacks)
# taught the figure is 1095/1178 right and 1069 usable (90.7%). Held again: 2 W&B cases from
# uncited threads arrived at 0 right (a key format no code knew), and with the matrix's per-OS
# Pythons and more harvests taught (clusters and notebooks, the data stack, fused kernels, RL and
# diffusion trainers, Windows, ROCm/XPU/MPS, Triton caches) the figure is 1098/1180 right and 1072
# usable (90.8%).
FLOOR_RIGHT = 0.92
FLOOR_USABLE = 0.90
CASE_FILES = all_cases()


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_is_well_formed_and_sourced(path: Path) -> None:
    case = load_case(path)
    kind, thread, url = case["kind"], str(case["thread"]), str(case["url"])
    assert kind in KINDS and path.name.startswith(f"{kind}__")
    owner_repo, _, number = thread.partition("#")
    assert number.isdigit() and re.fullmatch(r"[\w.-]+/[\w.-]+", owner_repo), thread
    assert url.startswith(f"https://github.com/{owner_repo}/") and url.rstrip("/").endswith(f"/{number}"), url
    assert isinstance(case["date"], (datetime.date, str))
    Snapshot.from_dict(case["facts"] or {}, source=path.name)
    assert str(case["confirmed"]).strip()
    assert case["facts"] or str(case["log"] or "").strip(), "a case needs stated facts, log lines, or both"
    assert case["status"] in ("ok", "gap")
    for other in case["expect"].get("also_works") or []:
        assert set(other) == {"fix_has", "source"}, f"{path.name}: also_works entries are fix_has + source"
        assert other["fix_has"] and str(other["source"]).strip(), (
            f"{path.name}: an also_works fix needs its source"
        )
    if case["status"] == "ok":
        assert case["expect"]["code"] in all_codes(), (
            f"{path.name}: {case['expect']['code']} is not a loradoc code"
        )
    else:
        assert str(case.get("gap", "")).strip(), f"{path.name}: say what loradoc lacks"


def test_each_thread_is_one_case() -> None:
    threads = [str(load_case(p)["thread"]).lower() for p in CASE_FILES]
    assert sorted(t for t in set(threads) if threads.count(t) > 1) == []


def test_replay_figure() -> None:
    if not CASE_FILES:
        pytest.skip(f"no cases in {CASES}")
    outcomes = [replay(p) for p in CASE_FILES]
    print("\n" + table(outcomes))
    n = len(outcomes)
    assert sum(o.right for o in outcomes) / n >= FLOOR_RIGHT
    assert sum(o.usable for o in outcomes) / n >= FLOOR_USABLE


# A fix line is a command (its first word one of these, or an environment assignment) or a change
# to a config or launch command ("set X in ..."): never prose a user has to turn into a command.
_COMMAND = re.compile(
    r"^(pip|python[\d.]*|py|export|unset|sudo|docker|conda|wandb|read|loradoc|accelerate|torchrun|git|"
    r"nvidia-smi|echo|start|rm|rmdir|grep|sed|winget|reg|ulimit|hf|wsl|wmic|ln|arch|cd|explorer\.exe|"
    r"[A-Z_][A-Z0-9_]*=\S+)\s"
)


def test_every_fix_the_corpus_produces_works_as_printed() -> None:
    matrix = load_matrix()
    bad: dict[str, str] = {}
    for path in CASE_FILES:
        case = load_case(path)
        snapshot = Snapshot.from_dict(case["facts"] or {}, source=path.name)
        findings = [*diagnose(snapshot, matrix), *explain(str(case["log"] or ""), snapshot, matrix)]
        for f in findings:
            for line in fix_lines(printed_fix(f) or ""):  # the fix and its "or:" alternative
                if _CONFIG_CHANGE.match(line):
                    continue
                if not _COMMAND.match(line + " ") or _PLACEHOLDER.search(line) or not shell_parses(line):
                    bad.setdefault(f"{f.code}: {line}", path.name)
    assert bad == {}


@pytest.mark.parametrize("path", sorted((HERE / "healthy").glob("*.json")), ids=lambda p: p.stem)
def test_healthy_machines_raise_no_alarm(path: Path) -> None:
    snapshot = Snapshot.from_dict(json.loads(path.read_text()), source=path.name)
    loud = [f for f in diagnose(snapshot, load_matrix()) if f.severity is not Severity.INFO]
    assert loud == []


def test_the_healthy_set_covers_the_machines_users_have() -> None:
    names = {p.stem for p in (HERE / "healthy").glob("*.json")}
    assert {
        "a100",
        "h100",
        "rtx4090",
        "t4_colab",
        "rtx5090",
        "gh200",
        "mi250",
        "cpu_laptop",
        "macos",
        "windows",
    } <= names
