"""apply(): real pip in a real venv against a local folder of tiny wheels.

- a failed step puts the environment back exactly as it was (added packages
  uninstalled, changed ones reinstalled at their old versions);
- after the torch step, torch is pinned: a later step that would replace it fails
  (and is rolled back) instead of quietly swapping the build;
- an index that cannot be reached costs one line and a few seconds, then the
  step falls back to pip's configured sources.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from install_helpers import freeze, isolated_pip_env, make_index, make_venv, make_wheel

from loradoc.doctor.install.apply import InstallFailed, apply
from loradoc.doctor.install.env import index_unreachable, inspect_target, installed_set
from loradoc.doctor.install.journal import JOURNAL_NAME, hold_env_lock, state_dir
from loradoc.doctor.install.steps import InstallPlan, PipStep
from loradoc.errors import UserError


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("wheels")
    make_wheel(d, "alpha", "1.0")
    make_wheel(d, "alpha", "2.0", ["beta>=1"])
    make_wheel(d, "beta", "1.0")
    make_wheel(d, "torch", "1.0+cpu")  # a stand-in: a pure-Python package named torch
    make_wheel(d, "torch", "2.0")
    make_wheel(d, "gamma", "1.0", ["torch>=2"])
    make_wheel(d, "delta", "1.0", ["no-such-dependency>=1"])  # exists; its dependency does not
    return d


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("venv") / "env")


def _env(wheelhouse: Path) -> dict[str, str]:
    return isolated_pip_env(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))


def _reset(venv: Path, env: dict[str, str]) -> None:
    import subprocess

    target = inspect_target(str(venv))
    extra = sorted(set(installed_set(target, env)) - {"pip", "setuptools"})
    if extra:
        subprocess.run(
            [str(venv), "-m", "pip", "uninstall", "-y", *extra], env=env, check=True, capture_output=True
        )


@pytest.mark.slow
def test_failed_step_restores_added_and_changed_packages(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    import subprocess

    subprocess.run(
        [str(venv), "-m", "pip", "install", "alpha==1.0"], env=env, check=True, capture_output=True
    )
    before = freeze(venv, env)
    assert "alpha==1.0" in before
    plan = InstallPlan(
        steps=[
            PipStep("stack", ["alpha==2.0"], "upgrades alpha and adds beta"),
            PipStep("extensions", ["delta==1.0"], "made to fail: its dependency is in no index"),
        ]
    )
    lines: list[str] = []
    with pytest.raises(InstallFailed) as err:
        apply(plan, inspect_target(str(venv)), echo=lines.append, env=env)
    assert err.value.restored
    assert "step extensions failed" in err.value.message and "restored" in err.value.message
    assert any("uninstalling what was added: beta" in ln for ln in lines)
    assert any("reinstalling previous versions: alpha==1.0" in ln for ln in lines)
    assert freeze(venv, env) == before


@pytest.mark.slow
def test_torch_is_pinned_after_its_step(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    before = freeze(venv, env)
    plan = InstallPlan(
        torch="1.0+cpu",
        steps=[
            PipStep("torch", ["torch==1.0+cpu"], "the chosen build"),
            # gamma needs torch>=2; without the constraint pip would replace torch 1.0+cpu with 2.0
            PipStep("stack", ["gamma"], "a dependent that wants another torch"),
        ],
    )
    lines: list[str] = []
    with pytest.raises(InstallFailed) as err:
        apply(plan, inspect_target(str(venv)), echo=lines.append, env=env)
    assert err.value.restored
    shown = [ln for ln in lines if ln.startswith("$ ") and "gamma" in ln]
    assert shown and " -c " in shown[0]  # the constraint file is on the command line
    assert freeze(venv, env) == before  # torch, added by the run, is gone again


@pytest.mark.slow
def test_successful_steps_leave_torch_in_place(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    plan = InstallPlan(
        torch="1.0+cpu",
        steps=[PipStep("torch", ["torch==1.0+cpu"], "the chosen build"), PipStep("stack", ["alpha"], "rest")],
    )
    result = apply(plan, inspect_target(str(venv)), echo=lambda _: None, env=env)
    assert result.torch == "1.0+cpu"
    assert {"torch==1.0+cpu", "alpha==2.0", "beta==1.0"} <= set(freeze(venv, env))


class _SilentServer:
    """Accepts connections and never answers: the index that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


def test_index_check_gives_up_on_a_silent_server_within_its_timeout() -> None:
    server = _SilentServer()
    try:
        t0 = time.monotonic()
        why = index_unreachable(f"http://127.0.0.1:{server.port}/whl/cpu", "torch", timeout=1.0)
        elapsed = time.monotonic() - t0
    finally:
        server.close()
    assert why is not None and ("timed out" in why or "within" in why), why
    assert elapsed < 3.0


def test_index_check_reports_a_name_that_does_not_resolve() -> None:
    t0 = time.monotonic()
    why = index_unreachable("https://index.invalid/whl/cu124", "torch", timeout=3.0)
    assert why is not None
    assert time.monotonic() - t0 < 4.0


def test_index_check_on_local_index(tmp_path: Path) -> None:
    url = make_index(tmp_path, [make_wheel(tmp_path / "w", "alpha", "1.0")])
    assert index_unreachable(url, "alpha") is None
    assert index_unreachable((tmp_path / "nope").as_uri(), "alpha") is not None


@pytest.mark.slow
def test_unreachable_index_falls_back_to_configured_sources(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    server = _SilentServer()
    plan = InstallPlan(
        torch="1.0+cpu",
        steps=[
            PipStep(
                "torch",
                ["torch==1.0+cpu"],
                "the chosen build",
                index_url=f"http://127.0.0.1:{server.port}/whl/cpu",
                fallback_requirements=["torch==1.0+cpu"],
            )
        ],
    )
    lines: list[str] = []
    t0 = time.monotonic()
    try:
        result = apply(plan, inspect_target(str(venv)), echo=lines.append, env=env, index_timeout=1.0)
    finally:
        server.close()
    notices = [ln for ln in lines if "cannot be reached" in ln]
    assert len(notices) == 1 and "using pip's configured sources" in notices[0]
    assert result.fell_back == ["torch"] and result.torch == "1.0+cpu"
    assert time.monotonic() - t0 < 60


@pytest.mark.slow
def test_unreachable_index_without_fallback_fails_and_changes_nothing(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    before = freeze(venv, env)
    plan = InstallPlan(
        steps=[
            PipStep(
                "torch", ["torch==1.0+cu126"], "a CUDA build", index_url="https://index.invalid/whl/cu126"
            )
        ]
    )
    with pytest.raises(InstallFailed) as err:
        apply(plan, inspect_target(str(venv)), echo=lambda _: None, env=env)
    assert "cannot be reached" in err.value.message and err.value.restored
    assert freeze(venv, env) == before


NVCC_12_4 = """#!/bin/sh
echo "nvcc: NVIDIA (R) Cuda compiler driver"
echo "Copyright (c) 2005-2024 NVIDIA Corporation"
echo "Built on Thu_Mar_28_02:18:24_PDT_2024"
echo "Cuda compilation tools, release 12.4, V12.4.131"
echo "Build cuda_12.4.r12.4/compiler.34097967_0"
"""


@pytest.mark.slow
def test_a_source_build_stops_on_the_wrong_nvcc_before_pip_runs(
    venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    from loradoc.doctor.install.steps import Need

    env = _env(wheelhouse)
    _reset(venv, env)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvcc").write_text(NVCC_12_4)
    (bindir / "nvcc").chmod(0o755)
    env["PATH"] = f"{bindir}:/usr/bin:/bin"
    env.pop("CUDA_HOME", None)
    before = freeze(venv, env)
    plan = InstallPlan(
        steps=[
            PipStep("stack", ["alpha==1.0"], "installs fine"),
            PipStep("xformers", ["beta"], "a build", needs=[Need("nvcc", "13", "torch is a CUDA 13 build")]),
        ]
    )
    lines: list[str] = []
    with pytest.raises(InstallFailed) as err:
        apply(plan, inspect_target(str(venv)), echo=lines.append, env=env)
    assert "needs nvcc 13.x" in err.value.message and "is 12.4" in err.value.message and err.value.restored
    assert not any(ln.startswith("$ ") and "beta" in ln for ln in lines)  # pip never ran for it
    assert freeze(venv, env) == before


# -- the lock and the record of an interrupted install ------------------------------------------
def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "install", *args], env=env, capture_output=True, text=True
    )


@pytest.mark.slow
def test_an_install_while_another_holds_the_lock_is_refused(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    target = inspect_target(str(venv))
    before = freeze(venv, env)
    plan = InstallPlan(steps=[PipStep("stack", ["alpha"], "rest")])
    with hold_env_lock(target), pytest.raises(UserError) as err:
        apply(plan, target, echo=lambda _: None, env=env)
    assert "another `loradoc doctor install`" in err.value.message
    assert freeze(venv, env) == before


@pytest.mark.slow
def test_a_record_left_by_a_killed_install_is_put_back_by_restore(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    target = inspect_target(str(venv))
    before = freeze(venv, env)
    with hold_env_lock(target) as held:  # what a SIGKILLed install leaves: its record, half its changes
        held.record(installed_set(target, env), [], "loradoc doctor install --with alpha")
    subprocess.run(
        [str(venv), "-m", "pip", "install", "alpha==2.0"], env=env, check=True, capture_output=True
    )
    # a plan made before putting back would not fit: apply refuses it
    with pytest.raises(UserError) as err:
        apply(InstallPlan(steps=[PipStep("stack", ["beta"], "rest")]), target, echo=lambda _: None, env=env)
    assert "was interrupted" in err.value.message and "--restore" in err.value.message
    proc = _cli("--restore", "--python", str(venv), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "was interrupted (loradoc doctor install --with alpha" in proc.stdout
    assert "environment restored" in proc.stdout
    assert freeze(venv, env) == before
    assert not (state_dir(target) / JOURNAL_NAME).exists()
    again = _cli("--restore", "--python", str(venv), env=env)
    assert again.returncode == 0 and "nothing to restore" in again.stdout


@pytest.mark.slow
def test_a_damaged_record_is_one_line(venv: Path, wheelhouse: Path) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    target = inspect_target(str(venv))
    record = state_dir(target) / JOURNAL_NAME
    record.write_text('{"before": ', encoding="utf-8")
    try:
        proc = _cli("--restore", "--python", str(venv), env=env)
        assert proc.returncode == 2
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert str(record) in proc.stderr and "damaged" in proc.stderr
    finally:
        record.unlink()


def test_restore_takes_no_plan_options() -> None:
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "install", "--restore", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "--restore puts an environment back" in proc.stderr


@pytest.mark.slow
def test_a_requirement_that_does_not_exist_stops_before_anything_is_installed(
    venv: Path, wheelhouse: Path
) -> None:
    env = _env(wheelhouse)
    _reset(venv, env)
    before = freeze(venv, env)
    plan = InstallPlan(
        steps=[
            PipStep("stack", ["alpha==2.0"], "exists"),
            PipStep("extensions", ["alpha==9.9"], "no such version"),
        ]
    )
    lines: list[str] = []
    with pytest.raises(UserError) as err:
        apply(plan, inspect_target(str(venv)), echo=lines.append, env=env)
    assert not isinstance(err.value, InstallFailed)  # nothing to restore: nothing ran
    assert err.value.message.startswith("step extensions: ")
    assert "alpha==9.9" in err.value.message and "before anything was installed" in err.value.message
    assert not any(ln.startswith("$ ") for ln in lines)
    assert freeze(venv, env) == before
    assert not (state_dir(inspect_target(str(venv))) / JOURNAL_NAME).exists()
