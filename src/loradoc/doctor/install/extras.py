"""The packages that bind to the chosen torch: xformers, flash-attn, bitsandbytes, and the
Hugging Face stack within the floors that torch allows. Every answer comes from the matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from loradoc.compat.choose import TorchChoice
from loradoc.compat.queries import Matrix, spec_contains
from loradoc.compat.queries_packages import FlashAttnWheel
from loradoc.compat.schema import BnbRelease, HfFloor, XformersRelease
from loradoc.compat.versions import cc_tuple, cuda_tuple, public, variant_cuda
from loradoc.doctor.install.steps import Decision, Need, PipStep
from loradoc.doctor.install.torch_pick import Machine, cuda_major, python_ok

# A parallel nvcc job of these extensions can take this much memory; the flash-attn README
# asks for MAX_JOBS=4 below 96 GB and xformers' for MAX_JOBS=2 on out-of-memory.
GIB_PER_BUILD_JOB = 16
BUILD_TOOLS = ["ninja", "packaging", "psutil", "setuptools", "wheel"]  # what setup.py needs without isolation


@dataclass
class Extra:
    """What the plan does about one package."""

    decision: Decision
    steps: list[PipStep] = field(default_factory=list)  # own steps (an index, a URL, a source build)
    stack: list[str] = field(default_factory=list)  # requirements for the shared stack step (pip's sources)
    imports: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    build_tools: bool = False


@dataclass
class Build:
    """The torch build the extensions must match."""

    version: str  # public
    variant: str

    @property
    def cuda(self) -> str | None:
        return variant_cuda(self.variant)

    @property
    def label(self) -> str:
        return f"{self.version}+{self.variant}"


def skip(item: str, reason: str) -> Extra:
    return Extra(Decision(item, None, reason))


# -- xformers ---------------------------------------------------------------------------------
def _xf_candidates(m: Matrix, mach: Machine, b: Build) -> list[XformersRelease]:
    return [
        r
        for r in reversed(m.xformers.releases)
        if spec_contains(r.torch, b.version)
        and python_ok(r.python, mach.python)
        and (mach.os != "windows" or r.windows)
    ]


def xformers_blocker(m: Matrix, mach: Machine, r: XformersRelease) -> str | None:
    """Why xformers ``r``'s wheels cannot run on this machine: no Linux aarch64 wheels, or no
    kernel (SASS or PTX) for a GPU's architecture; None when they can (or nothing is known)."""
    if mach.os == "linux" and mach.machine in ("aarch64", "arm64") and not m.xformers.linux_aarch64:
        return "xformers publishes no Linux aarch64 wheels"
    known = m.xformers_archs(r)
    if known is None:
        return None
    entry, read_from = known
    missing = [
        f"{name} (sm {cc})" for name, cc in mach.gpus if cc and m.arch_support(entry, cc, mach.os) is None
    ]
    if not missing:
        return None
    built = " ".join(entry.sass) + (f" +PTX {' '.join(entry.ptx)}" if entry.ptx else "")
    whose = "its" if read_from == r.version else f"xformers {read_from}'s"
    return f"xformers {r.version} wheels carry code for sm {built} ({whose} build info), not {', '.join(missing)}"


def xformers_has_wheel(m: Matrix, mach: Machine, b: Build) -> bool:
    major = cuda_major(b.variant)
    if major is None:
        return True  # not applicable: nothing a different torch could fix
    cands = _xf_candidates(m, mach, b)
    if cands and xformers_blocker(m, mach, cands[0]) is not None:
        return True  # the machine, not the torch, rules xformers out: never trade torch for it
    if cands and b.variant in cands[0].index_variants:
        return True
    return any(m.xformers_pypi_cuda_major(r) == major for r in cands)


def plan_xformers(m: Matrix, mach: Machine, b: Build, why: str) -> Extra:
    major = cuda_major(b.variant)
    if major is None:
        return skip(
            "xformers", f"wanted ({why}), but xformers' kernels need a CUDA build of torch, not {b.variant}"
        )
    cands = _xf_candidates(m, mach, b)
    blocked = xformers_blocker(m, mach, cands[0]) if cands else None
    if blocked is not None:
        return skip(
            "xformers", f"wanted ({why}), but {blocked}; attention runs with sdpa or loradoc_varlen instead"
        )
    if cands and b.variant in cands[0].index_variants:
        r = cands[0]
        pypi_major = m.xformers_pypi_cuda_major(r)
        same = pypi_major == major
        step = PipStep(
            "xformers",
            [f"xformers=={r.version}"],
            f"xformers {r.version} built for torch {b.label}, from the {b.variant} index",
            index_url=m.xformers.index_url.format(variant=b.variant),
            fallback_requirements=[f"xformers=={r.version}"] if same else None,
            fallback_note=f"PyPI's xformers {r.version} is built for CUDA {pypi_major}" if same else None,
        )
        reason = f"xformers=={r.version}: requires torch{r.torch}; the {b.variant} index has the build for torch's CUDA ({why})"
        return Extra(
            Decision("xformers", f"xformers=={r.version}", reason), steps=[step], imports=["xformers"]
        )
    for r in cands:
        if m.xformers_pypi_cuda_major(r) == major:
            reason = (
                f"xformers=={r.version}: requires torch{r.torch}; the PyPI wheel is built for CUDA {major}, "
                f"like torch {b.label} ({why})"
            )
            return Extra(
                Decision("xformers", f"xformers=={r.version}", reason),
                stack=[f"xformers=={r.version}"],
                imports=["xformers"],
            )
    pin = m.xformers_git_pin(b.version)
    if pin is not None:
        return _xformers_git(m, mach, b, why, pin.commit, pin.verified, cands)
    built = ", ".join(f"{r.version} (CUDA {m.xformers_pypi_cuda_major(r)})" for r in cands[:2]) or "none"
    return skip(
        "xformers",
        f"wanted ({why}), but no xformers wheel fits torch {b.label} on Python {mach.python_mm} "
        f"(releases for this torch: {built}) and the matrix has no git pin for it; use sdpa attention",
    )


def _xformers_git(
    m: Matrix, mach: Machine, b: Build, why: str, commit: str, verified: bool, cands: list[XformersRelease]
) -> Extra:
    template = m.xformers.source_build.format(commit=commit).split()
    url = next(t for t in template if commit in t).split("#", 1)[0]
    flags = [t for t in template[2:] if t.startswith("-") and t not in ("-U", "--upgrade")]
    env = {"TORCH_CUDA_ARCH_LIST": arch_list(mach), "MAX_JOBS": str(max_jobs(mach))}
    major = str(cuda_major(b.variant))
    step = PipStep(
        "xformers",
        [f"xformers @ {url}"],
        f"source build of xformers at a pinned commit for torch {b.label}",
        pip_args=flags,
        env=env,
        needs=[Need("nvcc", major, f"nvcc must match torch's CUDA {b.cuda} major to build the extension")],
    )
    wheels = (
        ", ".join(f"{r.version} is built for CUDA {m.xformers_pypi_cuda_major(r)}" for r in cands) or "none"
    )
    reason = (
        f"git commit {commit[:12]}: no xformers wheel fits torch {b.label} ({wheels}); built with "
        f"TORCH_CUDA_ARCH_LIST={env['TORCH_CUDA_ARCH_LIST']} for the detected GPUs, MAX_JOBS={env['MAX_JOBS']} "
        f"from {_memory(mach)}, --no-build-isolation against the installed torch ({why})"
    )
    out = Extra(
        Decision("xformers", f"xformers @ {url}", reason),
        steps=[step],
        imports=["xformers"],
        build_tools=True,
    )
    if not verified:
        out.warnings.append(
            f"the xformers git pin {commit[:12]} for torch {b.version} is UNVERIFIED in the matrix"
        )
    if not _nvcc_matches(mach, b):
        out.warnings.append(
            f"the xformers build needs nvcc {major}.x (CUDA_HOME or PATH); this machine shows "
            f"{'nvcc ' + mach.nvcc if mach.nvcc else 'no nvcc'}: the install stops there unless one is installed"
        )
    return out


def arch_list(mach: Machine) -> str:
    """TORCH_CUDA_ARCH_LIST for the detected GPUs: ``"8.0;8.6"``."""
    ccs = sorted({cc for cc in mach.ccs}, key=lambda c: cc_tuple(c) or (0, 0))
    return ";".join(ccs)


def max_jobs(mach: Machine) -> int:
    if mach.memory_mib is None:
        return 2
    jobs = max(1, mach.memory_mib // 1024 // GIB_PER_BUILD_JOB)
    return min(jobs, mach.cpu_count) if mach.cpu_count else jobs


def _memory(mach: Machine) -> str:
    if mach.memory_mib is None:
        return "unknown memory"
    return f"{mach.memory_mib // 1024} GiB at ~{GIB_PER_BUILD_JOB} GiB per job"


def _nvcc_matches(mach: Machine, b: Build) -> bool:
    t = cuda_tuple(mach.nvcc)
    return t is not None and t[0] == cuda_major(b.variant)


# -- flash-attn ---------------------------------------------------------------------------------
def _fa_blocker(m: Matrix, mach: Machine, b: Build) -> str | None:
    """Why flash-attn cannot run here at all (None: it can)."""
    if mach.os != "linux" and not m.flash_attn.windows:
        return f"flash-attn has no official {mach.os_label} wheels or support"
    if cuda_major(b.variant) is None:
        return f"flash-attn needs a CUDA build of torch, not {b.variant}"
    if not mach.ccs:
        return "no NVIDIA GPU with a known compute capability"
    low = [(n, cc) for n, cc in mach.gpus if cc and not m.flash_attn_supports_cc(cc)]
    if low:
        name, cc = low[0]
        return f"flash-attn needs sm_{m.flash_attn.min_cc.replace('.', '')}+ and {name} is sm_{cc.replace('.', '')}"
    return None


def _fa_wheel(m: Matrix, mach: Machine, b: Build) -> FlashAttnWheel | None:
    if mach.machine != "x86_64":
        return None
    abi = m.torch_cxx11_abi(b.version, b.variant)
    return m.flash_attn_wheel(b.version, b.cuda, abi, mach.python, machine=mach.machine)


def flash_attn_has_wheel(m: Matrix, mach: Machine, b: Build, *, fa3: bool = False) -> bool:
    """Whether torch build ``b`` leaves flash-attn nothing to compile (the torch picker prefers such
    builds). FlashAttention-3 counts only when asked for: its wheel list is younger and less
    checked than flash-attn 2's, so it replaces a source build rather than steering torch."""
    if _fa_blocker(m, mach, b) is not None:
        return True
    if fa3:
        return _fa3_misfit(m, mach, b) is None
    return _fa_wheel(m, mach, b) is not None


def _fa3_misfit(m: Matrix, mach: Machine, b: Build) -> str | None:
    """Why no FlashAttention-3 wheel fits this machine and torch build (None: one does)."""
    if mach.os != "linux":
        return f"no FlashAttention-3 wheel is known for {mach.os_label}"
    return m.flash_attn_3_misfit(b.version, b.variant, mach.python, mach.machine, mach.gpus)


def _plan_fa3(m: Matrix, mach: Machine, b: Build, why: str, instead: str) -> Extra:
    """FlashAttention-3 from PyTorch's index (the caller checked that its wheel fits)."""
    fa3 = m.flash_attn_3
    assert fa3 is not None
    req = f"{fa3.distribution}=={fa3.version}"
    index = fa3.index_url.format(variant=b.variant)
    reason = (
        f"FlashAttention-3 {fa3.version} for Hopper from {index} ({instead}; one stable-ABI wheel for "
        f"torch >= {fa3.min_torch}): training uses attn_implementation flash_attention_3 ({why})"
    )
    step = PipStep(
        fa3.distribution,
        [req],
        f"FlashAttention-3 {fa3.version} from PyTorch's {b.variant} index (its dependencies come with the stack)",
        index_url=index,
        pip_args=["--no-deps"],
    )
    out = Extra(
        Decision("flash-attn", req, reason), steps=[step], stack=list(fa3.dependencies), imports=[fa3.module]
    )
    if not fa3.verified:
        out.warnings.append(f"FlashAttention-3 {fa3.version}'s wheel list is UNVERIFIED in the matrix")
    return out


def plan_flash_attn(m: Matrix, mach: Machine, b: Build, why: str, *, fa3: bool = False) -> Extra:
    """flash-attn 2's release wheel, else FlashAttention-3's on Hopper, else a source build; with
    ``fa3`` (the config asks for flash_attention_3) FlashAttention-3 or nothing."""
    blocker = _fa_blocker(m, mach, b)
    if blocker:
        return skip("flash-attn", f"wanted ({why}), but {blocker}; use sdpa attention")
    misfit = _fa3_misfit(m, mach, b)
    if fa3:
        if misfit is not None:
            return skip(
                "flash-attn",
                f"wanted ({why}), but {misfit}; set attn_implementation: flash_attention_2 for flash-attn 2",
            )
        return _plan_fa3(m, mach, b, why, "the config asks for it")
    wheel = _fa_wheel(m, mach, b)
    if wheel is not None:
        abi = "cxx11abiTRUE" if wheel.abi else "cxx11abiFALSE"
        reason = (
            f"release wheel {wheel.filename}: torch {wheel.torch}, torch's CUDA {b.cuda} (tag cu{wheel.cuda_tag}), "
            f"{abi} like torch {b.label}, {wheel.python_tag} ({why})"
        )
        step = PipStep(
            "flash-attn", [f"flash-attn @ {wheel.url}"], f"flash-attn {wheel.version} release wheel"
        )
        out = Extra(
            Decision("flash-attn", f"flash-attn @ {wheel.url}", reason), steps=[step], imports=["flash_attn"]
        )
        if not wheel.verified:
            out.warnings.append(f"flash-attn {wheel.version}'s wheel list is UNVERIFIED in the matrix")
        return out
    if misfit is None:
        return _plan_fa3(
            m, mach, b, why, f"no flash-attn 2 release wheel fits torch {b.label} on Python {mach.python_mm}"
        )
    version = _fa_source_version(m, mach)
    cmd = m.flash_attn.source_build.format(version=version)
    major = cuda_major(b.variant)
    if version is None:
        return skip(
            "flash-attn", f"wanted ({why}), but no flash-attn release supports Python {mach.python_mm}"
        )
    if not _nvcc_matches(mach, b) or (major or 0) < 12:
        have = f"nvcc {mach.nvcc}" if mach.nvcc else "no nvcc"
        return skip(
            "flash-attn",
            f"wanted ({why}), but no release wheel fits torch {b.label} on Python {mach.python_mm}; a source "
            f"build needs nvcc {major}.x (this machine: {have}): install that toolkit, then "
            f"`MAX_JOBS={max_jobs(mach)} {cmd}`",
        )
    step = PipStep(
        "flash-attn",
        [f"flash-attn=={version}"],
        f"source build of flash-attn {version} against torch {b.label}",
        pip_args=["--no-build-isolation"],
        env={"MAX_JOBS": str(max_jobs(mach)), "TORCH_CUDA_ARCH_LIST": arch_list(mach)},
        needs=[Need("nvcc", str(major), f"flash-attn compiles with nvcc matching torch's CUDA {b.cuda}")],
    )
    reason = (
        f"flash-attn=={version} built from source: no release wheel for torch {b.label} on Python "
        f"{mach.python_mm}; nvcc {mach.nvcc} matches, MAX_JOBS={max_jobs(mach)} from {_memory(mach)} ({why})"
    )
    return Extra(
        Decision("flash-attn", f"flash-attn=={version}", reason),
        steps=[step],
        imports=["flash_attn"],
        build_tools=True,
        warnings=["flash-attn is built from source: this can take an hour or more"],
    )


def _fa_source_version(m: Matrix, mach: Machine) -> str | None:
    versions = [
        (Version(v), v, r)
        for r in m.flash_attn.releases
        for v in r.versions
        if python_ok(r.python, mach.python)
    ]
    return max(versions)[1] if versions else None


# -- bitsandbytes -------------------------------------------------------------------------------
def _anchor(spec_text: str) -> tuple[Version, Version]:
    """Order version-range rows: by their floor, then by their ceiling (open-ended last)."""
    low, high = Version("0"), Version("999999")
    for s in SpecifierSet(spec_text):
        if s.operator in ("==", ">=", "~=", ">"):
            low = max(low, Version(s.version))
        if s.operator in ("==", "<=", "<"):
            high = min(high, Version(s.version))
    return (low, high)


def plan_bitsandbytes(m: Matrix, mach: Machine, b: Build, why: str) -> Extra:
    rows = sorted(m.bitsandbytes.releases, key=lambda r: _anchor(r.versions), reverse=True)
    if b.variant.startswith("rocm"):
        return _bnb_rocm(mach, b, why, rows)
    for rel in rows:
        lib = _bnb_lib(m, rel, b)
        if lib is None:
            continue
        if rel.torch and not spec_contains(rel.torch, b.version):
            continue
        if not python_ok(rel.python, mach.python):
            continue
        return _bnb_choice(m, mach, b, why, rel, lib)
    return skip("bitsandbytes", f"wanted ({why}), but no listed release ships a library for torch {b.label}")


def _bnb_rocm(mach: Machine, b: Build, why: str, rows: list[BnbRelease]) -> Extra:
    """The newest release that ships a library for exactly torch's ROCm (``rocm6.4`` -> ``rocm64``)."""
    wanted = "rocm" + b.variant[len("rocm") :].replace(".", "")
    for rel in rows:
        if wanted not in rel.rocm_libs:
            continue
        if (rel.torch and not spec_contains(rel.torch, b.version)) or not python_ok(rel.python, mach.python):
            continue
        req = f"bitsandbytes{rel.versions}"
        reason = f"{req}: loads {wanted}, the exact match for torch's ROCm {b.variant[len('rocm') :]} ({why})"
        return Extra(Decision("bitsandbytes", req, reason), stack=[req], imports=["bitsandbytes"])
    shipped = sorted({lib for rel in rows for lib in rel.rocm_libs})
    listed = (
        f"listed ROCm libraries: {', '.join(shipped)}" if shipped else "the matrix lists no ROCm libraries"
    )
    return skip(
        "bitsandbytes", f"wanted ({why}), but no release ships {wanted} for torch {b.label} ({listed})"
    )


def _bnb_lib(m: Matrix, rel: BnbRelease, b: Build) -> str | None:
    if not rel.cuda_libs:
        return None
    if b.variant == "cpu":
        return "cpu" if "cpu" in rel.cuda_libs else None
    return m.bnb_release_library(rel, b.cuda)


def _bnb_choice(m: Matrix, mach: Machine, b: Build, why: str, rel: BnbRelease, lib: str) -> Extra:
    req = f"bitsandbytes{rel.versions}"
    out = Extra(Decision("bitsandbytes", req, ""), stack=[req], imports=["bitsandbytes"])
    if lib == "cpu":
        out.decision.reason = f"{req}: ships its CPU library for torch {b.label} ({why})"
        return out
    lib_cuda = f"{lib[4:-1]}.{lib[-1]}"
    match = "the exact match" if cuda_tuple(lib_cuda) == cuda_tuple(b.cuda) else "the same-major match"
    target = m.bnb_target(lib_cuda)
    floor = target.min_cc if target else m.bitsandbytes.min_cc
    low = [(n, cc) for n, cc in mach.gpus if cc and (cc_tuple(cc) or (0, 0)) < (cc_tuple(floor) or (0, 0))]
    if low:
        name, cc = low[0]
        return skip(
            "bitsandbytes",
            f"wanted ({why}), but its {lib} library needs sm_{floor.replace('.', '')}+ and {name} is sm_{cc.replace('.', '')}",
        )
    out.decision.reason = f"{req}: loads {lib}, {match} for torch's CUDA {b.cuda} (it picks by torch.version.cuda, never across majors) ({why})"
    int8 = m.bitsandbytes.min_cc_int8
    if "load_in_8bit" in why and any(
        (cc_tuple(cc) or (0, 0)) < (cc_tuple(int8) or (0, 0)) for cc in mach.ccs
    ):
        out.warnings.append(
            f"LLM.int8() (load_in_8bit) needs sm_{int8.replace('.', '')}+; use load_in_4bit on these GPUs"
        )
    return out


# -- Hugging Face stack -------------------------------------------------------------------------
def plan_hf(m: Matrix, mach: Machine, b: Build, package: str) -> Extra:
    """The newest known version range of ``package`` whose torch and Python floors this machine meets."""
    rows = sorted((r for r in m.hf if r.package == package), key=lambda r: _anchor(r.versions), reverse=True)
    module = package.replace("-", "_")
    if not rows:
        reason = f"{package}: no torch or Python floor in the matrix; pip picks the newest for Python {mach.python_mm}"
        return Extra(Decision(package, package, reason), stack=[package], imports=[module])
    blocked: HfFloor | None = None
    for row in rows:
        if _hf_fits(row, b, mach):
            req = f"{package}{row.versions}"
            reason = f"{req}: " + (
                f"needs torch{row.torch}, met by {b.version}" if row.torch else "no torch floor"
            )
            reason += f"; Python{row.python}"
            if blocked is not None:
                reason += f"; newer {package}{blocked.versions} needs " + _hf_need(blocked, b, mach)
            return Extra(Decision(package, req, reason), stack=[req], imports=[module])
        blocked = row
    return skip(
        package, f"no {package} release in the matrix fits torch {b.version} on Python {mach.python_mm}"
    )


def _hf_fits(row: HfFloor, b: Build, mach: Machine) -> bool:
    return (not row.torch or spec_contains(row.torch, b.version)) and python_ok(row.python, mach.python)


def _hf_need(row: HfFloor, b: Build, mach: Machine) -> str:
    needs = []
    if row.torch and not spec_contains(row.torch, b.version):
        extra = " (declared only through an extra, so pip would not stop it)" if row.torch_extra else ""
        needs.append(f"torch{row.torch}{extra}")
    if not python_ok(row.python, mach.python):
        needs.append(f"Python{row.python}")
    return " and ".join(needs) or "more"


def build_of(choice: TorchChoice) -> Build:
    return Build(public(choice.version) or choice.version, choice.variant)
