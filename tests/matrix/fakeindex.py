"""A local package index for the matrix tests: real wheels with real METADATA, served as a
PEP 503 simple index over ``file://``, so pip answers exactly as it does against PyPI.

The wheels are tiny (one module, the dist-info), but their names, tags,
``Requires-Dist`` and ``Requires-Python`` lines are what the real releases
declare, so pip's tag matching and the report's metadata are the real thing.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    tags: str = "py3-none-any",
) -> Path:
    """Write ``{name}-{version}-{tags}.whl`` with METADATA, WHEEL and RECORD."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    meta = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        meta.append(f"Requires-Python: {requires_python}")
    meta += [f"Requires-Dist: {r}" for r in requires]
    files = {
        f"{dist}/__init__.py": b"",
        f"{info}/METADATA": ("\n".join(meta) + "\n").encode(),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: loradoc-tests\nRoot-Is-Purelib: "
            f"{'true' if tags.endswith('none-any') else 'false'}\n"
            + "".join(f"Tag: {t}\n" for t in _expand(tags))
        ).encode(),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    record += f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    path = folder / f"{dist}-{version}-{tags}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in files.items():
            zf.writestr(arc, data)
    return path


def _expand(tags: str) -> list[str]:
    py, abi, plat = tags.split("-")
    return [f"{a}-{b}-{c}" for a in py.split(".") for b in abi.split(".") for c in plat.split(".")]


def make_sdist(folder: Path, name: str, version: str) -> Path:
    """A source distribution (only its name matters to ``pip index versions``)."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    path = folder / f"{dist}-{version}.tar.gz"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    with tarfile.open(path, "w:gz") as tf:
        ti = tarfile.TarInfo(f"{dist}-{version}/PKG-INFO")
        ti.size = len(pkg_info)
        tf.addfile(ti, io.BytesIO(pkg_info))
    return path


def _wheel_requires_python(path: Path) -> str | None:
    if not path.name.endswith(".whl"):
        return None
    with zipfile.ZipFile(path) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        for line in zf.read(meta).decode().splitlines():
            if line.startswith("Requires-Python:"):
                return line.split(":", 1)[1].strip()
    return None


def make_index(root: Path, files: Iterable[Path]) -> str:
    """A PEP 503 index under ``root/simple`` linking ``files`` (with ``data-requires-python``
    from each wheel's METADATA, as PyPI does); returns its ``file://`` URL."""
    by_project: dict[str, list[Path]] = {}
    for f in files:
        project = canonicalize_name(f.name.split("-")[0])
        by_project.setdefault(project, []).append(f)
    simple = root / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(by_project))
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    for project, paths in by_project.items():
        page = simple / project
        page.mkdir(exist_ok=True)
        anchors = []
        for p in sorted(paths):
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            rp = _wheel_requires_python(p)
            attr = f' data-requires-python="{html.escape(rp)}"' if rp else ""
            anchors.append(f'<a href="{p.resolve().as_uri()}#sha256={digest}"{attr}>{p.name}</a>')
        (page / "index.html").write_text(
            "<!DOCTYPE html><html><body>\n" + "<br/>\n".join(anchors) + "\n</body></html>\n"
        )
    return simple.resolve().as_uri()
