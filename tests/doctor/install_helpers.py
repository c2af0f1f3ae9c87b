"""Real artefacts for the install and lock tests: tiny wheels, a local index, a fresh venv.

Wheels are written as the zip files pip installs (METADATA, WHEEL, RECORD);
the local index follows PEP 503 with ``#sha256=`` links, like a real one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path


def make_wheel(folder: Path, name: str, version: str, requires: list[str] | None = None) -> Path:
    """Write ``{name}-{version}-py3-none-any.whl`` holding a module ``name`` with ``__version__``."""
    folder.mkdir(parents=True, exist_ok=True)
    mod = name.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires or []]
    files = {
        f"{mod}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}/METADATA": "\n".join(meta) + "\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: loradoc-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        data = text.encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    out = folder / f"{mod}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 simple index under ``root`` linking to ``wheels``; returns its file:// URL."""
    simple = root / "simple"
    by_project: dict[str, list[Path]] = {}
    for whl in wheels:
        project = whl.name.split("-")[0].replace("_", "-").lower()
        by_project.setdefault(project, []).append(whl)
    for project, items in by_project.items():
        page = simple / project
        page.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{w.resolve().as_uri()}#sha256={sha256(w)}">{w.name}</a>\n' for w in items)
        (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    (simple / "index.html").write_text(
        "<!DOCTYPE html><html><body>\n"
        + "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(by_project))
        + "</body></html>\n"
    )
    return simple.resolve().as_uri()


def isolated_pip_env(**pip: str) -> dict[str, str]:
    """This process's environment without pip's configuration, plus the given PIP_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env["PIP_CONFIG_FILE"] = os.devnull  # no /etc/pip.conf, no user config: only what the test says
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(pip)
    return env


def make_venv(path: Path) -> Path:
    """A fresh virtual environment (never --system-site-packages); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, capture_output=True)
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def freeze(python: Path, env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "freeze", "--all"], env=env, capture_output=True, text=True, check=True
    ).stdout
    return sorted(line for line in out.splitlines() if line.strip())
