"""Queries about the packages that bind to a torch build: xformers, flash-attn,
bitsandbytes, and the Hugging Face floors. Mixed into ``queries.Matrix``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from loradoc.compat.schema import (
    ApiChange,
    ArchEntry,
    BnbInfo,
    BnbRelease,
    BnbTarget,
    Companion,
    CudnnMajor,
    FlashAttn3Info,
    FlashAttnInfo,
    FlashAttnRelease,
    HfFloor,
    PackageConflict,
    TorchBoundRelease,
    TorchTaggedWheel,
    TransformersInfo,
    XformersGitPin,
    XformersInfo,
    XformersRelease,
)
from loradoc.compat.versions import cuda_tuple, parse_version, public, python_mm, series


def _contains(spec_text: str | None, version: str | None) -> bool:
    """Whether a version's public part satisfies a specifier ("" or None = anything)."""
    if not spec_text:
        return True
    v = parse_version(version)
    if v is None:
        return False
    return SpecifierSet(spec_text).contains(Version(v.public), prereleases=True)


def _lower_bound(spec_text: str) -> str | None:
    """``">=0.46.0,<=0.47.0"`` -> ``"0.46.0"``; ``"==0.45.5"`` -> ``"0.45.5"``."""
    for s in SpecifierSet(spec_text):
        if s.operator in ("==", ">=", "~=", "==="):
            return s.version
    return None


def _fa_platform(machine: str | None) -> str:
    """The wheel platform tag flash-attn builds for this machine."""
    return "linux_aarch64" if (machine or "").lower() in ("aarch64", "arm64") else "linux_x86_64"


def _arch_entry(built_archs: str, source: str) -> ArchEntry:
    """``"7.5 8.0+PTX 9.0a"`` (TORCH_CUDA_ARCH_LIST) as SASS and PTX lists; ``9.0a`` is SASS for
    9.0 only (arch-specific features)."""
    sass: list[str] = []
    ptx: list[str] = []
    for item in built_archs.replace(";", " ").split():
        base = item.removesuffix("+PTX").rstrip("af")
        if base not in sass:
            sass.append(base)
        if item.endswith("+PTX"):
            ptx.append(base)
    return ArchEntry(torch="*", variant="xformers", sass=tuple(sass), ptx=tuple(ptx), source=source)


@dataclass(frozen=True)
class FlashAttnWheel:
    version: str
    filename: str
    url: str
    torch: str  # major.minor
    cuda_tag: str  # "122", "12"
    abi: bool
    python_tag: str  # "cp311"
    verified: bool

    @property
    def command(self) -> str:
        return f"pip install {self.url}"


class PackageQueries:
    """Mixin: reads the package sections of the matrix."""

    xformers: XformersInfo
    flash_attn: FlashAttnInfo
    flash_attn_3: FlashAttn3Info | None
    bitsandbytes: BnbInfo
    hf: tuple[HfFloor, ...]
    companions: tuple[Companion, ...]
    transformers: TransformersInfo
    cudnn_majors: tuple[CudnnMajor, ...]
    package_conflicts: tuple[PackageConflict, ...]
    torch_tagged_wheels: tuple[TorchTaggedWheel, ...]
    torch_bound_releases: tuple[TorchBoundRelease, ...]
    api_changes: tuple[ApiChange, ...]

    # -- xformers ------------------------------------------------------------------------------
    def xformers_release(self, version: str | None) -> XformersRelease | None:
        want = public(version)
        return next((r for r in self.xformers.releases if r.version == want), None)

    def xformers_for_torch(
        self, torch_version: str | None, python: str | None = None
    ) -> XformersRelease | None:
        """The newest xformers release whose torch requirement the torch version meets (and
        whose wheels cover ``python`` when given)."""
        if public(torch_version) is None:
            return None
        for rel in reversed(self.xformers.releases):
            if not _contains(rel.torch, torch_version):
                continue
            if python and python_mm(python) and not _contains(rel.python, python_mm(python)):
                continue
            return rel
        return None

    def xformers_stable_abi(self, xformers_version: str | None) -> bool | None:
        """True when this xformers uses torch's stable ABI (it then runs on later torch)."""
        v = parse_version(xformers_version)
        if v is None:
            return None
        return Version(v.public) >= Version(self.xformers.stable_abi_since)

    def xformers_archs(self, release: XformersRelease) -> tuple[ArchEntry, str] | None:
        """The architectures a release's CUDA wheels carry, and which release's build info says so:
        its own ``built_archs``, else the closest release of its 0.0.N series that has one, else the
        nearest earlier release that has one; None when nothing is known."""
        known = [r for r in self.xformers.releases if r.built_archs]
        if not known:
            return None
        v = Version(release.version)
        series = [r for r in known if Version(r.version).release[:3] == v.release[:3]]
        earlier = [r for r in known if Version(r.version) <= v]
        pick = next((r for r in series if r.version == release.version), None) or (
            series[0] if series else (earlier[-1] if earlier else None)
        )
        if pick is None or pick.built_archs is None:
            return None
        return _arch_entry(pick.built_archs, pick.source), pick.version

    def parse_arch_list(self, built_archs: str, source: str) -> ArchEntry:
        """A TORCH_CUDA_ARCH_LIST (``"7.5 8.0+PTX 9.0a"``) as an ArchEntry for :meth:`arch_support`."""
        return _arch_entry(built_archs, source)

    def xformers_git_pin(self, torch_version: str | None) -> XformersGitPin | None:
        """A source-build commit for a torch release that had no xformers wheel."""
        want = public(torch_version)
        return next((p for p in self.xformers.git_pins if p.torch == want), None)

    def xformers_install_command(
        self, release: XformersRelease, torch_variant: str | None = None, *, replace: bool = False
    ) -> str:
        """``pip install xformers==X``, from the PyTorch index of ``torch_variant`` when xformers
        publishes there (so the CUDA major matches torch's). ``replace``: another build of X may be
        installed, which pip would keep (0.0.23.post1+cu118 satisfies ``xformers==0.0.23.post1``),
        so reinstall it, and only it: its torch pin is the installed torch."""
        pip = "pip install --force-reinstall --no-deps" if replace else "pip install"
        if torch_variant and torch_variant in release.index_variants:
            url = self.xformers.index_url.format(variant=torch_variant)
            return f"{pip} xformers=={release.version} --index-url {url}"
        return f"{pip} xformers=={release.version}"

    def xformers_source_build_command(self, pin: XformersGitPin) -> str:
        return self.xformers.source_build.format(commit=pin.commit)

    # -- flash-attn ----------------------------------------------------------------------------
    def flash_attn_release(self, version: str | None) -> FlashAttnRelease | None:
        want = public(version)
        return next((r for r in self.flash_attn.releases if want in r.versions), None)

    def _flash_attn_newest_first(self) -> list[FlashAttnRelease]:
        """Newest first, releases with a verified matrix before unverified ones."""
        newest = list(reversed(self.flash_attn.releases))
        return [r for r in newest if r.verified] + [r for r in newest if not r.verified]

    def flash_attn_for_torch(
        self,
        torch: str | None,
        cudas: Sequence[str],
        abi: bool | None,
        python: str | None,
        machine: str | None = "x86_64",
    ) -> str | None:
        """The newest flash-attn release with a prebuilt wheel for torch major.minor under each
        of ``cudas`` (torch's CUDA, or every CUDA that torch series was built with when it is
        unknown), the C++ ABI and CPython when known, and the machine. Installed with
        ``--no-build-isolation``, flash-attn's setup downloads the wheel that fits the installed
        torch, so this needs no more than torch's series."""
        mm, py = series(torch), python_mm(python)
        majors = {t[0] for t in (cuda_tuple(c) for c in cudas) if t}
        platform = _fa_platform(machine)
        if mm is None or not majors:
            return None
        for rel in self._flash_attn_newest_first():
            if platform not in rel.platforms or (py is not None and not _contains(rel.python, py)):
                continue
            built = {
                (cuda_tuple(c) or (0, 0))[0]
                for b in rel.builds
                if mm in b.torch and (abi is None or abi in b.abi)
                for c in b.cuda
            }
            if majors <= built:
                return rel.versions[-1]
        return None

    def flash_attn_wheel(
        self,
        torch: str | None,
        cuda: str | None,
        abi: bool | None,
        python: str | None,
        version: str | None = None,
        machine: str | None = "x86_64",
    ) -> FlashAttnWheel | None:
        """The prebuilt flash-attn wheel for torch major.minor, torch's CUDA (``torch.version.cuda``,
        not nvcc), the torch C++ ABI, CPython and the machine (``x86_64`` or ``aarch64``); newest
        release unless ``version`` is given."""
        mm, ct, py = series(torch), cuda_tuple(cuda), python_mm(python)
        platform = _fa_platform(machine)
        if mm is None or ct is None or abi is None or py is None:
            return None
        releases: Sequence[FlashAttnRelease | None] = (
            [self.flash_attn_release(version)] if version else self._flash_attn_newest_first()
        )
        for rel in releases:
            if rel is None or not _contains(rel.python, py) or platform not in rel.platforms:
                continue
            for build in rel.builds:
                if mm not in build.torch or abi not in build.abi:
                    continue
                built = [c for c in build.cuda if (cuda_tuple(c) or (0, 0))[0] == ct[0]]
                if not built:
                    continue
                bt = cuda_tuple(built[-1]) or ct
                tag = f"{bt[0]}{bt[1]}" if rel.cuda_tag == "major_minor" else f"{bt[0]}"
                ver = public(version) or rel.versions[-1]
                pytag = "cp" + py.replace(".", "")
                name = self.flash_attn.wheel_filename.format(
                    version=ver,
                    cuda=tag,
                    torch=mm,
                    abi="TRUE" if abi else "FALSE",
                    py=pytag[2:],
                    platform=platform,
                )
                url = self.flash_attn.wheel_url.format(version=ver, filename=name)
                return FlashAttnWheel(ver, name, url, mm, tag, abi, pytag, rel.verified)
        return None

    def flash_attn_supports_cc(self, cc: str | None) -> bool | None:
        t, floor = cuda_tuple(cc), cuda_tuple(self.flash_attn.min_cc)
        if t is None or floor is None:
            return None
        return t >= floor

    # -- FlashAttention-3 ----------------------------------------------------------------------
    def flash_attn_3_runs_on(self, cc: str | None) -> bool | None:
        """Whether FlashAttention-3's kernels are built for this compute capability (None: unknown)."""
        if self.flash_attn_3 is None or not cc:
            return None
        return cc in self.flash_attn_3.ccs

    def flash_attn_3_misfit(
        self,
        torch: str | None,
        variant: str | None,
        python: str | None,
        machine: str | None,
        gpus: Sequence[tuple[str | None, str | None]],
    ) -> str | None:
        """Why no FlashAttention-3 wheel serves this torch build (``torch`` public version and
        ``variant``), Python, Linux machine and GPUs (name, compute capability); None: one does."""
        fa3 = self.flash_attn_3
        if fa3 is None:
            return "the matrix knows no FlashAttention-3 wheels"
        platform = "linux_aarch64" if (machine or "").lower() in ("aarch64", "arm64") else "linux_x86_64"
        if platform not in fa3.platforms:
            return f"no FlashAttention-3 wheel is known for {platform}"
        archs = ", ".join("sm_" + cc.replace(".", "") for cc in fa3.ccs)
        if not gpus or not all(cc for _n, cc in gpus):
            return f"FlashAttention-3 is planned for {archs} only, and no GPU's compute capability is known"
        off = [(n, cc) for n, cc in gpus if self.flash_attn_3_runs_on(cc) is False]
        if off:
            name, cc = off[0]
            return f"FlashAttention-3 is planned for {archs} only, and {name or 'the GPU'} is sm_{(cc or '').replace('.', '')}"
        if parse_version(torch) is None or Version(public(torch) or "0") < Version(fa3.min_torch):
            return f"FlashAttention-3 wheels need torch >= {fa3.min_torch} (its stable ABI), not {torch}"
        if variant not in fa3.variants:
            return f"PyTorch's {variant} index has no FlashAttention-3 wheel ({', '.join(fa3.variants)} have)"
        if python_mm(python) is None or not _contains(fa3.python, python_mm(python)):
            return f"FlashAttention-3 {fa3.version} needs Python {fa3.python}"
        return None

    def flash_attn_3_command(self, variant: str) -> str:
        """The pip commands that install FlashAttention-3 for a torch ``variant`` it serves: the
        wheel from PyTorch's index without dependencies (that index need not carry them), then those."""
        fa3 = self.flash_attn_3
        assert fa3 is not None
        index = fa3.index_url.format(variant=variant)
        deps = " ".join(fa3.dependencies)
        return f"pip install --no-deps --index-url {index} {fa3.distribution}=={fa3.version}" + (
            f" && pip install {deps}" if deps else ""
        )

    # -- bitsandbytes --------------------------------------------------------------------------
    def bnb_release(self, version: str | None) -> BnbRelease | None:
        if parse_version(version) is None:
            return None
        return next((r for r in self.bitsandbytes.releases if _contains(r.versions, version)), None)

    def bnb_selects_by_torch(self, version: str | None) -> bool | None:
        """True when this bitsandbytes picks its native library from torch's CUDA."""
        v = parse_version(version)
        if v is None:
            return None
        return Version(v.public) >= Version(self.bitsandbytes.torch_cuda_selection_since)

    def bnb_library_for(
        self, torch_cuda: str | None, libs: tuple[str, ...] | list[str], bnb_version: str | None
    ) -> str | None:
        """The library bitsandbytes ``bnb_version`` loads for torch's CUDA: the exact match; from
        ``same_major_fallback_since`` on, else the highest of the same major below, else the lowest
        of the same major above; never across majors. An unknown version gets the exact match only."""
        want = cuda_tuple(torch_cuda)
        if want is None:
            return None
        have: list[tuple[tuple[int, int], str]] = []
        for lib in libs:
            digits = lib.removeprefix("cuda")
            if lib.startswith("cuda") and digits.isdigit() and len(digits) >= 3:
                have.append(((int(digits[:-1]), int(digits[-1])), lib))
        same = sorted(h for h in have if h[0][0] == want[0])
        exact = [lib for t, lib in same if t == want]
        if exact or not self.bnb_falls_back(bnb_version):
            return exact[0] if exact else None
        below = [lib for t, lib in same if t < want]
        above = [lib for t, lib in same if t > want]
        picked = below[-1:] or above[:1]
        return picked[0] if picked else None

    def bnb_release_library(self, release: BnbRelease, torch_cuda: str | None) -> str | None:
        """The library a listed release (its oldest version) loads for torch's CUDA, or None."""
        return self.bnb_library_for(torch_cuda, release.cuda_libs or (), _lower_bound(release.versions))

    def bnb_falls_back(self, version: str | None) -> bool:
        """Whether this bitsandbytes release loads another library of torch's CUDA major when none
        matches exactly (before it, a missing exact match is an error)."""
        v, since = parse_version(version), self.bitsandbytes.same_major_fallback_since
        return v is not None and since is not None and Version(v.public) >= Version(since)

    def bnb_target(self, cuda: str | None) -> BnbTarget | None:
        """The GPU range the Linux x86_64 library for this CUDA was built for."""
        t = cuda_tuple(cuda)
        if t is None:
            return None
        text = f"{t[0]}.{t[1]}"
        return next((x for x in self.bitsandbytes.targets if _contains(x.cuda, text)), None)

    def bnb_for_cuda(
        self, cuda: str | None, torch_version: str | None = None, python: str | None = None
    ) -> BnbRelease | None:
        """The newest listed release shipping a library for ``cuda``'s major that accepts this
        torch and Python."""
        for rel in reversed(self.bitsandbytes.releases):
            if not rel.cuda_libs or self.bnb_release_library(rel, cuda) is None:
                continue
            if torch_version and rel.torch and not _contains(rel.torch, torch_version):
                continue
            if python and rel.python and not _contains(rel.python, python_mm(python)):
                continue
            return rel
        return None

    @staticmethod
    def bnb_install_command(rel: BnbRelease) -> str:
        low = _lower_bound(rel.versions)
        return f'pip install -U "bitsandbytes>={low}"' if low else "pip install -U bitsandbytes"

    # -- torchvision, torchaudio ----------------------------------------------------------------
    def _companion(self, package: str) -> Companion | None:
        return next((c for c in self.companions if c.package == package), None)

    def companion_torch_spec(self, package: str, version: str | None) -> str | None:
        """The torch this release of a companion needs, as a specifier: its torch minor exactly
        (``==2.6.*``), or from the companion's ``floor_from`` release that minor as a floor."""
        c, v = self._companion(package), parse_version(version)
        if c is None or v is None:
            return None
        torch = dict(c.torch_of).get(f"{v.major}.{v.minor}")
        if torch is None:
            return None
        floor = parse_version(c.floor_from)
        return f">={torch}" if floor is not None and Version(v.public) >= floor else f"=={torch}.*"

    def companion_for_torch(self, package: str, torch_version: str | None) -> str | None:
        """The companion's release line built for this torch, as a pip requirement
        (``torchvision==0.21.*``); None when the matrix does not pair them."""
        c, t = self._companion(package), parse_version(torch_version)
        if c is None or t is None:
            return None
        mine = next((m for m, tv in c.torch_of if tv == f"{t.major}.{t.minor}"), None)
        return f"{package}=={mine}.*" if mine else None

    # -- packages that do not work together ----------------------------------------------------
    def conflicts_among(self, versions: Mapping[str, str]) -> list[PackageConflict]:
        """The matrix's package conflicts that these installed versions (name -> version) meet:
        every package a row names is installed at a version its specifier contains."""
        return [
            c
            for c in self.package_conflicts
            if all(name in versions and _contains(spec, versions[name]) for name, spec in c.when)
        ]

    # -- packages built for one torch (torchao, torchcodec) -------------------------------------
    def release_for_torch(self, package: str, torch_version: str | None) -> str | None:
        """The newest release of ``package`` whose compiled parts were built for this torch's
        major.minor ([[torch_bound_release]])."""
        want = series(torch_version)
        fits = [
            (v, b.version)
            for b in self.torch_bound_releases
            if b.package == package and want in b.torch and (v := parse_version(b.version))
        ]
        return max(fits)[1] if fits else None

    # -- names that moved between releases ----------------------------------------------------
    def api_change(self, name: str, package: str | None = None) -> ApiChange | None:
        """The [[api_change]] row of a name (``Cache``, ``transformers.deepspeed``,
        ``LoraConfig(use_dora)``), of ``package`` when the error names it."""
        return next(
            (r for r in self.api_changes if name in r.names and package in (None, r.package)),
            None,
        )

    # -- cuDNN ---------------------------------------------------------------------------------
    def cudnn_major_of(self, package: str, version: str | None) -> int | None:
        """The cuDNN major this release of ``package`` links, when the matrix knows it."""
        if parse_version(version) is None:
            return None
        return next(
            (r.major for r in self.cudnn_majors if r.package == package and _contains(r.versions, version)),
            None,
        )

    def cudnn_release_for(self, package: str, major: int) -> str | None:
        """A pip requirement for the newest releases of ``package`` that link cuDNN ``major``
        (``ctranslate2>=4.0,<4.5``)."""
        rows = [r for r in self.cudnn_majors if r.package == package and r.major == major]
        return f"{package}{rows[-1].versions}" if rows else None

    # -- Hugging Face packages -----------------------------------------------------------------
    def hf_floor(self, package: str, version: str | None) -> HfFloor | None:
        """The metadata row (torch floor, Python floor) for one installed package version."""
        if parse_version(version) is None:
            return None
        return next((r for r in self.hf if r.package == package and _contains(r.versions, version)), None)

    def hf_compatible(self, package: str, torch_version: str | None) -> HfFloor | None:
        """The newest listed row of ``package`` whose torch requirement this torch meets."""
        for row in reversed(self.hf):
            if row.package == package and (not row.torch or _contains(row.torch, torch_version)):
                return row
        return None

    @staticmethod
    def hf_pin_below(row: HfFloor) -> str | None:
        """A pip requirement that stays within ``row`` (``"transformers<5.20"``)."""
        for s in SpecifierSet(row.versions):
            if s.operator in ("<", "<="):
                return f"{row.package}{s.operator}{s.version}"
            if s.operator == "==":
                return f"{row.package}=={s.version}"
        return None

    def transformers_masks_packed_rows(self, version: str | None) -> bool | None:
        """Whether this transformers keeps packed examples apart for sdpa, eager and
        flex_attention (a per-example mask from restarting position_ids); None when unknown."""
        v = parse_version(version)
        if v is None:
            return None
        return Version(v.public) >= Version(self.transformers.packed_sequence_detection_min)
