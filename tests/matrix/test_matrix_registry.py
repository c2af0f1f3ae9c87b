"""The pip-backed registry: targets, parsing, the cache, the download watchdog, the judges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeindex import make_index, make_wheel

from loradoc.upkeep import pip_run
from loradoc.upkeep import registry as reg
from loradoc.upkeep.checklist import known_newest, range_ends
from loradoc.upkeep.checks import torch_default_variant
from loradoc.upkeep.registry import FOUND, NOT_FOUND, Index, Registry, Release, Target
from loradoc.upkeep.verify import spec_includes, spec_text, specs_equal


def test_target_widens_manylinux_but_not_when_exact() -> None:
    tags = Target("3.11", "manylinux_2_28_x86_64").platforms()
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    assert Target("3.11", "manylinux_2_28_aarch64", exact=True).platforms() == ["manylinux_2_28_aarch64"]
    assert Target("3.11", "win_amd64").platforms() == ["win_amd64"]
    ft = Target.for_python("3.13t")
    assert (ft.python, ft.abi, ft.label) == ("3.13", "cp313t", "3.13t")


def test_requirements_follow_markers_and_extras() -> None:
    rel = Release(
        "transformers",
        "5.24.0",
        requires_dist=(
            "numpy>=1.17",
            'torch>=2.6; extra == "torch"',
            'nvidia-cuda-runtime-cu12==12.8.90; platform_system == "Linux"',
            'pywin32; sys_platform == "win32"',
        ),
    )
    linux = Target("3.12")
    assert rel.requirement_for("torch", linux) is None
    assert str(rel.requirement_for("torch", linux, extra="torch").specifier) == ">=2.6"
    assert rel.requirement_for("pywin32", linux) is None
    assert rel.requirement_for("pywin32", Target("3.12", "win_amd64")) is not None
    assert rel.requirement_for("nvidia_cuda_runtime_cu12", linux) is not None  # canonical names


def test_torch_default_variant_from_requirements() -> None:
    linux = Target("3.11")
    cu117 = Release(
        "torch",
        "2.0.1",
        requires_dist=(
            'nvidia-cuda-runtime-cu11 (==11.7.99) ; platform_system == "Linux" and platform_machine == "x86_64"',
        ),
    )
    cu130 = Release(
        "torch", "2.14.1", requires_dist=('cuda-toolkit[cudart,nvrtc]==13.0.3; platform_system == "Linux"',)
    )
    cpu = Release("torch", "2.14.1+cpu", requires_dist=("filelock", "sympy>=1.13.3"))
    assert torch_default_variant(cu117, linux)[0] == "cu117"
    assert torch_default_variant(cu130, linux) == ("cu130", "cuda-toolkit==13.0.3")
    assert torch_default_variant(cpu, linux)[0] == "cpu"
    assert torch_default_variant(cu117, Target("3.11", "win_amd64"))[0] == "cpu"  # markers say Linux only


def test_specifier_spelling_and_comparison() -> None:
    from packaging.specifiers import SpecifierSet

    assert spec_text("<3,>=2.3") == ">=2.3,<3"
    assert spec_text("") == "(any)" and spec_text(None) == "(none)"
    assert specs_equal(">=2.3,<3", SpecifierSet("<3,>=2.3"))
    assert specs_equal("==2.9.1", SpecifierSet("==2.9.1"))
    assert not specs_equal("==2.9.1", SpecifierSet("==2.9.0"))
    assert specs_equal("", SpecifierSet(""))  # unversioned requirement
    assert not specs_equal("", None) and specs_equal(None, None)  # declared vs not declared
    assert spec_includes(SpecifierSet(">=1.3.0,<2.0"), ">=1.3")
    assert not spec_includes(SpecifierSet(">=1.3.0,<2.0"), ">=1.4")


def test_range_ends() -> None:
    listed = ["5.0.0", "5.1.0", "5.1.1rc1", "5.14.1", "5.15.0", "4.57.6"]
    assert range_ends(">=5.1,<5.15", listed) == ["5.1.0", "5.14.1"]
    assert range_ends("<5.1", listed) == ["5.0.0"]  # no lower bound: only the newest
    assert range_ends("==9.9", listed) == []


def test_known_newest_reads_versions_bounds_and_notes(small_matrix: object) -> None:
    newest = known_newest(small_matrix)  # type: ignore[arg-type]
    assert newest["torch"] == "2.9.1"
    assert newest["xformers"] == "0.0.34"
    assert newest["transformers"] == "5.24.0"  # from the note "newest known 5.24.0" (not the bound <5.25)
    assert newest["bitsandbytes"] == "0.48.2"


def test_versions_output_json_and_text() -> None:
    assert reg._parse_versions_output('{"name": "x", "versions": ["2.0", "1.0"]}') == ("2.0", "1.0")
    assert reg._parse_versions_output("x (2.0)\nAvailable versions: 2.0, 1.0\n") == ("2.0", "1.0")
    assert reg._parse_versions_output("nonsense") is None


def test_unreachable_is_read_from_pip_log() -> None:
    log = (
        "2026-11-28T21:59:13 Could not fetch URL https://download.pytorch.org/whl/cu128/torch/: connection "
        "error: Failed to resolve IP address for 'download.pytorch.org' - skipping\n"
    )
    assert "download.pytorch.org" in pip_run.unreachable_reason(log)
    assert (
        pip_run.unreachable_reason("Could not fetch URL https://x/simple/y/: 404 Client Error - skipping")
        == ""
    )


def test_watchdog_stops_a_large_download(tmp_path: Path) -> None:
    log = tmp_path / "pip.log"
    log.write_text(
        "2026 Collecting torch==2.0.0\n2026   Downloading torch-2.0.0-cp311-cp311-manylinux1_x86_64.whl (619.9 MB)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    start = time.monotonic()
    rc = pip_run.watch(proc, log, time.monotonic() + 60)
    assert rc == pip_run.STOPPED_DOWNLOAD and time.monotonic() - start < 10
    assert "620 MB" in pip_run.too_big_reason(log.read_text())


def test_watchdog_lets_small_downloads_finish(tmp_path: Path) -> None:
    log = tmp_path / "pip.log"
    log.write_text("Downloading numpy-2.0-cp311-cp311-manylinux_2_28_x86_64.whl (16.2 MB)\n")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert pip_run.watch(proc, log, time.monotonic() + 60) == 0


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("tiny-index")
    files = [
        make_wheel(root / "f", "alpha", "1.0", requires=["beta>=1"], requires_python=">=3.9"),
        make_wheel(root / "f", "alpha", "2.0", requires=["beta>=2"], requires_python=">=3.12"),
    ]
    return make_index(root, files)


@pytest.mark.slow
def test_lookup_and_versions_through_real_pip(tiny_index: str, tmp_path: Path) -> None:
    r = Registry(index=Index(tiny_index), cache_dir=tmp_path)
    found = r.lookup("alpha==1.0", Target("3.11"))
    assert found.status == FOUND and found.release is not None
    assert found.release.requires_dist == ("beta>=1",) and found.release.requires_python == ">=3.9"
    assert found.release.filename == "alpha-1.0-py3-none-any.whl"
    missing = r.lookup("alpha==2.0", Target("3.11"))  # Requires-Python >=3.12
    assert missing.status == NOT_FOUND and "1.0" in missing.available
    listed = r.versions("alpha", Target("3.12"))
    assert listed.status == FOUND and listed.versions == ("2.0", "1.0")
    calls = r.calls
    assert r.lookup("alpha==1.0", Target("3.11")).cached  # from the disk cache
    assert r.calls == calls


def test_cache_expires_after_a_day(tmp_path: Path) -> None:
    r = Registry(index=Index("file:///nowhere"), cache_dir=tmp_path)
    key = r._key("lookup", "alpha==1.0", Target())
    r._cache_put(key, {"x": 1})
    assert r._cache_get(key) == {"x": 1}
    path = tmp_path / f"{key}.json"
    data = json.loads(path.read_text())
    data["created"] -= reg.CACHE_MAX_AGE_S + 1
    path.write_text(json.dumps(data))
    assert r._cache_get(key) is None


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LORADOC_CACHE_DIR", str(tmp_path))
    assert reg.default_cache_dir() == tmp_path / "registry"
    monkeypatch.delenv("LORADOC_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert reg.default_cache_dir() == tmp_path / "xdg" / "loradoc" / "registry"


def test_pip_runs_without_local_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A site pip.conf with a constraint file must not change the registry's answers."""
    conf = tmp_path / "pip.conf"
    cons = tmp_path / "constraints.txt"
    cons.write_text("alpha<1\n")
    conf.write_text(f"[global]\nconstraint = {cons}\nindex-url = file:///nowhere\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("PIP_CONSTRAINT", str(cons))
    r = Registry(index=Index("file:///nowhere/simple"), cache_dir=tmp_path / "c")
    rc, _out, err, _log = r._pip(["config", "list"])
    assert rc == 0 and "constraint" not in _out and "index-url" not in _out, (_out, err)
    assert os.environ["PIP_CONFIG_FILE"] == str(conf)  # the caller's environment is untouched
