"""``loradoc doctor install`` killed at seeded moments, and two installs into one environment.

The real CLI installs into a real venv with real pip; the wheels are tiny ones from a local
folder (``PIP_NO_INDEX``), named and versioned like the stack this loradoc plans (torch
``X+cpu``, transformers, peft, accelerate, datasets, wandb and a few dependencies), so pip's
uninstall/install moves are the real ones and only the payload is small.

After every fault:

- SIGTERM (to the process group, pip included): the install puts back what was there before,
  so the environment equals the one before; no record of an install is left;
- SIGKILL: nothing can run; ``doctor install --restore`` (odd seeds) puts back what was there
  before from the record the install left, and the next plain install (every seed) ends with
  the same ``pip freeze --all`` and exit code as an uninterrupted install;
- two installs started together: one is refused with one line, the other ends like an
  uninterrupted install.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import harness
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doctor"))
from install_helpers import freeze, isolated_pip_env, make_venv, make_wheel  # noqa: E402

from loradoc.doctor.install.journal import JOURNAL_NAME  # noqa: E402


def _version(name: str, fallback: str) -> str:
    try:
        return metadata.version(name).split("+")[0]
    except metadata.PackageNotFoundError:
        return fallback


TORCH = _version("torch", "2.13.0")
# the stack as this machine has it, as tiny wheels (name, version, requires)
WHEELS = [
    ("torch", f"{TORCH}+cpu", ["filelock", "typing-extensions", "fsspec"]),
    ("filelock", "3.20.0", []),
    ("typing-extensions", "4.15.0", []),
    ("fsspec", "2025.9.0", []),
    ("transformers", _version("transformers", "5.25.0"), ["huggingface-hub", "safetensors", "tokenizers"]),
    ("huggingface-hub", "1.2.0", ["filelock", "fsspec"]),
    ("safetensors", "0.7.0", []),
    ("tokenizers", "0.22.1", []),
    ("peft", _version("peft", "0.21.2"), ["transformers"]),
    ("accelerate", _version("accelerate", "1.16.0"), []),
    ("datasets", _version("datasets", "4.4.0"), ["fsspec", "filelock"]),
    ("wandb", _version("wandb", "0.23.0"), []),
]
WORDS = ["doctor", "install", "--yes", "--cpu", "--torch", TORCH]


@dataclass
class InstallWorld:
    root: Path
    env: dict[str, str]
    template: Path  # a venv holding an older, different stack: the "before"
    before: list[str]
    after: list[str]  # pip freeze --all after an uninterrupted install
    rc: int | None
    seconds: float


def _words(python: Path) -> list[str]:
    return [*WORDS, "--python", str(python)]


def _copy_venv(world: InstallWorld, where: Path) -> Path:
    target = where / "env"
    subprocess.run(["cp", "-a", str(world.template), str(target)], check=True)
    return target / "bin" / "python"


@pytest.fixture(scope="module")
def install_world(tmp_path_factory: pytest.TempPathFactory) -> InstallWorld:
    root = tmp_path_factory.mktemp("install-faults")
    house = root / "wheels"
    for name, version, requires in WHEELS:
        make_wheel(house, name, version, requires)
    make_wheel(house, "accelerate", "0.1.0")  # the older one the environment starts with
    make_wheel(house, "leftover", "1.0")
    env = isolated_pip_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(house))
    template = root / "template"
    python = make_venv(template)
    subprocess.run(
        [str(python), "-m", "pip", "install", "accelerate==0.1.0", "leftover==1.0"],
        env=env,
        check=True,
        capture_output=True,
    )
    world = InstallWorld(root, env, template, freeze(python, env), [], None, 0.0)
    ref = harness.fresh(root / "reference")
    py = _copy_venv(world, ref)
    ran = harness.loradoc(_words(py), ref, timeout=600, extra_env=env)
    assert "installed: torch" in ran.stdout, ran.tail()
    world.after, world.rc, world.seconds = freeze(py, env), ran.rc, ran.seconds
    assert world.after != world.before and f"torch=={TORCH}+cpu" in world.after
    assert not (py.parent.parent / JOURNAL_NAME).exists()
    return world


def _point(world: InstallWorld, where: Path, sig: int, seed: int) -> harness.Outcome:
    when = random.Random(f"install-{seed}-{sig}").uniform(0.5, world.seconds * 0.95)
    py = _copy_venv(world, where)
    journal = py.parent.parent / JOURNAL_NAME
    fault = harness.loradoc(
        _words(py), where, trigger=lambda now: now >= when, sig=sig, timeout=600, extra_env=world.env
    )
    problems: list[str] = []
    recovery: list[harness.Ran] = []
    state = freeze(py, world.env)
    how = "plain"
    if sig == signal.SIGTERM:
        if state not in (world.before, world.after):
            problems.append("after SIGTERM the environment is neither the one before nor the installed one")
        if journal.exists():
            problems.append("SIGTERM left the record of an unfinished install")
        if fault.rc not in (world.rc, 128 + signal.SIGTERM, -signal.SIGTERM):
            problems.append(f"exit {fault.rc} after SIGTERM")
    elif seed % 2 and journal.exists():
        how = "--restore, then plain"
        back = harness.loradoc([*_words(py), "--restore"], where, timeout=600, extra_env=world.env)
        recovery.append(back)
        if back.rc != 0 or freeze(py, world.env) != world.before:
            problems.append("--restore did not put back the environment from before: " + back.tail(600))
        if journal.exists():
            problems.append("--restore left the record behind")
    again = harness.loradoc(_words(py), where, timeout=600, extra_env=world.env)
    recovery.append(again)
    if again.rc != world.rc:
        problems.append(
            f"the next install exited {again.rc}, an uninterrupted one {world.rc}: " + again.tail(600)
        )
    final = freeze(py, world.env)
    if final != world.after:
        extra, missing = sorted(set(final) - set(world.after)), sorted(set(world.after) - set(final))
        problems.append(
            f"after the next install the environment differs from an uninterrupted install's: +{extra} -{missing}"
        )
    if journal.exists():
        problems.append("the next install left the record of an unfinished install")
    return harness.Outcome(
        f"doctor install/{signal.Signals(sig).name}/{seed}", fault, recovery, how, problems
    )


QUICK = [(signal.SIGKILL, 1), (signal.SIGTERM, 2)]
FULL = [(sig, seed) for sig in (signal.SIGKILL, signal.SIGTERM) for seed in (3, 4, 5, 6)]


def _run(world: InstallWorld, tmp_path: Path, points: list[tuple[int, int]], title: str) -> None:
    outcomes = [_point(world, harness.fresh(tmp_path / f"i{i}"), *p) for i, p in enumerate(points)]
    print("\n" + harness.figure(outcomes, title))
    assert all(o.equal for o in outcomes), harness.figure(outcomes, title)


def test_a_killed_install_is_put_back(install_world: InstallWorld, tmp_path: Path) -> None:
    _run(install_world, tmp_path, QUICK, "doctor install quick")


@pytest.mark.slow
def test_doctor_install_interrupted_at_seeded_moments(install_world: InstallWorld, tmp_path: Path) -> None:
    _run(install_world, tmp_path, FULL, "doctor install faults")


def test_two_installs_into_one_environment_one_is_refused(
    install_world: InstallWorld, tmp_path: Path
) -> None:
    world = install_world
    py = _copy_venv(world, tmp_path)
    first_dir, second_dir = harness.fresh(tmp_path / "first"), harness.fresh(tmp_path / "second")
    argv = [sys.executable, "-m", "loradoc", *_words(py)]
    env = {**harness.cli_env(tmp_path / "home"), **world.env}
    with open(first_dir / "out.log", "w+") as log:
        first = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=first_dir)
        deadline = time.monotonic() + 300
        while "$ " not in (first_dir / "out.log").read_text() and first.poll() is None:
            assert time.monotonic() < deadline, "the first install never reached a pip step"
            time.sleep(0.05)
        second = harness.loradoc(_words(py), second_dir, timeout=600, extra_env=world.env)
        first.wait(timeout=600)
        log.seek(0)
        first_out = log.read()
    assert second.rc == 2, second.tail()
    refusal = [ln for ln in second.stderr.splitlines() if ln.startswith("error:")]
    assert len(refusal) == 1 and "another `loradoc doctor install`" in refusal[0], second.tail()
    assert "Traceback" not in second.stderr
    assert first.returncode == world.rc, first_out[-2000:]
    assert freeze(py, world.env) == world.after
