"""After an install: ``loradoc doctor check --json`` in the target environment, then an import smoke test.

The check runs with the *target* interpreter, so it describes that environment.
When loradoc is not installed there, a throwaway folder on PYTHONPATH carries a
copy of loradoc and the three small packages it needs (click, packaging, PyYAML);
nothing is installed into the target for the check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources, util
from pathlib import Path
from typing import Any

from loradoc import __version__
from loradoc.doctor.install.env import Echo, Target
from loradoc.doctor.snapshot import Snapshot

CHECK_TIMEOUT_S = 300
SMOKE_TIMEOUT_S = 600
_SHIM_PACKAGES = ("click", "packaging", "yaml", "tomli")

_SMOKE = r"""
import importlib, json, sys
mods = sys.argv[1].split(",") if sys.argv[1] else []
want_gpu = sys.argv[2] == "gpu"
failed = 0
for name in mods:
    try:
        mod = importlib.import_module(name)
        print(json.dumps({"import": name, "ok": True, "version": getattr(mod, "__version__", None)}))
    except Exception as exc:
        failed += 1
        print(json.dumps({"import": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}))
if "torch" in mods and "torch" in sys.modules:
    import torch
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None)}
    try:
        dev = "cuda" if want_gpu else "cpu"
        if want_gpu and not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
        x = torch.ones(64, 64, device=dev)
        info["matmul"] = float((x @ x).sum().item())
        info["device"] = torch.cuda.get_device_name(0) if want_gpu else "cpu"
        info["ok"] = info["matmul"] == 64.0 * 64 * 64
    except Exception as exc:
        info["ok"] = False
        info["error"] = f"{type(exc).__name__}: {exc}"
    failed += 0 if info["ok"] else 1
    print(json.dumps(info))
sys.exit(1 if failed else 0)
"""


@dataclass
class Verification:
    check_rc: int
    check: dict[str, Any] | None  # the check's JSON report, when it printed one
    check_output: str
    smoke_rc: int
    smoke: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The check's exit code; a failed smoke test makes a clean check fail too."""
        if self.check_rc != 0:
            return self.check_rc
        return 0 if self.smoke_rc == 0 else 1


def verify(
    target: Target,
    imports: list[str],
    *,
    gpu: bool,
    echo: Echo,
    env: Mapping[str, str] | None = None,
    check_args: list[str] | None = None,
) -> Verification:
    """Run the doctor check and the smoke test in ``target``; print what they say."""
    base_env = dict(os.environ if env is None else env)
    with tempfile.TemporaryDirectory(prefix="loradoc-verify-") as tmp:
        check_env = dict(base_env)
        if not _has_our_loradoc(target, base_env):
            shim = _make_shim(Path(tmp))
            check_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(shim), base_env.get("PYTHONPATH", "")) if p
            )
        argv = [target.python, "-m", "loradoc", "doctor", "check", "--json", *(check_args or [])]
        echo("$ " + " ".join(argv))
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=check_env,
                timeout=CHECK_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
            check_rc, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            check_rc, out, err = 124, "", f"doctor check did not finish within {CHECK_TIMEOUT_S} s"
    report = _json_or_none(out)
    if report is None:
        echo((err or out).strip() or f"doctor check exited {check_rc}")
    smoke = _smoke(target, imports, gpu=gpu, env=base_env)
    return Verification(check_rc, report, out + err, smoke[0], smoke[1])


def _json_or_none(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _smoke(
    target: Target, imports: list[str], *, gpu: bool, env: Mapping[str, str]
) -> tuple[int, list[dict[str, Any]]]:
    argv = [target.python, "-c", _SMOKE, ",".join(imports), "gpu" if gpu else "cpu"]
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=SMOKE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return 124, [
            {"ok": False, "error": f"the import smoke test did not finish within {SMOKE_TIMEOUT_S} s"}
        ]
    lines = [_json_or_none(line) for line in proc.stdout.splitlines()]
    rows = [r for r in lines if r is not None]
    if proc.returncode != 0 and not rows:
        rows = [{"ok": False, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}]
    return proc.returncode, rows


def _has_our_loradoc(target: Target, env: Mapping[str, str]) -> bool:
    if target.is_self:
        return True
    code = "import loradoc, click, packaging, yaml; print(loradoc.__version__)"
    try:
        proc = subprocess.run(
            [target.python, "-c", code], capture_output=True, text=True, env=dict(env), timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() == __version__


def _make_shim(root: Path) -> Path:
    """A folder holding a copy of loradoc (with its matrix data) and its small dependencies."""
    shim = root / "site"
    shim.mkdir()
    import loradoc

    pkg = Path(loradoc.__file__).parent
    shutil.copytree(pkg, shim / "loradoc", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    data = shim / "loradoc" / "compat_data"
    if not data.exists():  # an install whose data lives elsewhere (a zip, another layout): copy it in
        data.mkdir()
        for item in resources.files("loradoc.compat_data").iterdir():
            if item.is_file() and not item.name.endswith(".pyc"):
                (data / item.name).write_bytes(item.read_bytes())
        (data / "__init__.py").touch()
    for name in _SHIM_PACKAGES:
        spec = util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        src = Path(list(spec.submodule_search_locations)[0])
        shutil.copytree(src, shim / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if not (shim / "tomli").exists():
        # loradoc reads TOML with tomllib (3.11+) or tomli; a 3.10 target without tomli gets
        # the copy its own pip vendors.
        (shim / "tomli").mkdir()
        (shim / "tomli" / "__init__.py").write_text(_TOMLI_FROM_PIP, encoding="utf-8")
    return shim


_TOMLI_FROM_PIP = "from pip._vendor.tomli import TOMLDecodeError, load, loads  # noqa: F401\n"


def probe_target(target: Target, env: Mapping[str, str] | None = None) -> Snapshot:
    """A Snapshot of the target environment: ``probe()`` run by the target interpreter."""
    from loradoc.doctor.probe.machine import probe
    from loradoc.errors import UserError

    if target.is_self:
        return probe()
    base_env = dict(os.environ if env is None else env)
    code = "import sys; from loradoc.doctor.probe.machine import probe; sys.stdout.write(probe().to_json())"
    with tempfile.TemporaryDirectory(prefix="loradoc-probe-") as tmp:
        run_env = dict(base_env)
        if not _has_our_loradoc(target, base_env):
            run_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_make_shim(Path(tmp))), base_env.get("PYTHONPATH", "")) if p
            )
        try:
            proc = subprocess.run(
                [target.python, "-c", code],
                capture_output=True,
                text=True,
                env=run_env,
                timeout=CHECK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise UserError(
                f"{target.python}: probing that environment took over {CHECK_TIMEOUT_S} s"
            ) from None
    data = _json_or_none(proc.stdout)
    if proc.returncode != 0 or data is None:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{target.python}: cannot probe that environment ({last})")
    return Snapshot.from_dict(data, source=f"probe of {target.python}")
