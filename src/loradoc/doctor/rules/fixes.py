"""Fixes that work as printed: shared by the rules and by ``doctor explain`` (for errors
recognised in a log when the snapshot's facts were too thin for a rule to answer).

Each ``_code`` function takes the recognised line's named groups (empty for a rule) and the
context, and returns a command to paste (or a ``set ... in ...`` change for a config or launch
command), or None when the facts do not decide one; the error table's own fix is the last
resort. Versions come from the matrix, never from here.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from loradoc.compat.versions import cuda_tuple, cuda_variant, local_tag, parse_version, public, variant_cuda
from loradoc.doctor.facts import visible_indices
from loradoc.doctor.rules.context import Context

Groups = dict[str, str]
# Which way round the C++ ABI of a flash-attn wheel was, by error-table entry.
FA_WHEEL_ABI = {
    "flash-attn-cxx11-wheel-on-old-abi-torch": True,
    "flash-attn-old-abi-wheel-on-cxx11-torch": False,
}
SOURCE_BUILD_FLASH_ATTN = "MAX_JOBS=4 pip install flash-attn --no-build-isolation"


def fix_for(code: str, groups: Groups, ctx: Context, entry_id: str = "") -> str | None:
    """A paste-able fix for ``code`` from the log's ``groups`` and ``ctx``, or None."""
    make = _FIXES.get(code)
    return make(groups, ctx, entry_id) if make else None


def python_fix(ctx: Context, *, bits32: bool = False) -> str | None:
    """No torch wheel for this Python: the newest torch that has one, else a venv with the newest
    Python torch supports. ``bits32``: pip ran in a 32-bit Python, for which no torch exists: a
    64-bit venv of the same (or the newest supported) Python. On Windows the venv is always made
    with the 64-bit interpreter (``py -3.X-64``): torch's Windows wheels are win_amd64 only."""
    m, py = ctx.matrix, ctx.python_mm
    if py is None and not bits32:
        return None
    choice = ctx.best_torch() if py is not None else None
    if choice is not None and not bits32:
        return choice.command
    want, install = m.torch[-1].python[-1], f"pip install torch=={m.latest_torch()}"
    if choice is not None and py is not None:  # a 32-bit Python torch supports: the same, 64-bit
        want, install = py, choice.command
    return venv_fix(want, install, windows=ctx.os_or_linux == "windows" or bits32)


def venv_fix(python: str, install: str, *, windows: bool) -> str:
    """A venv of CPython ``python`` ("3.12"), activated, then ``install``. On Windows through the
    py launcher's 64-bit interpreter (torch's Windows wheels are win_amd64 only)."""
    if windows:
        return f"py -{python}-64 -m venv .venv && .venv\\Scripts\\activate && {install}"
    return f"python{python} -m venv .venv && . .venv/bin/activate && {install}"


def driver_upgrade_fix(ctx: Context, minimum: str | None) -> str:
    """Install an NVIDIA driver of at least ``minimum`` (its branch, e.g. 570) and reboot: the
    distribution's packages on Linux (apt on Debian/Ubuntu and unknown distributions, dnf on the
    Red Hat family), NVIDIA's download page on Windows and under WSL, whose driver is Windows' own
    (a Linux driver must never be installed inside a WSL distribution)."""
    if ctx.os_or_linux == "windows":
        return "start https://www.nvidia.com/Download/index.aspx"
    if ctx.facts.wsl:  # from the WSL shell, Windows' own browser opens the page
        return "explorer.exe https://www.nvidia.com/Download/index.aspx"
    branch = (minimum or "").split(".")[0]
    if not branch.isdigit():
        return "sudo ubuntu-drivers install && sudo reboot"
    if _red_hat_family(ctx):
        return f"sudo dnf module install -y nvidia-driver:{branch}-dkms && sudo reboot"
    return f"sudo apt-get install -y nvidia-driver-{branch} && sudo reboot"


def _red_hat_family(ctx: Context) -> bool:
    release = (ctx.snapshot.os_release or "").lower()
    return any(name in release for name in ("centos", "red hat", "rhel", "rocky", "alma", "fedora", "oracle"))


def _python(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    windows = ctx.os_or_linux == "windows"
    if entry_id == "uv-no-torch-wheel-for-intel-mac":  # the last release with macOS x86_64 wheels
        intel = [r for r in ctx.matrix.torch if r.macos_x86_64]
        return f"pip install torch=={intel[-1].versions[-1]}" if intel else None
    if "python_need" in groups:  # a front-end tested with one Python: its requirements in a venv of it
        return venv_fix(groups["python_need"], "pip install -r requirements.txt", windows=windows)
    if "wheel" in groups:  # a wheel for another CPython: a venv of that Python, then the same wheel
        python = f"{groups['wheel_major']}.{groups['wheel_minor']}"
        return venv_fix(python, f"pip install {groups['wheel']}", windows=windows)
    # with the OS unknown, a Python the release has wheels for on every OS
    pythons = ctx.matrix.torch_pythons(groups.get("want_torch"), ctx.os, ctx.machine)
    if pythons and "python32" not in groups and ctx.python_mm not in pythons:
        # the pinned release (a project's requirement), in a venv of the newest Python it has wheels
        # for on this OS (torch 2.5.1: 3.13 on Linux x86_64 only)
        version, variant = groups["want_torch"], groups.get("want_variant") or groups.get("listed_variant")
        install = (variant and _pinned_torch_build(ctx, version, variant)) or f"pip install torch=={version}"
        return venv_fix(pythons[-1], install, windows=windows)
    return python_fix(ctx, bits32="python32" in groups)


def _pinned_torch_build(ctx: Context, version: str, variant: str) -> str | None:
    """A pinned torch build (``2.1.2`` with ``cu118``) from where it is published: its index for a
    release the matrix lists with that variant, else the previous-versions way (None if unknown)."""
    m = ctx.matrix
    if m.torch_release(version) is not None and variant in m.variants_for(version):
        return m.torch_install_command(version, variant, os=ctx.os_or_linux)
    return m.legacy_install_command(version, variant, ctx.os_or_linux)


def glibc_fix(ctx: Context, need_glibc: str | None = None) -> str:
    """The torch binary needs a newer glibc (``need_glibc``, from an ld.so error, when the
    system's is unknown): the newest torch whose wheels this glibc installs, else a container
    with a current glibc and a Python torch supports (the GPU passed through when there is one)."""
    m = ctx.matrix
    have = parse_version(ctx.snapshot.glibc)
    need = parse_version(need_glibc)
    fits = [
        r
        for r in m.torch
        if parse_version(r.glibc) is not None
        and (
            (have is not None and have >= parse_version(r.glibc))  # type: ignore[operator]
            or (have is None and need is not None and parse_version(r.glibc) < need)  # type: ignore[operator]
        )
    ]
    if fits:
        choice = ctx.best_torch(fits[-1].versions[-1])
        if choice is not None and choice.version in fits[-1].versions:
            return choice.command
    py = ctx.python_mm
    if py is None or not any(m.python_supported(v, py, "linux", ctx.machine) for v in m.torch_versions()):
        py = m.torch[-1].python[-1]
    gpus = "--gpus all " if ctx.has_nvidia_gpu else ""
    return f'docker run --rm -it {gpus}-v "$PWD":/work -w /work python:{py}-slim bash'


def _glibc(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    return glibc_fix(ctx, groups.get("glibc_need"))


def _processes(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """More processes than visible GPUs: one per visible GPU. The deepspeed launcher ignoring
    CUDA_VISIBLE_DEVICES: the same GPUs named with its --include."""
    if entry_id == "deepspeed-ignores-cuda-visible-devices" and groups.get("cvd"):
        return f"set --include localhost:{groups['cvd']} in place of --num_gpus in the deepspeed command"
    n = len(ctx.gpus) if ctx.gpus else _visible_count(ctx)
    if not n:
        return None
    fix = (
        f"set --nproc_per_node {n} in the torchrun command (accelerate launch: --num_processes {n}; "
        f"loradoc train: --num-processes {n})"
    )
    if entry_id == "invalid-device-ordinal-without-launcher":  # or one script asking for cuda:1
        fix += "\nor: set the device to cuda:0 in the script and choose the GPU with CUDA_VISIBLE_DEVICES"
    return fix


def _visible_count(ctx: Context) -> int | None:
    """How many GPUs CUDA_VISIBLE_DEVICES selects (read as CUDA reads it, doctor.facts); None when
    it is unset or names devices by UUID."""
    selected = visible_indices(ctx.snapshot)
    return len(selected) if selected is not None else None


def _fp8(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """fp8 matmuls on a GPU below Ada: the bf16 (fp16 before Ampere) weights instead; for
    accelerate's fp8 mixed precision, that precision in its config."""
    dtype = "fp16" if ctx.facts.supports("bf16") is False else "bf16"
    if entry_id == "accelerate-fp8-falls-back-to-fp16":
        return f"set mixed_precision to {dtype} instead of fp8 in the accelerate config"
    return f"set the weight dtype to {dtype} instead of fp8 in the model loader or training config"


def rocm_build_of_installed(ctx: Context) -> str | None:
    """The ROCm build of the installed torch's release, where the matrix records one."""
    t, m = ctx.torch, ctx.matrix
    rel = m.torch_release(t.public) if t is not None and t.public else None
    if t is None or not t.public or rel is None or not rel.rocm:
        return None
    return m.torch_install_command(t.public, f"rocm{rel.rocm}", force=True)


_PLAIN_RELEASE_ON_A_MAC = ("cuda-build-pinned-on-macos", "cuda-index-on-macos")


def _no_gpu(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """No NVIDIA GPU: a CUDA build pinned on a Mac, the plain release instead. No NVIDIA driver
    reached: on an AMD machine, the ROCm build of the installed torch (a CUDA
    build needs an NVIDIA GPU); in a container, the GPUs passed in; else the driver installed."""
    if entry_id in _PLAIN_RELEASE_ON_A_MAC:  # the release's own (plain) macOS build
        return f'pip install "{groups["index_pkg"]}=={groups["index_version"]}"'
    rocm = rocm_build_of_installed(ctx) if ctx.rocm_machine else None
    if rocm:
        return rocm
    env = ctx.snapshot.env
    if env is not None and env.in_container:
        return (
            "add --gpus all to the docker run command (compose: `gpus: all` on the service), with the NVIDIA "
            "Container Toolkit installed on the host"
        )
    if ctx.os == "windows":  # the driver comes from NVIDIA's download page there
        return driver_upgrade_fix(ctx, None)
    if "ubuntu" in (ctx.snapshot.os_release or "").lower():
        return "sudo ubuntu-drivers install"
    return None


def _driver_old(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The driver cannot run torch's CUDA (or JIT-compile a newer toolkit's PTX) and no torch build
    fits the facts: a driver that runs the newest torch's widest CUDA variant."""
    m = ctx.matrix
    latest = m.latest_torch()
    variants = m.variants_for(latest, machine=ctx.machine) if latest else []
    gpu = [v for v in variants if v != "cpu"]
    cuda = variant_cuda(gpu[0]) if gpu else None
    upgrade = driver_upgrade_fix(ctx, m.min_driver(cuda, ctx.os_or_linux) if cuda else None)
    old_torch = old_driver_torch(ctx)
    return f"{upgrade}\nor: {old_torch}" if old_torch else upgrade


def old_driver_torch(ctx: Context) -> str | None:
    """A driver that runs no torch build the matrix installs (one that cannot be upgraded: a
    shared cluster, a hosted notebook): the newest torch 1.x build it runs, for this Python."""
    if ctx.torch_choices(gpu=True):
        return None
    return ctx.matrix.legacy_torch_for_driver(
        driver=ctx.driver_version, cuda_max=ctx.cuda_max, os=ctx.os_or_linux, python=ctx.python_mm
    )


def _driver_mismatch(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """libcuda and the kernel module from different driver releases (Error 803): reinstall the
    driver package of the loaded module's branch, then reboot."""
    if ctx.os_or_linux != "linux":
        return None
    return (
        'sudo apt-get install -y --reinstall "nvidia-driver-$(modinfo -F version nvidia | cut -d. -f1)" '
        "&& sudo reboot"
    )


def _forward_compat(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """CUDA forward-compatibility libraries on a GPU that cannot use them (Error 804): take the
    compat folder off the loader path, so the host driver's libcuda is used."""
    return "export LD_LIBRARY_PATH=\"$(printf %s \"$LD_LIBRARY_PATH\" | tr ':' '\\n' | grep -v '/compat' | paste -sd:)\""


def flash_attn_fix(ctx: Context, abi: bool | None = None) -> str:
    """flash-attn for the installed torch: the prebuilt wheel for torch's series, CUDA major,
    C++ ABI (``abi`` when torch's is unknown) and Python when all are known; else the newest
    release with wheels for torch's series (its setup downloads the one that fits, under
    ``--no-build-isolation``); else a build against the installed torch. Over an installed
    flash-attn of that release (or of a version the facts do not give, or when no release is
    named) pip would keep it, or reuse the wheel it built against the old torch: the fix then
    reinstalls flash-attn alone, without pip's wheel cache."""
    command, version = _flash_attn_install(ctx, abi)
    installed = ctx.pkg("flash-attn")
    if installed is not None and (version is None or public(installed.version) in (None, public(version))):
        command = command.replace(
            "pip install ", "pip install --force-reinstall --no-deps --no-cache-dir ", 1
        )
    return command


def _flash_attn_install(ctx: Context, abi: bool | None) -> tuple[str, str | None]:
    """The command, and the flash-attn release it installs (None: whatever pip picks)."""
    t, m = ctx.torch, ctx.matrix
    if t is None:
        return SOURCE_BUILD_FLASH_ATTN, None
    abi = t.cxx11_abi if t.cxx11_abi is not None else abi
    # the installed release's wheel for this torch (the other ABI or CUDA major) before the newest
    installed = ctx.pkg("flash-attn")
    same = public(installed.version) if installed is not None else None
    for version in dict.fromkeys((same, None)):
        wheel = m.flash_attn_wheel(t.public, t.cuda, abi, ctx.snapshot.python, version, machine=ctx.machine)
        if wheel is not None:
            return wheel.command, wheel.version
    # torch's CUDA (a plain version is PyPI's default build), else every CUDA of its series
    every = [] if t.cuda else [variant_cuda(v) for v in m.variants_for(t.public, machine=ctx.machine)]
    cudas = [t.cuda] if t.cuda else [c for c in every if c]
    version = m.flash_attn_for_torch(t.public, cudas, abi, ctx.snapshot.python, ctx.machine)
    if version is not None:
        return SOURCE_BUILD_FLASH_ATTN.replace("flash-attn", f"flash-attn=={version}"), version
    return SOURCE_BUILD_FLASH_ATTN, None


def _flash_attn_missing(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """flash-attn for the installed torch; with a ROCm torch (or AMD GPUs and no NVIDIA one),
    where flash-attn has no wheel to install, PyTorch SDPA instead."""
    t = ctx.torch
    if (t is not None and (t.variant or "").startswith("rocm")) or (
        ctx.facts.amd_gpus and ctx.has_nvidia_gpu is not True
    ):
        return ctx.attention_fix("sdpa")
    return flash_attn_fix(ctx) if t is not None else None


def _flash_attn(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A flash-attn build that does not fit torch (when the log shows the wheel's ABI, the
    other one is torch's)."""
    return flash_attn_fix(ctx, not FA_WHEEL_ABI[entry_id] if entry_id in FA_WHEEL_ABI else None)


def _flash_attn_3(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """FlashAttention-3 from PyTorch's index for the installed torch's build, where the matrix's
    [flash_attn_3] serves it and the GPUs are Hopper; else FlashAttention-2's attention setting."""
    t, m = ctx.torch, ctx.matrix
    if m.flash_attn_3 is None or t is None or not t.variant:
        return None
    gpus = [(g.name, g.cc) for g in ctx.gpus]
    if m.flash_attn_3_misfit(t.public, t.variant, ctx.snapshot.python, ctx.machine, gpus) is None:
        return m.flash_attn_3_command(t.variant)
    return ctx.attention_fix("flash_attention_2")


def _wandb(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    return WANDB_FIX


# Log in once (writes ~/.netrc); for a job, the key read without echoing it or writing it to the
# shell history; or no W&B at all.
WANDB_FIX = (
    "wandb login\n"
    "or: read -rsp 'W&B API key: ' WANDB_API_KEY && export WANDB_API_KEY\n"
    "or: export WANDB_MODE=offline"
)


def _companion_pins(groups: Groups, ctx: Context) -> str | None:
    """A torchvision (torchaudio) pin for another torch than the torch pin: the torch pin kept, with
    the companion's release line built for it (the matrix's [[companion]]), from the pin's index."""
    want, companion = groups.get("want_torch"), groups.get("companion")
    if not want or not companion:
        return None
    variant = local_tag(want) or local_tag(groups.get("comp_version") or "")
    index = f" --index-url {ctx.matrix.index_url(variant)}" if variant else ""
    line = ctx.matrix.companion_for_torch(companion, want)
    if line is None:  # unpaired in the matrix: the torch the companion's pin requires
        return f'pip install "torch=={groups["comp_torch"]}" "{companion}=={groups["comp_version"]}"{index}'
    return f'pip install "torch=={want}" "{line}"{index}'


def _torch_cuda_wheels(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """torch installed without the NVIDIA wheels it depends on: the same release asked for again,
    which pip counts as installed and so adds only the missing dependencies (from the build's
    index, which carries them; the installed release read at run time when the facts lack it)."""
    t = ctx.torch
    if t is not None and t.public and t.variant and t.variant != "cpu":
        return ctx.matrix.torch_install_command(t.public, t.variant, os=ctx.os_or_linux)
    if t is not None and t.public:
        return f'pip install "torch=={t.public}"'
    read = '\'import importlib.metadata as m; print(m.version("torch").split("+")[0])\''
    return f'pip install "torch==$(python -c {read})"'


# what the installed torch says of itself, for a fix that must work without the facts
_TORCH_PUBLIC = "'import torch; print(torch.__version__.split(\"+\")[0])'"
_TORCH_VARIANT = (
    "'import torch; c, h = torch.version.cuda, torch.version.hip; "
    'print("cu" + c.replace(".", "") if c else "rocm" + ".".join(h.split(".")[:2]) if h else "cpu")\''
)


def _companions(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """torchvision built for another torch: the installed torch's build again, with the
    companions that match it (torchvision, torchaudio move with torch). A torch too old for a
    package's API: the newest torch that fits the machine, of the installed build's kind."""
    t = ctx.torch
    if entry_id == "launcher-torch-pin-replaced":  # the build the launcher pins, from its index
        command = _pinned_torch_build(ctx, groups["want_torch"], groups["want_variant"])
        return command.replace("pip install ", "pip install --force-reinstall ", 1) if command else None
    if entry_id == "companion-pin-against-torch-pin":
        return _companion_pins(groups, ctx)
    if entry_id == "package-pin-against-torch-pin":  # the torch that release pins, installed with it
        return f'pip install "torch=={groups["pkg_torch"]}" "{groups["package"]}=={groups["pkg_version"]}"'
    if entry_id == "torchcodec-built-for-other-torch":  # the torchcodec built for this torch
        return bound_release_fix(ctx, "torchcodec", t.public if t is not None else None)
    if entry_id == "torchao-kernels-abort":  # the torchao built for this torch, where the matrix knows it
        return bound_release_fix(ctx, "torchao", t.public if t is not None else None)
    if entry_id == "torchao-built-for-newer-torch":  # the torchao built for this torch, else torch's floor
        have = t.public if t is not None else groups.get("have_torch")
        torchao = bound_release_fix(ctx, "torchao", have)
        newer = (
            _newer_torch(ctx, have, t.variant if t else None, groups["need_torch"])
            if "need_torch" in groups
            else None
        )
        if torchao is None:
            return newer
        return torchao + (f"\nor: {newer.splitlines()[0]}" if newer else "")
    if entry_id == "package-states-torch-floor":  # the floor is stated: met with torch missing too
        return _newer_torch(ctx, t.public if t else None, t.variant if t else None, groups.get("need_torch"))
    if entry_id in ("torch-older-than-package", "torch-load-needs-torch-2-6"):
        row = ctx.matrix.api_change(groups.get("attr") or "", "torch")
        if t is None or t.public is None:  # the release that added the name, where the matrix knows it
            return _newer_torch(ctx, None, None, row.added) if row is not None and row.added else None
        return _newer_torch(ctx, t.public, t.variant, None)
    if entry_id == "torch-six-removed":  # DeepSpeed when installed, else which package imports it
        if ctx.pkg("deepspeed") is not None:
            return "pip install -U deepspeed"
        site = "$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')"
        return f"grep -rl --include='*.py' 'torch._six' \"{site}\""
    named = (groups.get("package") or "").lower() or None  # "TorchAudio" as torchaudio words it
    pyg = (named or "").replace("_", "-")
    if pyg in ctx.matrix.pyg_packages and t is not None and t.public and t.variant:
        # PyG's companions: the wheel built for the installed torch, from PyG's page for it
        page = ctx.matrix.pyg_wheel_page(t.public, t.variant)
        return f"pip install --force-reinstall {pyg} -f {page}" if page else None
    if named and named not in ("torchvision", "torchaudio"):
        # another package's extension: reinstalling that release brings back the torch it pins
        pkg = ctx.pkg(named)
        version = pkg.version if pkg is not None and pkg.version else groups.get("pkg_version")
        pin = f"=={public(version) or version}" if version else ""
        return f'pip install --force-reinstall "{named}{pin}"'
    default = ("torchvision", "torchaudio") if entry_id == "cuda-companion-on-cpu-torch" else ("torchvision",)
    companions = ctx.companions or ((named,) if named else default)
    if t is None or t.public is None:  # at most torch's CUDA is known: reinstall them from its index
        p = ctx.pkg("torch")
        variant = cuda_variant(p.cuda) if p is not None and p.cuda else None
        if variant is None:  # nothing known: the installed torch's version and index, read at run time
            return (
                f'pip install --force-reinstall "torch==$(python -c {_TORCH_PUBLIC})" {" ".join(companions)} '
                f'--index-url "{ctx.matrix.index_url("$(python -c " + _TORCH_VARIANT + ")")}"'
            )
        together = " ".join(("torch", *companions))
        return f"pip install --force-reinstall {together} --index-url {ctx.matrix.index_url(variant)}"
    # the installed build's own variant when it still fits (the smallest change), else the best
    choices = ctx.torch_choices(t.public, gpu=t.variant not in (None, "cpu"))
    choice = next((c for c in choices if c.variant == t.variant), choices[0] if choices else None)
    if choice is None or choice.version != t.public:
        return None
    # pip leaves an installed torchvision alone unless told: it counts as satisfying the request
    return ctx.matrix.torch_install_command(
        t.public, choice.variant, os=ctx.os_or_linux, extra=tuple(companions), force=True
    )


def bound_release_fix(ctx: Context, package: str, torch_version: str | None) -> str | None:
    """The install of the release of ``package`` built for this torch (the matrix's
    [[torch_bound_release]]); a row naming a series (triton-windows' "3.4") pins its newest patch."""
    release = ctx.matrix.release_for_torch(package, torch_version)
    if release is None:
        return None
    return (
        f'pip install "{package}=={release}.*"'
        if release.count(".") == 1
        else f"pip install {package}=={release}"
    )


def bnb_fix(ctx: Context) -> str | None:
    """The bitsandbytes release with a library for torch's CUDA (and torch, Python), from the matrix."""
    t, m = ctx.torch, ctx.matrix
    rel = m.bnb_for_cuda(t.cuda, t.public, ctx.snapshot.python) if t and t.cuda else None
    return m.bnb_install_command(rel) if rel else None


def _transformers_for_torch(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The newest transformers that accepts the installed torch (the log's version when the facts
    have none), from the matrix's HF rows."""
    m, t = ctx.matrix, ctx.torch
    have = t.public if t is not None else (groups.get("have_torch") or "").split("+")[0]
    row = m.hf_compatible("transformers", have) if have else None
    pin = m.hf_pin_below(row) if row else None
    return f'pip install "{pin}"' if pin else None


def _bnb(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The release with a library for torch's CUDA; without torch in the facts, for the CUDA of
    the library a torch-selecting release (0.43.1+) looked for (libbitsandbytes_cuda129 -> 12.9)."""
    digits = groups.get("bnb_cuda", "")
    if (
        entry_id
        in ("bnb-linux-build-on-windows", "bnb-linux-library-on-windows", "bnb-windows-fork-cuda-setup")
        and ctx.matrix.bitsandbytes.windows_since
    ):
        return f'pip install -U "bitsandbytes>={ctx.matrix.bitsandbytes.windows_since}"'
    if entry_id == "bnb-native-missing" and ctx.torch is None and len(digits) >= 3:
        m = ctx.matrix
        rel = m.bnb_for_cuda(f"{int(digits[:-1])}.{digits[-1]}", None, ctx.snapshot.python)
        return m.bnb_install_command(rel) if rel else None
    return bnb_fix(ctx)


def gfx_override(ctx: Context, targets: list[str], built: list[str] | None = None) -> str | None:
    """The matrix's ``[[rocm_override]]`` for these gfx targets (a family whose cards run one
    member's kernels, not supported by AMD) as a command; None where none applies (those need
    torch built for them). ``built``: the targets the build carries, when known."""
    o = ctx.matrix.rocm_override_for(targets, built)
    return f"export HSA_OVERRIDE_GFX_VERSION={o.value}" if o else None


def _rocm_gfx(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The family override where one applies (the GPUs' targets, else the one the log names);
    otherwise the error table's own fix."""
    targets = [str(g.gfx) for g in ctx.facts.amd_gpus if g.gfx] or (
        [groups["gfx"]] if groups.get("gfx") else []
    )
    return gfx_override(ctx, targets)


def _newer_torch(ctx: Context, installed: str | None, variant: str | None, need: str | None) -> str | None:
    """A torch newer than ``installed``, of its kind (GPU or CPU). With the driver unknown, an
    installed CUDA build says which CUDA major this machine runs: builds of it and below rank
    alike (compat.choose's ``cuda_floor``), so the newest release of that major comes first, with
    newer majors as ``or:`` lines. With the floor the package states (``need``): the first build
    at or above it in that order. Without one (an API the installed torch lacks): the newest
    release, which has every API, where the driver is known to run it; with the driver unknown,
    the newest release of the installed build's CUDA major."""
    ran = variant_cuda(variant) if variant and variant != "cpu" else None
    driver_unknown = not (ctx.driver_version or ctx.cuda_max)
    gpu = None if variant is None else variant != "cpu"
    if gpu is None and ctx.os == "windows" and ctx.has_nvidia_gpu is not False:
        gpu = True  # PyPI's Windows wheel is CPU-only; a CUDA build also runs where no GPU is
    choices = ctx.torch_choices(gpu=gpu, cuda_floor=ran)
    have, floor = parse_version(installed), parse_version(need)
    newer = [
        (v, c) for c in choices if (v := parse_version(c.version)) is not None and (have is None or v > have)
    ]
    if floor is not None:
        fitting = [c for v, c in newer if v >= floor]
        return fitting[0].command_or_newer if fitting else None
    if not newer:
        return None
    if ran and driver_unknown:
        return newer[0][1].command_or_newer
    return max(newer, key=lambda vc: vc[0])[1].command  # the first of the newest release's builds


def _bnb_arch(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """bitsandbytes' kernels lack this GPU's architecture: build it from source for the GPU's
    compute capability (the facts', else the one nvidia-smi reports), as bitsandbytes documents."""
    ccs = sorted({cc.replace(".", "") for cc in ctx.ccs})
    return (
        "git clone https://github.com/bitsandbytes-foundation/bitsandbytes.git && cd bitsandbytes && "
        f'cmake -DCOMPUTE_BACKEND=cuda -DCOMPUTE_CAPABILITY="{";".join(ccs)}" -S . && make && pip install .'
        if ccs
        else None  # the error table's build, for the capability nvidia-smi reports
    )


def _build_isolation(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """An extension built without torch in its isolated build environment: torch first (the build
    for this machine when none is installed), the build tools, then the extension against it."""
    package = (groups.get("package") or "flash-attn").replace("_", "-")
    version = groups.get("pkg_version")
    steps = []
    if ctx.torch is None and entry_id != "build-env-collects-another-torch":  # that build had a torch
        choice = ctx.best_torch(gpu=True)
        if choice is not None:
            steps.append(choice.command)
    steps.append("pip install ninja packaging")
    steps.append(f"pip install --no-build-isolation {package}{'==' + version if version else ''}")
    return " && ".join(steps)


def _cudnn_fix(groups: Groups, ctx: Context) -> str | None:
    """A library that finds no cuDNN of its major: CTranslate2 (in the log or the facts) of the
    cuDNN the environment has (torch's, when known; else the other major than the missing one);
    another library, NVIDIA's pip cuDNN of that major on the loader path, unless torch pins the
    other major (pip would replace torch's). onnxruntime's CUDA provider needing a newer cuDNN
    than the installed torch links (it loads torch's when torch is imported first): a torch whose
    cuDNN is that major."""
    need = int(groups["cudnn_major"])
    m, t = ctx.matrix, ctx.torch
    have = m.cudnn_major_of("torch", t.public) if t is not None else None
    if "ort" in groups and t is not None and have is not None and have < need:
        ort_cuda = groups.get("ort_cuda", "")
        builds = (
            ctx.torch_choices_of_major(None, int(ort_cuda))
            if ort_cuda.isdigit()
            else ctx.torch_choices(gpu=True)
        )
        newer = [c for c in builds if m.cudnn_major_of("torch", c.version) == need]
        return newer[0].command if newer else None
    if "ct2" in groups or ctx.pkg("ctranslate2") is not None:
        at_hand = have if have is not None and have != need else None
        if at_hand is None:  # torch unknown: the other major torch's wheels have brought
            at_hand = next(
                (r.major for r in reversed(m.cudnn_majors) if r.package == "torch" and r.major != need), None
            )
        release = m.cudnn_release_for("ctranslate2", at_hand) if at_hand is not None else None
        return f'pip install "{release}"' if release else None
    if (have is not None and have != need) or ctx.os_or_linux == "windows":
        return None
    cuda = (cuda_tuple(t.cuda) or (12,))[0] if t is not None and t.cuda else 12
    return _pip_nvidia_library("cudnn", f'"nvidia-cudnn-cu{cuda}=={need}.*"')


# a CUDA library's NVIDIA pip wheel (without its -cuNN suffix) and the nvidia.<module> it installs
_NVIDIA_WHEELS = {
    "libcublas": ("cublas", "nvidia-cublas"),
    "libcublasLt": ("cublas", "nvidia-cublas"),
    "libnvrtc": ("cuda_nvrtc", "nvidia-cuda-nvrtc"),
}


def _pip_nvidia_library(module: str, requirement: str) -> str:
    """NVIDIA's pip wheel of a CUDA library (``nvidia.cublas``, ``nvidia.cudnn``) installed and put
    on the loader path, for a package that looks for it there rather than beside torch."""
    return f"pip install {requirement} && {_nvidia_library_first(module)}"


def _nvidia_library_first(module: str) -> str:
    """The lib folder of NVIDIA's pip wheel ``nvidia.<module>`` first on the loader path."""
    lib = f"$(python -c 'import nvidia.{module}; print(nvidia.{module}.__path__[0])')/lib"
    return f'export LD_LIBRARY_PATH="{lib}:$LD_LIBRARY_PATH"'


def _fabric_manager(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """Fabric Manager of the driver's branch (from the same repository as the driver, so of its
    version), enabled and started; the branch read at run time when the facts do not give it."""
    fm = ctx.matrix.fabric_manager
    if fm is None:
        return None
    branch = (ctx.driver_version or "").split(".")[0]
    if not branch.isdigit():
        branch = "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1 | cut -d. -f1)"
    package = fm.apt_package.replace("{branch}", branch)
    return f'sudo apt-get install -y "{package}" && sudo systemctl enable --now {fm.service}'


# The loader's own directories: a library there comes from a distribution package, not from
# LD_LIBRARY_PATH, so editing LD_LIBRARY_PATH cannot take it out of the way.
_SYSTEM_LIB_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib64",
)


def _shadowing_library(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A cuDNN 8 that Ubuntu's libcudnn8 package put in the loader's own directory: remove that
    package; an older nvJitLink found before the one torch's cuSPARSE needs (a toolkit's, through
    ld.so.conf as often as LD_LIBRARY_PATH): torch's pip nvJitLink first on the loader path;
    elsewhere, the entry's own fix takes the CUDA directories off LD_LIBRARY_PATH."""
    where, major = groups.get("shadow_dir", ""), groups.get("shadow_cudnn", "")
    if where.rstrip("/") in _SYSTEM_LIB_DIRS and major == "8":
        return "sudo apt-get remove -y libcudnn8 libcudnn8-dev"
    if entry_id == "pip-nccl-wheels-of-two-cuda-majors":  # keep the wheel of torch's CUDA major
        majors = [groups["nccl_old"], groups["nccl_new"]]
        cuda = cuda_tuple(ctx.torch.cuda) if ctx.torch is not None else None
        torch_major = str(cuda[0]) if cuda else None
        keep = torch_major if torch_major in majors else majors[1]
        drop = majors[0] if keep == majors[1] else majors[1]
        return (
            f"pip uninstall -y nvidia-nccl-cu{drop} && "
            f"pip install --force-reinstall --no-deps nvidia-nccl-cu{keep}"
        )
    if groups.get("jitlink_symbol"):  # torch's own nvJitLink wheel (a dependency of its cuSPARSE) first
        return _nvidia_library_first("nvjitlink")
    return None


def _torch_of_cuda_major(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """An extension that needs libcudart.so.N next to a torch of another CUDA major: torch (the
    installed release when it has such a build) of major N, so the extension's pin still holds;
    with no torch of major N, the command that lists the extension files needing it. A package
    missing cuBLAS N (CTranslate2): NVIDIA's pip cuBLAS of that major on the loader path; one
    missing a cuDNN major: see ``_cudnn_fix``. The log's facts (groups) say which it is."""
    if groups.get("cudnn_major", "").isdigit():
        return _cudnn_fix(groups, ctx)
    major = groups.get("cuda_major")
    if not major or not major.isdigit():
        return None
    if "cuda_lib" in groups:  # a library other than libcudart (cuBLAS, NVRTC) of that major
        module, wheel = _NVIDIA_WHEELS.get(groups["cuda_lib"], _NVIDIA_WHEELS["libcublas"])
        return _pip_nvidia_library(module, f"{wheel}-cu{major}")
    t = ctx.torch
    for version in ((t.public,) if t is not None and t.public else ()) + (None,):
        same = ctx.torch_choices_of_major(version, int(major))
        if same:
            return same[0].command
    # no torch of that major (CUDA 10): which extension files need it, to reinstall their package
    site = "$(python -c 'import sysconfig; print(sysconfig.get_paths()[\"platlib\"])')"
    return f"grep -rl --include='*.so' 'libcudart[.]so[.]{major}' \"{site}\""


def _host_compiler(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """nvcc refuses a gcc newer than its CUDA supports, and names the newest it takes: that gcc
    installed beside the system's and named in CC and CXX, which torch's extension builds hand to
    nvcc (``-ccbin $CC``); on the Red Hat family, its gcc-toolset."""
    newest = groups.get("gcc_max", "")
    below = groups.get("gcc_below", "")
    if not newest.isdigit() and below.isdigit():  # "(>=6.0.0, <13.0)": the gcc below the bound
        newest = str(int(below) - 1)
    if not newest.isdigit():
        return None
    if _red_hat_family(ctx):
        bin_dir = f"/opt/rh/gcc-toolset-{newest}/root/usr/bin"
        return f"sudo dnf install -y gcc-toolset-{newest} && export CC={bin_dir}/gcc CXX={bin_dir}/g++"
    return f"sudo apt-get install -y gcc-{newest} g++-{newest} && export CC=gcc-{newest} CXX=g++-{newest}"


def _c_compiler(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """No C/C++ compiler for Triton's launcher, inductor or an extension build: the distribution's
    compilers (build-essential on Debian/Ubuntu, gcc and gcc-c++ on the Red Hat family); on
    Windows, Triton's own build with a bundled compiler (triton-windows), else MSVC's Build Tools
    (the windows-msvc-missing entry's fix)."""
    if ctx.os_or_linux == "windows":
        if entry_id == "triton-no-c-compiler":
            return "pip install -U triton-windows"
        return next((e.fix for e in ctx.matrix.errors if e.code == "windows-msvc-missing"), None)
    if _red_hat_family(ctx):
        return "sudo dnf install -y gcc gcc-c++"
    return "sudo apt-get install -y build-essential"


def _python_headers(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """Python.h missing: the development package of this interpreter's version."""
    py = ctx.python_mm
    if _red_hat_family(ctx):
        return f"sudo dnf install -y python{py}-devel" if py else "sudo dnf install -y python3-devel"
    return f"sudo apt-get install -y python{py}-dev" if py else "sudo apt-get install -y python3-dev"


def _rust_package(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A Rust-built package pip had to build: its release with wheels for this Python (the one the
    log names; tokenizers, the usual one, otherwise), then a newer pip, which sees newer wheel tags."""
    package = groups.get("rust_package") or "tokenizers"
    return f"pip install -U {package}\nor: python -m pip install -U pip && pip install -U {package}"


def _xformers_pins(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """Pinned torch and xformers that pip cannot resolve: the xformers release built for the
    wanted torch where the matrix knows one, else the torch that xformers release requires."""
    if entry_id != "xformers-pin-against-torch-pin" or "xf_torch" not in groups:
        return None
    want = groups.get("want_torch")
    release = ctx.matrix.xformers_for_torch(want, ctx.snapshot.python) if want else None
    if release is not None and want and public(want) != public(groups["xf_torch"]):
        return (
            f"set xformers=={release.version} (the release built for torch {want}) in the requirements file"
        )
    return f"set torch=={groups['xf_torch']} (the torch xformers {groups['xf_version']} requires) in the requirements file"


def _hub_mirror(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The Hub unreachable: a mirror; where the repository is known, its files fetched into the
    cache (where the Hub is reachable) and used offline."""
    mirror = (
        "set HF_ENDPOINT=https://hf-mirror.com"
        if ctx.os_or_linux == "windows"
        else "export HF_ENDPOINT=https://hf-mirror.com"
    )
    repo = groups.get("hf_repo")
    return f"{mirror}\nor: hf download {repo} && export HF_HUB_OFFLINE=1" if repo else mirror


def _venv_module(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A venv made without ensurepip: Debian's venv package of the interpreter that made it (the
    version its failed ensurepip command names, else the facts'), then the venv made again."""
    py = groups.get("venv_python") or ctx.python_mm
    return f"sudo apt-get install -y python{py}-venv" if py else None


def _python_for_package(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A package whose Requires-Python (or a trainer's own version check) leaves this interpreter
    out: a venv of the newest CPython inside its range (of those the matrix's torch releases
    support), and the release installed there; for a trainer, its venv made again."""
    windows = ctx.os_or_linux == "windows"
    if entry_id.startswith("distutils-gone"):
        have = parse_version(ctx.python_mm)
        if have is not None and have < Version("3.12") and not windows:  # Debian's split package
            return "sudo apt-get install -y python3-distutils"
        if entry_id == "distutils-gone-at-run-time":  # setuptools' shim brings it back on 3.12
            return "pip install -U setuptools"
        return venv_fix("3.11", "pip install -U pip setuptools wheel", windows=windows)  # the pin kept
    if entry_id == "wheel-for-another-python":  # the same release; pip picks this Python's wheel
        name, version = groups["wheel_name"].replace("_", "-").lower(), groups["wheel_version"]
        if local_tag(version):  # a release asset's tag (flash-attn's +cu12torch2.5cxx11abiFALSE): not on
            # PyPI; its plain release there picks (or builds) the wheel for this Python and torch
            build = " --no-build-isolation" if name == "flash-attn" else ""
            return f"pip install {name}=={public(version)}{build}"
        return f"pip install {name}=={version}"
    low, below = groups.get("py_min"), groups.get("py_below")
    if groups.get("py_minors"):  # kohya_ss's list of minors: 3.[9, 10]
        minors = [int(m) for m in groups["py_minors"].split(",")]
        low, below = f"3.{min(minors)}", f"3.{max(minors) + 1}"
    try:
        spec = SpecifierSet(f">={low},<{below}" if low and below else groups.get("python_spec", ""))
    except InvalidSpecifier:
        return None
    known = sorted(
        {py for r in ctx.matrix.torch for py in r.python}, key=lambda py: tuple(map(int, py.split(".")))
    )
    fits = [py for py in known if spec.contains(py) and py != groups.get("have_python")]
    if not fits:
        return None
    release = groups.get("package_release", "")
    name, _, version = release.rpartition("-")
    if not name:  # a trainer's own check: its venv, made again with that Python (its installer then reruns)
        py = fits[-1]
        return f"py -{py} -m venv --clear venv" if windows else f"python{py} -m venv --clear venv"
    return venv_fix(fits[-1], f"pip install {name}=={version}", windows=windows)


def _system_library(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """OpenCV's GUI libraries from the system's packages: dnf's names on the Red Hat family; for
    DeepSpeed's async_io op, libaio's development package."""
    if entry_id == "deepspeed-aio-without-libaio":
        return "sudo dnf install -y libaio-devel" if _red_hat_family(ctx) else None
    if _red_hat_family(ctx):
        return (
            "sudo dnf install -y mesa-libGL glib2 libSM libXext\n"
            "or: pip uninstall -y opencv-python opencv-contrib-python && pip install opencv-python-headless"
        )
    return None


# NumPy's C-API version of its first 2.x release (numpy/_core/code_generators/cversions.txt)
_NUMPY2_API = 0x12


def _numpy(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A module built against a newer NumPy C-API than the installed NumPy: NumPy 2 when it was
    built against 2.x, else the newest 1.x (torch before 2.3 and its peers need NumPy 1)."""
    built = groups.get("numpy_built")
    if built is None:
        return None
    return 'pip install -U "numpy<2"' if int(built, 16) < _NUMPY2_API else "pip install -U numpy"


def _triton(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """Triton for this torch: triton-windows on Windows; on Linux the installed torch build again,
    which makes pip install the triton release it pins (a bare ``pip install triton`` may not be)."""
    if ctx.os_or_linux == "windows":
        return "pip install -U triton-windows"
    t = ctx.torch
    if (
        t is not None
        and t.public
        and t.variant
        and t.variant != "cpu"
        and ctx.matrix.is_known_torch(t.public)
    ):
        return ctx.matrix.torch_install_command(t.public, t.variant, os=ctx.os_or_linux)
    return None


def _hf_dependency(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """transformers' own range for a dependency, as its import check prints it; or a transformers
    release whose range takes the installed one. flashinfer's kernel package at flashinfer's
    release; a package of the stack older than its importer, upgraded; the vLLM that TRL's own
    version check names."""
    if entry_id == "trl-vllm-outside-its-range":  # the vLLM that TRL's own check names
        if groups.get("vllm_exact"):
            return f"pip install vllm=={groups['vllm_exact']}"
        if groups.get("vllm_low") and groups.get("vllm_high"):
            return f'pip install "vllm>={groups["vllm_low"]},<={groups["vllm_high"]}"'
        return None
    if entry_id == "flashinfer-kernel-package-drift":
        return _flashinfer_kernels(groups)
    if entry_id == "pip-reports-dependency-conflict" and groups.get("dep"):  # what the package asks for
        return f'pip install "{groups["dep"]}{groups["dep_spec"]}"'
    if entry_id == "triton-of-another-series-than-torch":
        return _triton_of_torch(ctx)
    if entry_id == "torchvision-functional-tensor-import":  # the importer's line, not torch, moves
        new_module = "torchvision.transforms.functional"
        edit = f"s/torchvision[.]transforms[.]functional_tensor/{new_module}/"
        return f"sed -i {shlex.quote(edit)} {shlex.quote(groups['importer'])}"
    if entry_id == "stack-package-older-than-its-importer" and groups.get("package"):
        return f"pip install -U {groups['package']}"
    requirement = groups.get("requirement")
    return f'pip install "{requirement}"\nor: pip install -U transformers' if requirement else None


def _triton_of_torch(ctx: Context) -> str | None:
    """The Triton of the installed torch's series: on Windows the matrix's triton-windows series
    for it; elsewhere the triton that torch's own Requires-Dist pins, read where it is installed."""
    if ctx.os_or_linux == "windows":
        t = ctx.torch
        return bound_release_fix(ctx, "triton-windows", t.public if t is not None else None)
    pin = (
        "import importlib.metadata as m; "
        "print(next(r.split(';')[0] for r in m.requires('torch') if r.startswith('triton')))"
    )
    return f'pip install "$(python -c "{pin}")"'


def _pytorch_index(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A build with a local tag pinned where only PyPI is read: the same pin from the PyTorch
    index of its variant. A conda cudatoolkit the channels lack: conda-forge's (through 11.x), or
    for CUDA 12, which has no cudatoolkit, the pytorch channel's pytorch-cuda."""
    major = groups.get("conda_cudatoolkit")
    if entry_id == "conda-cudatoolkit-not-in-channels" and major:
        if int(major) >= 12:
            cuda = f"{major}.{groups['conda_cudatoolkit_minor']}"
            return f"replace cudatoolkit={cuda} with pytorch-cuda={cuda} in the conda install command (with -c pytorch -c nvidia)"
        return None
    if entry_id == "pytorch-index-variant-does-not-exist":  # the build the driver runs, from a real index
        choice = ctx.best_torch(gpu=True)
        return choice.command if choice else None
    if entry_id == "torch-nightly-pin-expired":
        return _after_expired_nightly(groups, ctx)
    package, version, variant = (groups.get(k) for k in ("index_pkg", "index_version", "index_variant"))
    if not (package and version and variant):
        return None
    if entry_id in ("pytorch-variant-index-lacks-release", "uv-plain-pin-not-on-index"):
        return _release_from_another_variant(ctx, version, variant)
    return f'pip install "{package}=={version}+{variant}" --index-url {ctx.matrix.index_url(variant)}'


def _after_expired_nightly(groups: Groups, ctx: Context) -> str | None:
    """A dated nightly the index dropped: the release of its series where the matrix has it (from
    the nearest variant's index), else today's nightly of the same variant."""
    package, base, variant = (groups.get(k) for k in ("index_pkg", "nightly_base", "index_variant"))
    if not (package and base):
        return None
    if package == "torch" and ctx.matrix.torch_release(base) is not None:
        if variant:
            return _release_from_another_variant(ctx, base, variant)
        choices = ctx.torch_choices(base, gpu=True)  # the variant unknown: the build for this machine
        return choices[0].command if choices else None
    return (
        f"pip install --pre {package} --index-url {ctx.matrix.index_url(variant, 'nightly')}"
        if variant
        else None
    )


def _release_from_another_variant(ctx: Context, version: str, variant: str) -> str | None:
    """The release a variant's index lacks, from the index of the nearest variant that has it:
    the same CUDA major at or above the one asked for (extensions built for that major keep
    working), else the build that fits the machine best. A ``2.6`` request is its newest patch."""
    rel = ctx.matrix.torch_release(version)
    if version.count(".") == 1 and rel is not None and rel.releases:
        version = rel.releases[-1].version
    choices = ctx.torch_choices(version, gpu=variant != "cpu")
    if not choices:
        return None
    asked = cuda_tuple(variant_cuda(variant))
    same_major = [
        c
        for c in choices
        if asked and (t := cuda_tuple(c.cuda)) is not None and t[0] == asked[0] and t >= asked
    ]
    return (same_major or choices)[0].command


def _quant_kernel(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A quantization kernel above this GPU: a newer vLLM where it has the kernel for this GPU
    (Turing gained AWQ and Marlin kernels), GPTQ's own kernels instead of Marlin, or else the
    unquantized model (the error table's change)."""
    need, have = groups.get("need_cc", ""), groups.get("have_cc", "")
    if not (need.isdigit() and have.isdigit()):
        return None
    if int(have) >= 75 and int(need) == 80:
        return "pip install -U vllm"
    if groups.get("method") == "gptq_marlin" and int(have) >= 60:
        return "set --quantization gptq in the vllm serve command"  # GPTQ's own kernels, not Marlin's
    return None


def _flashinfer_kernels(groups: Groups) -> str | None:
    """flashinfer's kernel package left at another release: that package at flashinfer's release
    (flashinfer-jit-cache from flashinfer's index for its CUDA, the local tag the message shows),
    or without it (flashinfer then fetches or compiles its kernels)."""
    package, want = groups.get("package"), public(groups.get("want"))
    if not package or not want:
        return None
    cuda = local_tag(groups.get("have") or "") or local_tag(groups.get("want") or "")
    index = f" --extra-index-url https://flashinfer.ai/whl/{cuda}" if cuda and cuda.startswith("cu") else ""
    if package == "flashinfer-jit-cache" and not index:
        return f"pip uninstall -y {package}"
    return f'pip install --no-deps "{package}=={want}"{index}\nor: pip uninstall -y {package}'


def _static_tls(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The library the loader could not place, preloaded at process start."""
    library = groups.get("tls_library")
    return f"export LD_PRELOAD={library}" if library else None


def _display_watchdog(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A kernel outran the display watchdog: on Windows a longer TdrDelay (an administrator
    prompt, then a reboot); elsewhere the entry's own fix stops the display manager."""
    if ctx.os_or_linux == "windows":
        return 'reg add "HKLM\\SYSTEM\\CurrentControlSet\\Control\\GraphicsDrivers" /v TdrDelay /t REG_DWORD /d 60 /f'
    return None


# modules whose pip distribution is named otherwise
_PIP_NAME = {"liger_kernel": "liger-kernel", "sentence_transformers": "sentence-transformers"}


def _package_missing(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The missing module's distribution, installed; Tk, which pip cannot install, from the
    system's packages for the interpreter's version (on Windows, the python.org installer has it)."""
    module = groups.get("module")
    if entry_id == "python-without-tk":
        py, system = ctx.python_mm, ctx.os_or_linux
        if system == "windows":
            return "add tcl/tk and IDLE to this Python with its installer's Modify option (Settings > Apps)"
        if system == "darwin":
            return f"brew install python-tk@{py}" if py else "brew install python-tk"
        if _red_hat_family(ctx):
            return "sudo dnf install -y python3-tkinter"
        return f"sudo apt-get install -y python{py}-tk" if py else "sudo apt-get install -y python3-tk"
    if groups.get("pip_modules"):  # the packages the message lists, as it asks for them
        return f"pip install {groups['pip_modules'].strip()}"
    if module == "torchao" and ctx.torch is not None:  # the torchao built for this torch
        return bound_release_fix(ctx, "torchao", ctx.torch.public) or "pip install torchao"
    return f"pip install {_PIP_NAME.get(module, module)}" if module else None


def _transformers_for_model(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """transformers at least the release the loader names."""
    floor = groups.get("transformers_min")
    return f'pip install --upgrade "transformers>={floor}"' if floor else None


VC_REDIST_FIX = "winget install -e --id Microsoft.VCRedist.2015+.x64"


def _windows_runtime(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """torch's DLLs cannot load on Windows: the Visual C++ Redistributable; a release whose Windows
    wheels need a DLL Windows may lack (the matrix's ``windows_missing_dll``: 2.4.0's fbgemm.dll
    needed libomp140.x86_64.dll) is better moved to the patch release that does not, same build."""
    t = ctx.torch
    fixed = ctx.matrix.windows_dll_fixed_in(t.public) if t is not None else None
    if t is not None and fixed is not None:
        gpu = t.variant not in (None, "cpu")
        same = [c for c in ctx.torch_choices(fixed, gpu=gpu) if c.variant == t.variant]
        if same:
            return f"{same[0].command}\nor: {VC_REDIST_FIX}"
    return VC_REDIST_FIX


def _nvcc_old(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """An nvcc older than the build needs: CUDA_HOME at the toolkit of torch's CUDA (read at run
    time when the facts do not name it). An nvcc too new for an architecture the build lists: the
    GPUs' own architectures (as the facts state them, else as nvidia-smi reports them)."""
    if entry_id == "nvcc-dropped-listed-arch":
        ccs = sorted(set(ctx.ccs))
        if ccs:
            return f'export TORCH_CUDA_ARCH_LIST="{";".join(ccs)}"'
        return (
            'export TORCH_CUDA_ARCH_LIST="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader '
            "| sort -u | paste -sd';')\""
        )
    cuda = cuda_tuple(ctx.torch_cuda)  # torch's CUDA, stated even where its version is not
    if cuda:
        return f"export CUDA_HOME=/usr/local/cuda-{cuda[0]}.{cuda[1]}"
    return "export CUDA_HOME=/usr/local/cuda-$(python -c 'import torch; print(torch.version.cuda)')"


def _nvcc_missing(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """No nvcc for an extension build: point CUDA_HOME at the toolkit where one is installed, else
    install the toolkit of torch's CUDA version into the conda environment and point CUDA_HOME there
    (only that when the error says /usr/local/cuda does not exist)."""
    t = ctx.torch
    cuda = t.cuda if t is not None and t.cuda else None
    version = f"={cuda}" if cuda else "=$(python -c 'import torch; print(torch.version.cuda)')"
    conda = f'conda install -y -c nvidia "cuda-toolkit{version}" && export CUDA_HOME="$CONDA_PREFIX"'
    if entry_id == "flashinfer-jit-needs-nvcc":
        return conda
    if entry_id == "cuda-home-is-a-path-list" and groups.get("cuda_home"):  # its first directory
        return f"export CUDA_HOME={groups['cuda_home'].rstrip('/')}"
    return f"export CUDA_HOME=/usr/local/cuda\nor: {conda}"


def _deepspeed_op(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The failed op built at install time (DS_BUILD_<OP>=1), against the installed torch."""
    op = {"adagrad": "cpu_adagrad", "lion": "cpu_lion"}.get(
        groups.get("ds_op", "").lower(), groups.get("ds_op")
    )
    flag = f"DS_BUILD_{(op or 'cpu_adam').upper()}=1"
    return f"{flag} pip install --no-cache-dir --force-reinstall --no-deps --no-build-isolation deepspeed"


def _cuda_build(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """A CUDA build of torch (the installed release when one of its builds fits) for an NVIDIA GPU."""
    choice = ctx.best_torch(ctx.torch.public if ctx.torch else None, gpu=True)
    return choice.command if choice else None


def _libcuda_name(groups: Groups, ctx: Context, entry_id: str) -> str | None:
    """The plain libcuda.so beside the driver's libcuda.so.1 in the directory the error names."""
    where = groups.get("libcuda_dir")
    return (
        f"sudo ln -sf {shlex.quote(where + '/libcuda.so.1')} {shlex.quote(where + '/libcuda.so')}"
        if where
        else None
    )


_FIXES: dict[str, Callable[[Groups, Context, str], str | None]] = {
    "python-unsupported-by-torch": _python,
    "glibc-too-old-for-torch": _glibc,
    "config-too-many-processes": _processes,
    "fp8-unsupported-gpu": _fp8,
    "no-nvidia-gpu": _no_gpu,
    "flash-attn-abi-or-torch-mismatch": _flash_attn,
    "flash-attn-missing": _flash_attn_missing,
    "flash-attn-3-missing": _flash_attn_3,
    "wandb-key-missing": _wandb,
    "driver-too-old-for-torch-cuda": _driver_old,
    "driver-minor-version-compat": _driver_old,
    "driver-cuda-combination-unsupported": _driver_mismatch,
    "cuda-forward-compat-unsupported-gpu": _forward_compat,
    "package-requires-other-torch": _companions,
    "build-isolation-hides-torch": _build_isolation,
    "nvcc-missing": _nvcc_missing,
    "nvcc-torch-cuda-mismatch": _nvcc_old,
    "deepspeed-op-build-failed": _deepspeed_op,
    "nvcc-host-compiler-unsupported": _host_compiler,
    "windows-vc-runtime-missing": _windows_runtime,
    "c-compiler-missing": _c_compiler,
    "python-dev-headers-missing": _python_headers,
    "python-venv-module-missing": _venv_module,
    "python-unsupported-by-package": _python_for_package,
    "hf-hub-unreachable": _hub_mirror,
    "package-has-no-wheel-for-python": _rust_package,
    "xformers-torch-mismatch": _xformers_pins,
    "system-library-missing": _system_library,
    "numpy-abi-mismatch": _numpy,
    "triton-missing": _triton,
    "package-version-conflict": _hf_dependency,
    "quantization-kernel-gpu-too-old": _quant_kernel,
    "pytorch-index-misconfigured": _pytorch_index,
    "torch-cuda-wheels-missing": _torch_cuda_wheels,
    "static-tls-exhausted": _static_tls,
    "gpu-display-watchdog-timeout": _display_watchdog,
    "python-package-missing": _package_missing,
    "transformers-too-old-for-model": _transformers_for_model,
    "extension-cuda-major-mismatch": _torch_of_cuda_major,
    "cuda-library-path-shadows-torch": _shadowing_library,
    "libcuda-not-in-loader-cache": _libcuda_name,
    "torch-rocm-build-on-nvidia-gpu": _cuda_build,
    "fabric-manager-not-running": _fabric_manager,
    "rocm-gfx-unsupported-by-torch-build": _rocm_gfx,
    "bitsandbytes-cuda-setup": _bnb,
    "bitsandbytes-gpu-arch-unsupported": _bnb_arch,
    "transformers-disables-torch": _transformers_for_torch,
}
