"""Golden plans on snapshots of real machine kinds.

Each ``install_snapshots/<name>.json`` is a Snapshot; ``<name>.plan.json`` is the plan
``doctor install --dry-run --json --from <name>.json <options>`` must print. Regenerate
after a deliberate change with ``LORADOC_UPDATE_GOLDEN=1 pytest tests/doctor/test_plan_golden.py``
and review the diff. Besides the byte comparison, each case asserts the facts it exists for.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from loradoc.cli import cli
from loradoc.compat.load import load_matrix
from loradoc.doctor.install.plan import InstallPlan, plan
from loradoc.doctor.install.wants import from_options
from loradoc.doctor.snapshot import Snapshot

HERE = Path(__file__).parent / "install_snapshots"
UPDATE = os.environ.get("LORADOC_UPDATE_GOLDEN") == "1"

CASES: dict[str, list[str]] = {
    "a100_driver535": ["--with", "flash-attn,bitsandbytes"],
    "h100_driver580": ["--with", "xformers,flash-attn"],
    "t4_driver525": ["--with", "bitsandbytes,flash-attn"],
    "gtx1080ti_new_driver": ["--with", "xformers,bitsandbytes"],
    "v100_driver550": ["--with", "xformers,bitsandbytes"],
    "gh200_driver560": ["--with", "xformers,flash-attn"],
    "gb200_driver570": [],
    "rtx3090_driver525": ["--with", "flash-attn"],
    "a100_driver550": ["--with", "flash-attn,bitsandbytes"],
    "h100_driver570": ["--with", "xformers,flash-attn"],
    "gtx1080_driver535": [],
    "python313_a100": ["--with", "flash-attn"],
    "python314_a100": [],
    "mi300x_rocm": ["--with", "bitsandbytes"],
    "mi250_rocm": [],
    "apple_m3": [],
    "t4_driver535": ["--with", "bitsandbytes"],
    "rtx5090": ["--with", "flash-attn"],
    "cpu_laptop": [],
    "torch210_box": ["--with", "xformers"],
    "windows_box": ["--with", "xformers,flash-attn,bitsandbytes"],
}


def _plan(name: str) -> InstallPlan:
    args = CASES[name]
    with_ = [args[i + 1] for i, a in enumerate(args) if a == "--with"]
    return plan(Snapshot.load(HERE / f"{name}.json"), load_matrix(), from_options(with_=with_))


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_matches_golden(name: str) -> None:
    got = _plan(name).to_dict()
    golden = HERE / f"{name}.plan.json"
    if UPDATE:
        golden.write_text(json.dumps(got, indent=2) + "\n")
    assert golden.exists(), f"no golden plan: run LORADOC_UPDATE_GOLDEN=1 pytest {__file__}"
    assert got == json.loads(golden.read_text())


@pytest.mark.parametrize("name", sorted(CASES))
def test_dry_run_json_prints_the_golden_plan(name: str) -> None:
    res = CliRunner().invoke(
        cli, ["doctor", "install", "--dry-run", "--json", "--from", str(HERE / f"{name}.json"), *CASES[name]]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == json.loads((HERE / f"{name}.plan.json").read_text())


def test_dry_run_text_shows_choices_reasons_and_commands() -> None:
    res = CliRunner().invoke(
        cli,
        ["doctor", "install", "--dry-run", "--from", str(HERE / "torch210_box.json"), "--with", "xformers"],
    )
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "torch 2.1.0+cu118 is installed and fits: kept" in out
    assert "the cu118 index has the build for torch's CUDA" in out
    assert (
        "--index-url https://download.pytorch.org/whl/cu118 -c torch-constraint.txt xformers==0.0.22.post7"
        in out
    )
    assert "torch-constraint.txt holds torch==2.1.0+cu118" in out


# -- what each machine kind is in the golden set for ------------------------------------------
def _steps(p: InstallPlan) -> dict[str, list[str]]:
    return {s.name: s.requirements for s in p.steps}


def test_a100_on_535_relies_on_minor_compat_and_says_so() -> None:
    p = _plan("a100_driver535")
    assert p.variant is not None and p.variant.startswith("cu12")
    assert any("minor-version compatibility" in w for w in p.warnings)
    fa = p.chosen("flash-attn")
    series = ".".join((p.torch or "").split(".")[:2])
    assert fa and "cp310" in fa and "cxx11abiTRUE" in fa and f"torch{series}cxx11" in fa
    assert p.chosen("transformers") == "transformers>=5.20,<5.21"  # 5.21+ needs Python 3.11


def test_h100_on_580_full_compat_with_wheels() -> None:
    p = _plan("h100_driver580")
    assert not any("minor-version" in w for w in p.warnings)
    assert _steps(p)["xformers"] == ["xformers==0.0.35"]
    assert p.steps[1].index_url == f"https://download.pytorch.org/whl/{p.variant}"


def test_t4_gets_no_flash_attn_and_a_cuda_matched_bitsandbytes() -> None:
    p = _plan("t4_driver525")
    d = p.decision("flash-attn")
    assert d is not None and d.value is None and "sm_80" in d.reason and "sm_75" in d.reason
    assert "flash_attn" not in p.imports
    assert "loads cuda126" in (p.decision("bitsandbytes").reason if p.decision("bitsandbytes") else "")  # type: ignore[union-attr]


def test_pascal_on_new_driver_gets_cu126_not_cu13() -> None:
    p = _plan("gtx1080ti_new_driver")
    assert p.variant == "cu126"  # cu130/cu132 carry no sm_6x code; the driver alone would pick them
    assert p.torch == "2.14.1+cu126"


def test_blackwell_gets_cu128_or_newer() -> None:
    p = _plan("rtx5090")
    assert p.variant in ("cu128", "cu129", "cu130", "cu132")
    assert "sm_120" in (p.decision("variant").reason if p.decision("variant") else "")  # type: ignore[union-attr]


def test_cpu_laptop_uses_the_cpu_index_with_a_pinned_fallback() -> None:
    p = _plan("cpu_laptop")
    torch_step = p.steps[0]
    assert p.variant == "cpu" and torch_step.index_url == "https://download.pytorch.org/whl/cpu"
    assert torch_step.fallback_requirements == [f"torch=={p.torch}"]  # never a bare torch==X (a CUDA build)


def test_torch_2_1_box_keeps_torch_and_takes_xformers_from_torchs_cuda_index() -> None:
    """torch 2.1.0+cu118: PyPI's xformers 0.0.22.post7 is built for CUDA 12.1, but the release
    also went to the cu118 index (its wheels.yml), so no source build is needed."""
    p = _plan("torch210_box")
    assert p.keep_torch and p.torch == "2.1.0+cu118" and "torch" not in _steps(p)
    xf = next(s for s in p.steps if s.name == "xformers")
    assert xf.requirements == ["xformers==0.0.22.post7"]
    assert xf.index_url == "https://download.pytorch.org/whl/cu118" and not xf.needs
    assert "build-tools" not in _steps(p)


def test_without_a_wheel_for_torchs_cuda_xformers_is_built_at_the_pinned_commit() -> None:
    """The same box if 0.0.22.post7 had not reached the cu118 index: the matrix's git pin for
    torch 2.1.0, built against the installed torch for the detected GPUs."""
    m = load_matrix()
    pypi_only = tuple(replace(r, index_variants=()) for r in m.xformers.releases)
    m = replace(m, xformers=replace(m.xformers, releases=pypi_only))
    p = plan(Snapshot.load(HERE / "torch210_box.json"), m, from_options(with_=["xformers"]))
    assert p.keep_torch and p.torch == "2.1.0+cu118"
    xf = next(s for s in p.steps if s.name == "xformers")
    assert xf.requirements[0].startswith("xformers @ git+https://github.com/facebookresearch/xformers.git@")
    assert len(xf.requirements[0].rsplit("@", 1)[1]) == 40
    assert xf.env["TORCH_CUDA_ARCH_LIST"] == "8.6" and int(xf.env["MAX_JOBS"]) >= 1
    assert "--no-build-isolation" in xf.pip_args and [n.kind for n in xf.needs] == ["nvcc"]
    assert [s.name for s in p.steps].index("build-tools") < [s.name for s in p.steps].index("xformers")
    assert p.restore_index_urls == ["https://download.pytorch.org/whl/cu118"]


def test_windows_box_skips_flash_attn_and_uses_the_cuda_index() -> None:
    p = _plan("windows_box")
    assert p.variant is not None and p.variant.startswith("cu")
    assert p.steps[0].index_url == f"https://download.pytorch.org/whl/{p.variant}"
    d = p.decision("flash-attn")
    assert d is not None and d.value is None and "Windows" in d.reason


def test_plan_time_on_a_snapshot_is_under_0_2_s() -> None:
    snap = Snapshot.load(HERE / "h100_driver580.json")
    m = load_matrix()
    wants = from_options(with_=["xformers,flash-attn,bitsandbytes"])
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        plan(snap, m, wants)
        times.append(time.perf_counter() - t0)
    assert statistics.median(times) < 0.2


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_json_round_trips(name: str) -> None:
    p = _plan(name)
    assert InstallPlan.from_dict(json.loads(json.dumps(p.to_dict()))) == p
