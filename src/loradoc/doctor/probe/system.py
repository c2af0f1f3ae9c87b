"""The machine around the GPU: OS, Python, glibc, CPU and memory, the CUDA toolkit
(nvcc), ROCm, accelerate's default config, and the environment flags the doctor
needs (tokens present, W&B mode, interactive shell, container).

Secrets: the HF token and the W&B API key are looked for and reported as
booleans; their values are read only to test for emptiness and never leave the
functions below.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loradoc.doctor.probe.util import home_dir, read_text, run_tool, under, which
from loradoc.doctor.snapshot import GPU, AccelerateConfig, Environment, Nvcc

_NVCC_RELEASE = re.compile(r"release (\d+\.\d+)")
_CONTAINER_CGROUP = re.compile(r"docker|kubepods|containerd|libpod|lxc", re.I)


@dataclass
class SystemFacts:
    os: str | None = None
    os_release: str | None = None
    arch: str | None = None
    python: str | None = None
    python_executable: str | None = None
    in_venv: bool | None = None
    glibc: str | None = None
    cpu_count: int | None = None
    cpu_bf16: bool | None = None
    memory_mib: int | None = None
    notes: list[str] = field(default_factory=list)


def probe_platform(root: Path, env: Mapping[str, str]) -> SystemFacts:
    facts = SystemFacts()
    if hasattr(os, "uname"):
        uname = os.uname()
        facts.os, facts.arch = uname.sysname, uname.machine
        kernel = uname.release
    else:  # Windows
        import platform

        facts.os, facts.arch, kernel = platform.system(), platform.machine(), platform.version()
    if facts.os == "Linux":
        facts.os_release = _linux_release(root, kernel)
        facts.glibc = _glibc()
        if facts.glibc is None:
            facts.notes.append(
                "C library is not glibc (musl?): manylinux wheels such as torch's will not install"
            )
    elif facts.os == "Darwin":
        import platform

        facts.os_release = "macOS " + (platform.mac_ver()[0] or kernel)
    else:
        facts.os_release = kernel
    v = sys.version_info
    level = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel, "")
    facts.python = f"{v.major}.{v.minor}.{v.micro}" + (f"{level}{v.serial}" if level else "")
    facts.python_executable = sys.executable or None
    conda = env.get("CONDA_PREFIX")
    facts.in_venv = sys.prefix != sys.base_prefix or bool(
        conda
        and os.path.realpath(conda) == os.path.realpath(sys.prefix)
        and env.get("CONDA_DEFAULT_ENV") != "base"
    )
    affinity = getattr(os, "sched_getaffinity", None)
    facts.cpu_count = len(affinity(0)) if affinity else os.cpu_count()
    facts.memory_mib = _memory_mib(root)
    if facts.os == "Linux":
        facts.cpu_bf16 = _cpu_bf16(root)
    return facts


BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bf16 matmul instructions


def _cpu_bf16(root: Path) -> bool | None:
    """Whether the CPU has bf16 matmul instructions (Intel AMX, or AVX-512 BF16 on Intel and AMD)."""
    text = read_text(under(root, "/proc/cpuinfo"), limit=1 << 20)
    m = re.search(r"^flags\s*:\s*(.*)$", text or "", re.M)
    if not m:
        return None
    return any(flag in m.group(1).split() for flag in BF16_FLAGS)


def _linux_release(root: Path, kernel: str) -> str:
    text = read_text(under(root, "/etc/os-release"), limit=65536) or ""
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return f"{m.group(1)} (kernel {kernel})" if m else f"Linux {kernel}"


def _glibc() -> str | None:
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        return None
    if value and value.startswith("glibc "):
        return value.split()[1]
    return None


def _memory_mib(root: Path) -> int | None:
    text = read_text(under(root, "/proc/meminfo"), limit=65536)
    m = re.search(r"^MemTotal:\s*(\d+)\s*kB", text or "", re.M)
    if m:
        return int(m.group(1)) // 1024
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return None


# -- CUDA toolkit and ROCm --------------------------------------------------------------


def parse_nvcc_version(text: str) -> str | None:
    """``Cuda compilation tools, release 12.4, V12.4.131`` -> ``"12.4"``."""
    m = _NVCC_RELEASE.search(text)
    return m.group(1) if m else None


def probe_nvcc(root: Path, env: Mapping[str, str], timeout: float) -> tuple[Nvcc | None, list[str]]:
    """The nvcc torch's extension builds would use, found the way torch finds it:
    ``$CUDA_HOME`` (or ``$CUDA_PATH``), then ``nvcc`` on PATH, then ``/usr/local/cuda``."""
    notes: list[str] = []
    exe = "nvcc.exe" if os.name == "nt" else "nvcc"
    home = env.get("CUDA_HOME") or env.get("CUDA_PATH")
    path: str | None
    if home:
        path = os.path.join(home, "bin", exe)
        if not os.path.isfile(path):
            var = "CUDA_HOME" if env.get("CUDA_HOME") else "CUDA_PATH"
            notes.append(f"{var}={home} but {path} does not exist: extension builds will fail")
            return Nvcc(cuda_home=home), notes
    else:
        path = which("nvcc", env)
        if path is not None:
            home = os.path.dirname(os.path.dirname(path))
        else:
            default = under(root, "/usr/local/cuda")
            if not (default / "bin" / exe).is_file():
                return None, notes
            home, path = str(default), str(default / "bin" / exe)
    res = run_tool([path, "--version"], env=env, timeout=timeout)
    version = parse_nvcc_version(res.stdout) if res.ok else None
    if version is None:
        notes.append(f"nvcc at {path}: {res.describe() if not res.ok else 'no release number in --version'}")
    return Nvcc(version=version, path=path, cuda_home=home), notes


def probe_rocm(root: Path, env: Mapping[str, str], timeout: float) -> tuple[bool, list[GPU], list[str]]:
    """ROCm present (``/opt/rocm`` or ``rocm_agent_enumerator``) and the AMD GPUs' LLVM targets
    (``gfx90a``): from ``rocm_agent_enumerator``, else from the amdgpu driver's KFD topology in
    sysfs, which needs no ROCm install (as uv reads them)."""
    rocm_home = env.get("ROCM_PATH") or env.get("ROCM_HOME")
    opt = Path(rocm_home) if rocm_home else under(root, "/opt/rocm")
    tool = which("rocm_agent_enumerator", env)
    if tool is None and (opt / "bin" / "rocm_agent_enumerator").is_file():
        tool = str(opt / "bin" / "rocm_agent_enumerator")
    present = opt.is_dir() or tool is not None
    notes: list[str] = []
    archs: list[str] = []
    if tool is not None:
        res = run_tool([tool], env=env, timeout=timeout)
        if res.ok:
            archs = [line.strip() for line in res.stdout.splitlines() if line.strip().startswith("gfx")]
        else:
            notes.append(f"ROCm: {res.describe()}")
    archs = [a for a in archs if a != "gfx000"] or kfd_gfx_targets(root)
    gpus = [GPU(index=i, name=a, vendor="amd", gfx=a) for i, a in enumerate(archs)]
    return present, gpus, notes


def kfd_gfx_targets(root: Path) -> list[str]:
    """The GPU nodes of the amdgpu driver's KFD topology (``/sys/class/kfd/kfd/topology/nodes/N/
    properties``): ``gfx_target_version 90010`` is major 9, minor 0, stepping 10, i.e. ``gfx90a``;
    CPU nodes have 0."""
    nodes = under(root, "/sys/class/kfd/kfd/topology/nodes")
    if not nodes.is_dir():
        return []
    out: list[str] = []
    for node in sorted(nodes.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else 1 << 30):
        text = read_text(node / "properties", limit=1 << 16) or ""
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "gfx_target_version" and value.strip().isdigit() and int(value) > 0:
                v = int(value)
                out.append(f"gfx{v // 10000}{(v // 100) % 100}{v % 100:x}")
    return out


# -- accelerate -------------------------------------------------------------------------


def accelerate_config_path(env: Mapping[str, str]) -> Path:
    """Where ``accelerate launch`` looks for its default config (accelerate 1.15
    ``commands/config/config_args.py``): ``$HF_HOME/accelerate/default_config.yaml``,
    ``$HF_HOME`` defaulting to ``${XDG_CACHE_HOME:-~/.cache}/huggingface``."""
    return _hf_home(env) / "accelerate" / "default_config.yaml"


def probe_accelerate_config(env: Mapping[str, str]) -> tuple[AccelerateConfig | None, list[str]]:
    path = accelerate_config_path(env)
    if not path.is_file():
        return None, []
    text = read_text(path, limit=1 << 20)
    cfg = AccelerateConfig(path=str(path))
    try:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(text or "", Loader=loader)  # noqa: S506 - a safe loader
    except Exception as exc:  # noqa: BLE001 - yaml raises many kinds
        return cfg, [f"accelerate config {path} is not valid YAML ({type(exc).__name__})"]
    if not isinstance(data, dict):
        return cfg, [f"accelerate config {path} is not a mapping"]
    cfg.num_processes = _as_int(data.get("num_processes"))
    cfg.mixed_precision = _as_str(data.get("mixed_precision"))
    cfg.distributed_type = _as_str(data.get("distributed_type"))
    use_cpu = data.get("use_cpu")
    cfg.use_cpu = use_cpu if isinstance(use_cpu, bool) else None
    cfg.gpu_ids = _as_str(data.get("gpu_ids"))
    return cfg, []


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


# -- environment flags ------------------------------------------------------------------


def probe_environment(root: Path, env: Mapping[str, str]) -> Environment:
    return Environment(
        hf_token=_hf_token_present(env),
        wandb_api_key=_wandb_key_present(env),
        wandb_mode=env.get("WANDB_MODE") or None,
        interactive=_interactive(),
        cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"),
        in_container=_in_container(root, env),
        wsl=_wsl(root, env),
        shm_mib=_shm_mib(root),
    )


def _shm_mib(root: Path) -> int | None:
    """The size of /dev/shm (Linux), from statvfs; None where there is none."""
    path = under(root, "/dev/shm")
    if not hasattr(os, "statvfs") or not path.is_dir():
        return None
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return int(st.f_blocks * st.f_frsize // (1024 * 1024))


def _hf_home(env: Mapping[str, str]) -> Path:
    hf_home = env.get("HF_HOME")
    if hf_home:
        return _expand(hf_home, env)
    cache = env.get("XDG_CACHE_HOME")
    return (_expand(cache, env) if cache else home_dir(env) / ".cache") / "huggingface"


def _expand(path: str, env: Mapping[str, str]) -> Path:
    if path == "~" or path.startswith(("~/", "~\\")):
        return home_dir(env) / path[2:]
    return Path(path)


def _hf_token_present(env: Mapping[str, str]) -> bool:
    """HF_TOKEN / HUGGING_FACE_HUB_TOKEN, else the token file huggingface_hub writes
    (``$HF_TOKEN_PATH``, default ``$HF_HOME/token``)."""
    if (env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or "").strip():
        return True
    token_path = env.get("HF_TOKEN_PATH")
    path = _expand(token_path, env) if token_path else _hf_home(env) / "token"
    return bool((read_text(path, limit=4096) or "").strip())


def _wandb_key_present(env: Mapping[str, str]) -> bool:
    """WANDB_API_KEY, else a ``.netrc`` entry with a password for the W&B host
    (wandb 0.31 ``wbnetrc``: ``$NETRC``, ``~/.netrc``, ``~/_netrc``)."""
    if (env.get("WANDB_API_KEY") or "").strip():
        return True
    base = env.get("WANDB_BASE_URL") or "https://api.wandb.ai"
    host = base.split("://", 1)[-1].split("/", 1)[0]
    candidates = [_expand(env["NETRC"], env)] if env.get("NETRC") else []
    candidates += [home_dir(env) / ".netrc", home_dir(env) / "_netrc"]
    for path in candidates:
        text = read_text(path, limit=1 << 20)
        if text is not None:
            return netrc_has_password(text, host)
    return False


def netrc_has_password(text: str, host: str) -> bool:
    """True when ``machine <host>`` carries a non-empty ``password`` (the value is not kept)."""
    tokens = text.split()
    current: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok == "machine" and i + 1 < len(tokens):
            current = tokens[i + 1]
            i += 2
            continue
        if tok == "default":
            current = None
        elif tok == "password" and i + 1 < len(tokens):
            if current == host and tokens[i + 1]:
                return True
            i += 2
            continue
        i += 1
    return False


def _interactive() -> bool:
    try:
        return bool(sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty())
    except (ValueError, OSError):
        return False


def _wsl(root: Path, env: Mapping[str, str]) -> bool:
    """WSL: its kernel names Microsoft (``5.15.167.4-microsoft-standard-WSL2``), or WSL's own
    variables are set, or its driver folder exists."""
    if env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP"):
        return True
    release = read_text(under(root, "/proc/sys/kernel/osrelease"), limit=4096) or ""
    return "microsoft" in release.lower() or under(root, "/usr/lib/wsl/lib").is_dir()


def _in_container(root: Path, env: Mapping[str, str]) -> bool:
    if under(root, "/.dockerenv").exists() or under(root, "/run/.containerenv").exists():
        return True
    if env.get("container") or env.get("KUBERNETES_SERVICE_HOST"):
        return True
    cgroup = read_text(under(root, "/proc/1/cgroup"), limit=65536) or ""
    return bool(_CONTAINER_CGROUP.search(cgroup))
