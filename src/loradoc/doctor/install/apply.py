"""Apply an InstallPlan: run its pip steps in order, and put everything back if one fails.

- One install per environment at a time (its lock); an install interrupted earlier is
  put back first.
- What is installed is recorded (``pip inspect``) before the first step, in memory and
  in the environment's journal, which outlives a SIGKILL.
- torch goes first, from its variant's index; every later step runs with torch
  pinned by a constraint file, so nothing can replace it.
- Before a step that names a remote wheel index, the index is asked once with a
  3 s timeout; when it does not answer, one line says so and the step falls back
  to pip's configured sources (or fails, when the plan allows no fallback).
- On any failed step, Ctrl-C, SIGTERM or SIGHUP, packages the run added are uninstalled and those it
  changed are reinstalled at their previous versions; the user is told what was
  restored and what could not be.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from loradoc.doctor.install.env import (
    Echo,
    Installed,
    RunResult,
    Target,
    index_unreachable,
    installed_set,
    run_streamed,
)
from loradoc.doctor.install.journal import EnvLock, hold_env_lock
from loradoc.doctor.install.live import INDEX_CHECK_TIMEOUT_S, find_missing
from loradoc.doctor.install.steps import InstallPlan, Need, PipStep
from loradoc.errors import UserError


class InstallFailed(UserError):
    """A step failed; ``restored`` says whether the environment is back as it was."""

    exit_code = 1

    def __init__(self, message: str, *, restored: bool, exit_code: int | None = None) -> None:
        super().__init__(message, exit_code=exit_code)
        self.restored = restored


@dataclass
class ApplyResult:
    ran: list[RunResult] = field(default_factory=list)
    fell_back: list[str] = field(default_factory=list)  # steps that used pip's configured sources
    torch: str | None = None  # the torch installed at the end


def apply(
    plan: InstallPlan,
    target: Target,
    *,
    echo: Echo,
    env: Mapping[str, str] | None = None,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
    command: str = "loradoc doctor install",
    lock: EnvLock | None = None,
    confirmed: bool = False,
) -> ApplyResult:
    """Run the plan's steps in ``target``. Raises InstallFailed (after restoring) when a step fails
    or the run is interrupted (Ctrl-C, SIGTERM, SIGHUP).

    The environment's install lock is held throughout (``lock``, when the caller holds it already;
    a second install is refused), an install interrupted earlier must have been put back
    (:func:`put_back_interrupted`) before the plan was made, and what is installed is recorded before the first
    step so that even a SIGKILL leaves a way back (:mod:`journal`). ``confirmed``: the caller has
    already asked the indexes whether every requirement exists (:mod:`live`)."""
    base_env = dict(os.environ if env is None else env)
    index_urls = [u for u in [*(s.index_url for s in plan.steps), *plan.restore_index_urls] if u]
    with contextlib.ExitStack() as stack:
        if lock is None:
            lock = stack.enter_context(hold_env_lock(target))
        stack.enter_context(signals_raise())
        return _apply_locked(
            plan, target, lock, base_env, echo, index_urls, index_timeout, command, confirmed
        )


def _apply_locked(
    plan: InstallPlan,
    target: Target,
    lock: EnvLock,
    base_env: dict[str, str],
    echo: Echo,
    index_urls: list[str],
    index_timeout: float,
    command: str,
    confirmed: bool,
) -> ApplyResult:
    fds = [lock.fd] if lock.fd is not None else []
    earlier = lock.interrupted()
    if earlier is not None:
        raise UserError(
            f"an earlier install into {target.prefix} was interrupted; the plan may not fit what it "
            "left: run `loradoc doctor install --restore`, then plan again"
        )
    reach: dict[str, str | None] = {}  # index URL -> why it cannot be reached (None: it answers)
    if not confirmed:
        confirm_available(plan, target, env=base_env, echo=echo, index_timeout=index_timeout, reach=reach)
    before = installed_set(target, base_env)

    def fail(why: str, exit_code: int | None = None) -> NoReturn:
        echo(f"error: {why}")
        echo("restoring the environment to what it was before the install ...")
        problems = restore(
            target,
            before,
            env=base_env,
            echo=echo,
            index_urls=index_urls,
            index_timeout=index_timeout,
            pass_fds=fds,
        )
        if problems:
            raise InstallFailed(
                f"{why}; the environment could NOT be fully restored: {'; '.join(problems)}; "
                "`loradoc doctor install --restore` tries again",
                restored=False,
                exit_code=exit_code,
            )
        lock.clear()
        raise InstallFailed(
            f"{why}; the environment was restored to what it was before",
            restored=True,
            exit_code=exit_code,
        )

    lock.record(before, index_urls, command)
    try:
        result = _run_steps(plan, target, before, base_env, echo, index_timeout, fds, fail, reach)
    except KeyboardInterrupt:
        fail("interrupted by Ctrl-C", exit_code=128 + signal.SIGINT)
    except Stopped as exc:
        fail(f"interrupted by {exc.name}", exit_code=128 + exc.signum)
    lock.clear()
    return result


def _run_steps(
    plan: InstallPlan,
    target: Target,
    before: dict[str, Installed],
    base_env: dict[str, str],
    echo: Echo,
    index_timeout: float,
    fds: list[int],
    fail: Callable[[str], NoReturn],
    reach: dict[str, str | None],
) -> ApplyResult:
    result = ApplyResult()
    with tempfile.TemporaryDirectory(prefix="loradoc-install-") as tmp:
        constraint = Path(tmp) / "torch-constraint.txt"
        torch_before = before.get("torch")
        if torch_before is not None:
            constraint.write_text(f"torch=={torch_before.version}\n", encoding="utf-8")
        for step in plan.steps:
            problem = _unmet_need(step, base_env)
            if problem:
                fail(f"step {step.name}: {problem}")
            fallback = False
            if step.index_url:
                if step.index_url not in reach:
                    reach[step.index_url] = index_unreachable(
                        step.index_url, step_project(step), timeout=index_timeout
                    )
                why = reach[step.index_url]
                if why is not None:
                    if step.fallback_requirements is None:
                        fail(
                            f"step {step.name}: {step.index_url} cannot be reached ({why}), and pip's "
                            "configured sources do not have the build this plan needs"
                        )
                    note = f"; {step.fallback_note}" if step.fallback_note else ""
                    echo(f"{step.index_url} cannot be reached ({why}); using pip's configured sources{note}")
                    fallback = True
                    result.fell_back.append(step.name)
            pinned = (
                str(constraint) if step.pin_torch and step.name != "torch" and constraint.exists() else None
            )
            echo("$ " + step.shell(target.python, constraint=pinned, fallback=fallback))
            ran = run_streamed(
                step.argv(target.python, constraint=pinned, fallback=fallback),
                env={**base_env, **step.env},
                echo=echo,
                pass_fds=fds,
            )
            result.ran.append(ran)
            if not ran.ok:
                fail(f"step {step.name} failed: {ran.last_error()}")
            if step.name == "torch":
                now = installed_set(target, base_env).get("torch")
                if now is None:
                    fail("step torch: pip finished but torch is not installed")
                constraint.write_text(f"torch=={now.version}\n", encoding="utf-8")
        torch_after = installed_set(target, base_env).get("torch")
        result.torch = torch_after.version if torch_after else None
        if plan.keep_torch and torch_before and result.torch != torch_before.version:
            fail(f"torch changed from {torch_before.version} to {result.torch} although the plan keeps it")
    return result


def confirm_available(
    plan: InstallPlan,
    target: Target,
    *,
    env: Mapping[str, str],
    echo: Echo,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
    reach: dict[str, str | None] | None = None,
) -> None:
    """Before anything is touched, ask pip whether every requirement the plan names exists for
    the target's Python and platform on the index its step uses (:func:`live.find_missing`: one
    ``pip install --dry-run --no-deps`` per index, run by the target interpreter), so nothing is
    installed on a guess. Raises UserError naming the step."""
    missing = find_missing(
        plan, target, env=env, echo=echo, index_timeout=index_timeout, reach=reach, say_unreachable=False
    )
    if missing is not None:
        raise missing.error()


def put_back_interrupted(
    lock: EnvLock,
    target: Target,
    *,
    env: Mapping[str, str],
    echo: Echo,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
) -> bool:
    """When an earlier install into this environment was interrupted, put back what was installed
    before it. Returns whether there was one; raises UserError when it cannot all be put back."""
    earlier = lock.interrupted()
    if earlier is None:
        return False
    echo(
        f"an earlier install into {target.prefix} was interrupted ({earlier.command}, started "
        f"{earlier.started}); putting back what was installed before it ..."
    )
    problems = restore(
        target,
        earlier.before,
        env=env,
        echo=echo,
        index_urls=earlier.index_urls,
        index_timeout=index_timeout,
        pass_fds=[lock.fd] if lock.fd is not None else [],
    )
    if problems:
        raise UserError(
            f"{target.prefix}: the environment from before an interrupted install could not be put back: "
            f"{'; '.join(problems)}; fix these by hand, then delete {earlier.path}"
        )
    lock.clear()
    return True


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived during an install (an exception, so the rollback runs)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into :class:`Stopped` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.signal(s, _raise) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def step_project(step: PipStep) -> str:
    """The project a step's index is asked about (its first plain requirement)."""
    from packaging.requirements import InvalidRequirement, Requirement

    for line in step.requirements:
        try:
            return Requirement(line).name
        except InvalidRequirement:
            continue
    return step.name


def _unmet_need(step: PipStep, env: Mapping[str, str]) -> str | None:
    for need in step.needs:
        if need.kind == "nvcc":
            problem = _check_nvcc(need, env)
            if problem:
                return problem
    return None


def _check_nvcc(need: Need, env: Mapping[str, str]) -> str | None:
    import re

    cuda_home = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    search = [str(Path(cuda_home) / "bin")] if cuda_home else []
    search += [p for p in (env.get("PATH") or "").split(os.pathsep) if p]
    nvcc = shutil.which("nvcc", path=os.pathsep.join(search))
    if nvcc is None:
        return f"needs nvcc {need.value}.x ({need.reason}); install the CUDA {need.value} toolkit or set CUDA_HOME"
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{nvcc} --version failed ({exc})"
    m = re.search(r"release (\d+)\.(\d+)", out)
    if not m:
        return f"cannot read the version from `{nvcc} --version`"
    if m.group(1) != need.value.split(".")[0]:
        return (
            f"needs nvcc {need.value}.x ({need.reason}) but {nvcc} is {m.group(1)}.{m.group(2)}; "
            f"point CUDA_HOME at a CUDA {need.value} toolkit"
        )
    return None


# -- restore ------------------------------------------------------------------------------------
def restore(
    target: Target,
    before: dict[str, Installed],
    *,
    env: Mapping[str, str],
    echo: Echo,
    index_urls: list[str] | None = None,
    index_timeout: float = INDEX_CHECK_TIMEOUT_S,
    pass_fds: Sequence[int] = (),
) -> list[str]:
    """Put the installed set back to ``before``. Returns what could not be restored (empty: all)."""
    now = installed_set(target, env)
    added = sorted(n for n in now if n not in before)
    changed = sorted(n for n, d in before.items() if n not in now or now[n].version != d.version)
    if added:
        echo("uninstalling what was added: " + ", ".join(added))
        run_streamed(
            [target.python, "-m", "pip", "uninstall", "-y", *added], env=env, echo=None, pass_fds=pass_fds
        )
    if changed:
        specs = [before[n].spec for n in changed]
        echo("reinstalling previous versions: " + ", ".join(s.removeprefix("-e ") for s in specs))
        argv = [target.python, "-m", "pip", "install", "--no-input", "--no-deps"]
        if any("+" in before[n].version for n in changed):
            argv += _restore_indexes(index_urls or [], index_timeout)
        for spec in specs:
            argv += spec.split(" ", 1) if spec.startswith("-e ") else [spec]
        run_streamed(argv, env=env, echo=None, pass_fds=pass_fds)
    final = installed_set(target, env)
    problems = [f"{n} {final[n].version} is still installed" for n in sorted(final) if n not in before]
    for n, d in sorted(before.items()):
        if n not in final:
            problems.append(f"{n} {d.version} is missing ({d.spec})")
        elif final[n].version != d.version:
            problems.append(f"{n} is {final[n].version}, was {d.version} ({d.spec})")
    if not problems:
        echo("environment restored: the installed set is the same as before")
    return problems


def _restore_indexes(urls: list[str], timeout: float) -> list[str]:
    """Extra indexes for putting back PyTorch-index builds (``+cu121``): only those that answer."""
    out: list[str] = []
    for url in dict.fromkeys(urls):
        if index_unreachable(url, "torch", timeout=timeout) is None:
            out += ["--extra-index-url", url]
    if out:
        out = ["--timeout", "15", "--retries", "0", *out]
    return out
