"""Installed distributions and their build facts, read from files; nothing is imported.

The search path is ``sys.path`` of the interpreter running the probe, so
``/path/to/venv/bin/python -m loradoc doctor check`` describes that venv. Only
the distributions the doctor cares about are read, through ``importlib.metadata``
(which reads dist-info/egg-info files and never imports the package):

- every package: version (with its local tag), the ``Requires-Dist`` lines naming
  torch (parsed with ``packaging.requirements``), ``INSTALLER``, ``direct_url.json`` wheel name;
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
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import Distribution, distributions
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
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
    "flash-attn-3",
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
    "nvidia-nccl-cu11",  # the NCCL pip builds of torch load
    "nvidia-nccl-cu12",
    "nvidia-nccl-cu13",
)

_CUDA_RUNTIME = re.compile(r"nvidia-cuda-runtime(?:-cu\d+)?|cuda-toolkit")
_MAJOR_MINOR = re.compile(r"(\d+)\.(\d+)")
_LEADING_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")  # PEP 508 names
_MARKER_EXTRA = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")
_LOCAL_CU = re.compile(r"\+cu(\d+)(\d)\b")
_VERSION_PY = re.compile(r"^(cuda|hip)\b[^=\n]*=\s*(.+?)\s*$", re.M)
_CMAKE_ABI = re.compile(r"_GLIBCXX_USE_CXX11_ABI=([01])")
_FA_WHEEL = re.compile(
    r"^flash_attn-[^+-]+\+cu(?P<cu>\d+)torch(?P<torch>\d+\.\d+)cxx11abi(?P<abi>TRUE|FALSE)-cp(?P<py>\d+)-",
    re.I,
)
_BNB_LIB = re.compile(r"^libbitsandbytes_(cuda\d+)(?:_nocublaslt)?\.(?:so|dll|dylib)$")


def probe_packages(
    paths: Sequence[str] | None = None, names: Iterable[str] = TRACKED
) -> tuple[dict[str, Package], list[str]]:
    """Installed tracked distributions, keyed by canonical name, plus notes.

    For each name, the first distribution on the search path wins, as for import.
    """
    search = list(sys.path if paths is None else paths)
    notes: list[str] = []
    packages: dict[str, Package] = {}
    for name in sorted({canonicalize_name(n) for n in names}):
        dist = next(iter(distributions(name=name, path=search)), None)
        if dist is None:
            continue
        site = Path(str(dist.locate_file("")))
        try:
            packages[name] = _describe(name, dist, site, search, notes)
        except (OSError, ValueError, UnicodeError) as exc:  # damaged metadata, never fatal
            notes.append(f"{name}: cannot read its metadata in {site} ({exc})")
    return packages, notes


def _describe(
    name: NormalizedName, dist: Distribution, site: Path, search: list[str], notes: list[str]
) -> Package:
    meta = dist.metadata  # parsed once: each .version / .requires would parse the file again
    requires = meta.get_all("Requires-Dist") or dist.requires or []  # an egg-info: requires.txt
    pkg = Package(
        version=(meta.get_all("Version") or [None])[0],
        requires=torch_requirements(requires),
        installer=_first_line(dist.read_text("INSTALLER")),
        location=str(site),
        wheel=_wheel_name(dist.read_text("direct_url.json")),
    )
    module_dir = _module_dir(name, site, search)
    if name == "torch":
        _torch_facts(pkg, module_dir, requires, notes)
    elif name in ("torchvision", "torchaudio"):
        values = _version_py(module_dir) if module_dir is not None else {}
        pkg.cuda = values.get("cuda") or _cuda_from_local(pkg.version)
    elif name == "xformers" and module_dir is not None:
        _xformers_facts(pkg, module_dir, notes)
    elif name == "flash-attn":
        _flash_attn_facts(pkg, site)
    elif name == "bitsandbytes" and module_dir is not None:
        _bnb_facts(pkg, module_dir)
    return pkg


# -- metadata ---------------------------------------------------------------------------


def _requirement(line: str, names: Callable[[str], object]) -> Requirement | None:
    """``line`` parsed, when the project it names passes ``names`` (a canonical name test).

    The name is checked first: transformers alone declares hundreds of requirements, and
    parsing each one would cost the doctor more time than reading all the files it reads.
    """
    m = _LEADING_NAME.match(line)
    if m is None or not names(canonicalize_name(m.group(1))):
        return None
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def torch_requirements(requires: list[str]) -> list[str]:
    """The ``Requires-Dist`` lines naming torch that apply to a plain install, as written.

    Lines behind an extra are dropped (pip records no installed extras, and
    ``datasets[benchmarks]`` pinning ``torch==2.0.1`` says nothing about this
    machine), except the conventional ``extra == "torch"`` one: that is the
    package's own torch floor (transformers disables torch below it).
    Other markers (python_version, platform) are kept for the rules to evaluate.
    """
    out: list[str] = []
    for line in requires:
        req = _requirement(line, "torch".__eq__)
        if req is None:
            continue
        extras = _MARKER_EXTRA.findall(str(req.marker)) if req.marker is not None else []
        if extras and "torch" not in extras:
            continue
        if line not in out:
            out.append(line)
    return out


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0].strip() if text and text.strip() else None


def _wheel_name(text: str | None) -> str | None:
    """The wheel file name in a ``direct_url.json``."""
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


def _module_dir(name: str, site: Path, search: list[str]) -> Path | None:
    module = name.replace("-", "_")
    if (site / module).is_dir():
        return site / module
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
    """The CUDA of an ``nvidia-cuda-runtime-cu12==12.4.127`` / ``cuda-toolkit[...]==13.0.2`` pin."""
    for line in requires:
        req = _requirement(line, _CUDA_RUNTIME.fullmatch)
        if req is None:
            continue
        for spec in req.specifier:
            m = _MAJOR_MINOR.match(spec.version) if spec.operator in ("==", "===") else None
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


def _flash_attn_facts(pkg: Package, site: Path) -> None:
    m = _FA_WHEEL.match(pkg.wheel or "")
    if m:
        pkg.cuda = _cuda_from_code(m.group("cu"))
        pkg.built_for_torch = m.group("torch")
        pkg.cxx11_abi = m.group("abi").upper() == "TRUE"
        py = m.group("py")
        pkg.built_for_python = f"{py[0]}.{py[1:]}"
        return
    from loradoc.doctor.probe.elf import read_elf

    try:
        names = sorted(os.listdir(site))
    except OSError:
        return
    for name in names:
        if name.startswith("flash_attn_2_cuda") and name.endswith(".so"):
            info = read_elf(str(site / name))
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
