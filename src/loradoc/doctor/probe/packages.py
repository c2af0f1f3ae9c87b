"""Installed distributions and their build facts, read from files; nothing is imported.

The search path is ``sys.path`` of the interpreter running the probe, so
``/path/to/venv/bin/python -m loradoc doctor check`` describes that venv. Only
the dist-info directories of the packages the doctor cares about are read:

- every package: version (with its local tag), ``Requires-Dist`` lines naming
  torch, ``INSTALLER``, ``direct_url.json`` wheel name;
- torch: ``torch/version.py`` read as text (``cuda``, ``hip``), the CUDA its
  ``nvidia-*-cu12`` / ``cuda-toolkit`` requirements name, and the C++ ABI from
  ``TorchConfig.cmake`` or the ``c10::Error`` symbol in ``libc10.so``;
- xformers: ``xformers/cpp_lib.json`` (torch, CUDA, Python and arch list it was built for);
- flash-attn: the wheel name in ``direct_url.json``, else the extension's ELF
  ``NEEDED`` libcudart and its ABI symbols;
- bitsandbytes: the ``libbitsandbytes_cuda*.so`` files it ships.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from loradoc.doctor.probe.util import read_text
from loradoc.doctor.snapshot import Package

TRACKED = (
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "xformers",
    "flash-attn",
    "bitsandbytes",
    "transformers",
    "peft",
    "accelerate",
    "datasets",
    "trl",
    "deepspeed",
    "wandb",
    "nvidia-ml-py",
    "pynvml",
    "huggingface-hub",
    "unsloth",
    "axolotl",
    "liger-kernel",
)

_TORCH_REQ = re.compile(r"^\s*torch\s*(?:[<>=!~;\[(@ ]|$)", re.I)
_CUDA_RUNTIME_REQ = re.compile(r"^\s*nvidia-cuda-runtime(?:-cu\d+)?\s*==\s*(\d+)\.(\d+)", re.I)
_CUDA_TOOLKIT_REQ = re.compile(r"^\s*cuda-toolkit(?:\[[^\]]*\])?\s*==\s*(\d+)\.(\d+)", re.I)
_LOCAL_CU = re.compile(r"\+cu(\d+)(\d)\b")
_VERSION_PY = re.compile(r"^(cuda|hip)\b[^=\n]*=\s*(.+?)\s*$", re.M)
_CMAKE_ABI = re.compile(r"_GLIBCXX_USE_CXX11_ABI=([01])")
_FA_WHEEL = re.compile(
    r"^flash_attn-[^+-]+\+cu(?P<cu>\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)-cp(?P<py>\d+)-",
    re.I,
)
_BNB_LIB = re.compile(r"^libbitsandbytes_(cuda\d+)(?:_nocublaslt)?\.(?:so|dll|dylib)$")


@dataclass
class _Dist:
    name: str
    meta_dir: Path  # the .dist-info / .egg-info path
    site: Path  # the sys.path entry holding it
    site_names: list[str] = field(default_factory=list)


def probe_packages(
    paths: Sequence[str] | None = None, names: Iterable[str] = TRACKED
) -> tuple[dict[str, Package], list[str]]:
    """Installed tracked distributions, keyed by canonical name, plus notes."""
    search = list(sys.path if paths is None else paths)
    wanted = {canonicalize_name(n) for n in names}
    notes: list[str] = []
    packages: dict[str, Package] = {}
    for dist in sorted(_find(search, wanted), key=lambda d: d.name):
        try:
            packages[dist.name] = _describe(dist, search, notes)
        except (OSError, ValueError, UnicodeError) as exc:  # a damaged dist-info, never fatal
            notes.append(f"{dist.name}: cannot read {dist.meta_dir} ({exc})")
    return packages, notes


def _find(paths: list[str], wanted: set[NormalizedName]) -> list[_Dist]:
    """The first dist-info/egg-info for each wanted name, in sys.path order (like import)."""
    found: dict[str, _Dist] = {}
    for entry in paths:
        site = Path(entry or ".")
        try:
            listing = os.listdir(site)
        except OSError:
            continue
        for name in listing:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
            elif name.endswith(".egg-info"):
                stem = name[: -len(".egg-info")]
            else:
                continue
            key = canonicalize_name(stem.split("-", 1)[0])
            if key in wanted and key not in found:
                found[key] = _Dist(key, site / name, site, listing)
        if len(found) == len(wanted):
            break
    return list(found.values())


def _describe(dist: _Dist, search: list[str], notes: list[str]) -> Package:
    meta = dist.meta_dir
    if meta.is_dir():
        text = read_text(meta / "METADATA") or read_text(meta / "PKG-INFO") or ""
    else:
        text = read_text(meta) or ""  # a single-file .egg-info
    headers = parse_metadata(text)
    all_requires = headers.get("requires-dist", [])
    if not all_requires and meta.is_dir() and (meta / "requires.txt").is_file():
        all_requires = _egg_requires(read_text(meta / "requires.txt") or "")
    version = headers["version"][0] if headers.get("version") else None
    pkg = Package(
        version=version,
        requires=torch_requirements(all_requires),
        installer=_first_line(meta / "INSTALLER") if meta.is_dir() else None,
        location=str(dist.site),
        wheel=_wheel_name(meta) if meta.is_dir() else None,
    )
    module_dir = _module_dir(dist, search)
    if dist.name == "torch":
        _torch_facts(pkg, module_dir, all_requires, notes)
    elif dist.name in ("torchvision", "torchaudio"):
        values = _version_py(module_dir) if module_dir is not None else {}
        pkg.cuda = values.get("cuda") or _cuda_from_local(pkg.version)
    elif dist.name == "xformers" and module_dir is not None:
        _xformers_facts(pkg, module_dir, notes)
    elif dist.name == "flash-attn":
        _flash_attn_facts(pkg, dist)
    elif dist.name == "bitsandbytes" and module_dir is not None:
        _bnb_facts(pkg, module_dir)
    return pkg


# -- metadata ---------------------------------------------------------------------------


def parse_metadata(text: str) -> dict[str, list[str]]:
    """The header block of a METADATA/PKG-INFO file (RFC 822 style), keys lower-cased."""
    headers: dict[str, list[str]] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and last is not None:
            headers[last][-1] += " " + line.strip()
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        last = key.strip().lower()
        headers.setdefault(last, []).append(value.strip())
    return headers


def torch_requirements(requires: list[str]) -> list[str]:
    """The ``Requires-Dist`` lines naming torch that apply to a plain install.

    Lines behind an extra are dropped (pip records no installed extras, and
    ``datasets[benchmarks]`` pinning ``torch==2.0.1`` says nothing about this
    machine), except the conventional ``extra == "torch"`` one: that is the
    package's own torch floor (transformers disables torch below it).
    Other markers (python_version, platform) are kept for the rules to evaluate.
    """
    out: list[str] = []
    for req in requires:
        if not _TORCH_REQ.match(req):
            continue
        marker = req.partition(";")[2]
        extras = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        if extras and "torch" not in extras:
            continue
        if req not in out:
            out.append(req)
    return out


def _egg_requires(text: str) -> list[str]:
    """``requires.txt``: bare lines, then ``[extra]`` / ``[:marker]`` sections."""
    out: list[str] = []
    marker = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            extra, _, cond = section.partition(":")
            parts = [f'extra == "{extra}"'] if extra else []
            if cond:
                parts.append(cond)
            marker = " and ".join(parts)
            continue
        out.append(f"{line}; {marker}" if marker else line)
    return out


def _first_line(path: Path) -> str | None:
    text = read_text(path, limit=4096)
    return text.strip().splitlines()[0].strip() if text and text.strip() else None


def _wheel_name(meta: Path) -> str | None:
    text = read_text(meta / "direct_url.json", limit=65536)
    if not text:
        return None
    import json
    from urllib.parse import unquote

    try:
        url = json.loads(text).get("url", "")
    except (ValueError, AttributeError):
        return None
    if not isinstance(url, str):
        return None
    name = unquote(url.rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0])
    return name if name.endswith(".whl") else None


def _module_dir(dist: _Dist, search: list[str]) -> Path | None:
    module = dist.name.replace("-", "_")
    if module in dist.site_names and (dist.site / module).is_dir():
        return dist.site / module
    for entry in search:
        candidate = Path(entry or ".") / module
        if candidate.is_dir():
            return candidate
    return None


def _version_py(module_dir: Path) -> dict[str, str | None]:
    """``cuda = '12.4'`` / ``hip: Optional[str] = None`` from a generated version.py (as text)."""
    text = read_text(module_dir / "version.py", limit=65536) or ""
    values: dict[str, str | None] = {}
    for key, raw in _VERSION_PY.findall(text):
        raw = raw.strip()
        values[key] = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"" else None
    return values


def _cuda_from_code(code: str) -> str:
    """``"124"`` -> ``"12.4"``, ``"118"`` -> ``"11.8"``, ``"12"`` -> ``"12"`` (major only)."""
    return code if len(code) <= 2 else f"{code[:-1]}.{code[-1]}"


# -- per-package build facts ------------------------------------------------------------


def _torch_facts(pkg: Package, module_dir: Path | None, requires: list[str], notes: list[str]) -> None:
    if module_dir is not None:
        values = _version_py(module_dir)
        if "cuda" not in values and "hip" not in values:
            notes.append(f"torch: {module_dir / 'version.py'} unreadable; CUDA taken from its metadata")
        pkg.cuda = values.get("cuda")
        pkg.hip = values.get("hip")
        pkg.cxx11_abi = _torch_abi(module_dir)
    if pkg.cuda is None and pkg.hip is None:
        pkg.cuda = _cuda_from_requires(requires) or _cuda_from_local(pkg.version)


def _cuda_from_requires(requires: list[str]) -> str | None:
    for req in requires:
        m = _CUDA_RUNTIME_REQ.match(req) or _CUDA_TOOLKIT_REQ.match(req)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return None


def _cuda_from_local(version: str | None) -> str | None:
    m = _LOCAL_CU.search(version or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _torch_abi(module_dir: Path) -> bool | None:
    """The C++ ABI torch was built with, where its files tell (Linux builds only)."""
    if not sys.platform.startswith("linux"):
        return None  # libc++ / MSVC: the libstdc++ dual ABI does not apply
    cmake = read_text(module_dir / "share" / "cmake" / "Torch" / "TorchConfig.cmake", limit=262144) or ""
    m = _CMAKE_ABI.search(cmake)
    if m:
        return m.group(1) == "1"
    lib = module_dir / "lib" / "libc10.so"
    if lib.is_file():
        from loradoc.doctor.probe.elf import read_elf

        info = read_elf(str(lib))
        return info.cxx11_abi if info else None
    return None


def _xformers_facts(pkg: Package, module_dir: Path, notes: list[str]) -> None:
    text = read_text(module_dir / "cpp_lib.json", limit=1 << 20)
    if text is None:
        return  # a pure-Python build (0.0.35 dev wheels): nothing compiled, nothing to match
    import json

    try:
        data = json.loads(text)
        version = data.get("version") or {}
        build_env = data.get("env") or {}
    except (ValueError, AttributeError):
        notes.append(f"xformers: {module_dir / 'cpp_lib.json'} is not valid JSON")
        return
    cuda = version.get("cuda")
    if isinstance(cuda, int) and cuda > 0:
        pkg.cuda = f"{cuda // 100}.{cuda % 100}"
    hip = version.get("hip")
    pkg.hip = str(hip) if hip else None
    pkg.built_for_torch = version.get("torch") or None
    pkg.built_for_python = version.get("python") or None
    arch_list = build_env.get("TORCH_CUDA_ARCH_LIST") if isinstance(build_env, dict) else None
    if isinstance(arch_list, str):
        pkg.archs = [a for a in re.split(r"[;\s]+", arch_list) if a]


def _flash_attn_facts(pkg: Package, dist: _Dist) -> None:
    m = _FA_WHEEL.match(pkg.wheel or "")
    if m:
        pkg.cuda = _cuda_from_code(m.group("cu"))
        pkg.built_for_torch = m.group("torch")
        pkg.cxx11_abi = m.group("abi").upper() == "TRUE"
        py = m.group("py")
        pkg.built_for_python = f"{py[0]}.{py[1:]}"
        return
    from loradoc.doctor.probe.elf import read_elf

    for name in dist.site_names:
        if name.startswith("flash_attn_2_cuda") and name.endswith(".so"):
            info = read_elf(str(dist.site / name))
            if info is not None:
                pkg.cuda = info.cudart_major
                pkg.cxx11_abi = info.cxx11_abi
            return


def _bnb_facts(pkg: Package, module_dir: Path) -> None:
    try:
        names = os.listdir(module_dir)
    except OSError:
        return
    libs = {m.group(1) for n in names if (m := _BNB_LIB.match(n))}
    pkg.cuda_libs = sorted(libs, key=lambda s: int(s[4:]))
