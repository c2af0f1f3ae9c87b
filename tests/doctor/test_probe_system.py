"""OS/Python facts, nvcc, ROCm, accelerate's default config and the environment flags."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from probe_fakes import env_with, fake_nvcc, fake_root, fake_tool

from loradoc.doctor.probe.system import (
    accelerate_config_path,
    netrc_has_password,
    parse_nvcc_version,
    probe_accelerate_config,
    probe_environment,
    probe_nvcc,
    probe_platform,
    probe_rocm,
)

# -- platform ---------------------------------------------------------------------------


def test_platform_facts(tmp_path: Path) -> None:
    root = fake_root(
        tmp_path,
        {
            "/proc/meminfo": "MemTotal:       65843204 kB\nMemFree:        1000 kB\n",
            "/etc/os-release": 'NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n',
        },
    )
    facts = probe_platform(root, env_with())
    v = sys.version_info
    assert facts.python is not None and facts.python.startswith(f"{v.major}.{v.minor}.{v.micro}")
    assert facts.python_executable == sys.executable
    assert facts.in_venv == (sys.prefix != sys.base_prefix)
    assert facts.cpu_count and facts.cpu_count >= 1
    if sys.platform == "linux":
        assert facts.os == "Linux"
        assert facts.memory_mib == 65843204 // 1024
        assert facts.os_release is not None and facts.os_release.startswith("Ubuntu 22.04.4 LTS (kernel ")
        assert facts.glibc is None or facts.glibc.count(".") >= 1


def test_cpu_bf16_instructions_from_cpuinfo(tmp_path: Path) -> None:
    if sys.platform != "linux":
        return
    cases = {
        "zen4": ("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", True),
        "sapphire": ("flags\t\t: fpu avx512f amx_bf16 amx_tile\n", True),
        "skylake": ("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n", False),
        "arm": ("Features\t: fp asimd\n", None),  # no flags line: unknown
    }
    for name, (cpuinfo, expected) in cases.items():
        root = fake_root(tmp_path / name, {"/proc/cpuinfo": "processor\t: 0\n" + cpuinfo})
        assert probe_platform(root, env_with()).cpu_bf16 is expected, name


# -- nvcc -------------------------------------------------------------------------------


def test_parse_nvcc_version() -> None:
    assert parse_nvcc_version("Cuda compilation tools, release 12.4, V12.4.131\n") == "12.4"
    assert parse_nvcc_version("nvcc: command not found") is None


def test_cuda_home_wins_over_path(tmp_path: Path) -> None:
    home = tmp_path / "cuda-12.4"
    fake_nvcc(home / "bin", "12.4")
    path_bin = tmp_path / "bin"
    fake_nvcc(path_bin, "11.8")
    nvcc, notes = probe_nvcc(fake_root(tmp_path, {}), env_with(path_bin, CUDA_HOME=str(home)), 5)
    assert nvcc is not None
    assert (nvcc.version, nvcc.path, nvcc.cuda_home) == ("12.4", str(home / "bin" / "nvcc"), str(home))
    assert notes == []


def test_nvcc_on_path_sets_cuda_home_like_torch(tmp_path: Path) -> None:
    path_bin = tmp_path / "cuda-11.8" / "bin"
    fake_nvcc(path_bin, "11.8")
    nvcc, _ = probe_nvcc(fake_root(tmp_path, {}), env_with(path_bin), 5)
    assert nvcc is not None
    assert (nvcc.version, nvcc.cuda_home) == ("11.8", str(tmp_path / "cuda-11.8"))


def test_usr_local_cuda_fallback(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {})
    fake_nvcc(root / "usr" / "local" / "cuda" / "bin", "12.4")
    nvcc, _ = probe_nvcc(root, env_with(tmp_path / "empty"), 5)
    assert nvcc is not None and nvcc.version == "12.4"
    assert nvcc.cuda_home == str(root / "usr" / "local" / "cuda")


def test_cuda_home_without_nvcc_is_a_note(tmp_path: Path) -> None:
    nvcc, notes = probe_nvcc(fake_root(tmp_path, {}), env_with(CUDA_HOME=str(tmp_path / "nothing")), 5)
    assert nvcc is not None and nvcc.version is None and nvcc.cuda_home == str(tmp_path / "nothing")
    assert any("does not exist" in n for n in notes)


def test_no_nvcc_anywhere(tmp_path: Path) -> None:
    assert probe_nvcc(fake_root(tmp_path, {}), env_with(tmp_path / "empty"), 5) == (None, [])


def test_broken_nvcc_is_a_note(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvcc", "echo 'segfault' >&2\nexit 139\n")
    nvcc, notes = probe_nvcc(fake_root(tmp_path, {}), env_with(bin_dir), 5)
    assert nvcc is not None and nvcc.version is None and nvcc.path == str(bin_dir / "nvcc")
    assert any("exited 139: segfault" in n for n in notes)


# -- ROCm -------------------------------------------------------------------------------


def test_rocm_agents(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "rocm_agent_enumerator", "printf 'gfx000\\ngfx90a\\ngfx90a\\n'\n")
    present, gpus, notes = probe_rocm(fake_root(tmp_path, {}), env_with(bin_dir), 5)
    assert present is True
    assert [(g.index, g.name, g.vendor) for g in gpus] == [(0, "gfx90a", "amd"), (1, "gfx90a", "amd")]
    assert notes == []


def test_rocm_directory_only(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {"/opt/rocm/.info/version": "6.2.0\n"})
    assert probe_rocm(root, env_with(), 5) == (True, [], [])
    assert probe_rocm(fake_root(tmp_path / "x", {}), env_with(), 5) == (False, [], [])


# -- accelerate -------------------------------------------------------------------------


def test_accelerate_config_path_follows_hf_home_then_xdg(tmp_path: Path) -> None:
    assert accelerate_config_path({"HF_HOME": "/h"}) == Path("/h/accelerate/default_config.yaml")
    assert accelerate_config_path({"XDG_CACHE_HOME": "/x", "HOME": "/home/u"}) == Path(
        "/x/huggingface/accelerate/default_config.yaml"
    )
    assert accelerate_config_path({"HOME": "/home/u"}) == Path(
        "/home/u/.cache/huggingface/accelerate/default_config.yaml"
    )


def test_accelerate_default_config(tmp_path: Path) -> None:
    path = tmp_path / "hf" / "accelerate" / "default_config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "compute_environment: LOCAL_MACHINE\ndebug: false\ndistributed_type: MULTI_GPU\ndowncast_bf16: 'no'\n"
        "gpu_ids: all\nmachine_rank: 0\nmain_training_function: main\nmixed_precision: bf16\n"
        "num_machines: 1\nnum_processes: 8\nrdzv_backend: static\nsame_network: true\nuse_cpu: false\n"
    )
    cfg, notes = probe_accelerate_config({"HF_HOME": str(tmp_path / "hf")})
    assert cfg is not None and notes == []
    assert (
        cfg.path,
        cfg.num_processes,
        cfg.mixed_precision,
        cfg.distributed_type,
        cfg.use_cpu,
        cfg.gpu_ids,
    ) == (
        str(path),
        8,
        "bf16",
        "MULTI_GPU",
        False,
        "all",
    )


def test_accelerate_config_absent_or_broken(tmp_path: Path) -> None:
    assert probe_accelerate_config({"HF_HOME": str(tmp_path)}) == (None, [])
    path = tmp_path / "accelerate" / "default_config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("num_processes: [1,\n")
    cfg, notes = probe_accelerate_config({"HF_HOME": str(tmp_path)})
    assert cfg is not None and cfg.path == str(path) and cfg.num_processes is None
    assert any("not valid YAML" in n for n in notes)


# -- environment flags ------------------------------------------------------------------


def test_tokens_from_env(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {})
    env = env_with(HOME=str(tmp_path), HF_TOKEN="hf_x", WANDB_API_KEY="k" * 40, WANDB_MODE="offline")
    flags = probe_environment(root, env)
    assert (flags.hf_token, flags.wandb_api_key, flags.wandb_mode) == (True, True, "offline")
    empty = probe_environment(root, env_with(HOME=str(tmp_path), HF_TOKEN="  ", WANDB_API_KEY=""))
    assert (empty.hf_token, empty.wandb_api_key, empty.wandb_mode) == (False, False, None)


def test_tokens_from_files(tmp_path: Path) -> None:
    root = fake_root(tmp_path, {})
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text("hf_filetoken\n")
    (home / ".netrc").write_text(
        "machine github.com login x password y\nmachine api.wandb.ai\n  login user\n  password abc123\n"
    )
    flags = probe_environment(root, env_with(HOME=str(home)))
    assert (flags.hf_token, flags.wandb_api_key) == (True, True)
    # a self-hosted W&B server: the netrc entry must be for that host
    other = probe_environment(root, env_with(HOME=str(home), WANDB_BASE_URL="https://wandb.example.com"))
    assert other.wandb_api_key is False


def test_hf_token_path_variable(tmp_path: Path) -> None:
    token = tmp_path / "tok"
    token.write_text("hf_elsewhere")
    flags = probe_environment(
        fake_root(tmp_path, {}), env_with(HOME=str(tmp_path / "h"), HF_TOKEN_PATH=str(token))
    )
    assert flags.hf_token is True


def test_netrc_parsing() -> None:
    assert netrc_has_password("machine api.wandb.ai login user password p", "api.wandb.ai")
    assert not netrc_has_password("machine api.wandb.ai login user", "api.wandb.ai")
    assert not netrc_has_password("machine other password p\ndefault password q", "api.wandb.ai")
    assert not netrc_has_password("", "api.wandb.ai")


def test_container_hints(tmp_path: Path) -> None:
    bare = probe_environment(fake_root(tmp_path / "a", {"/proc/1/cgroup": "0::/\n"}), env_with())
    assert bare.in_container is False
    docker = probe_environment(fake_root(tmp_path / "b", {"/.dockerenv": ""}), env_with())
    assert docker.in_container is True
    k8s = probe_environment(
        fake_root(tmp_path / "c", {"/proc/1/cgroup": "12:memory:/kubepods/burstable/pod1/abc\n"}), env_with()
    )
    assert k8s.in_container is True


def test_wsl_hints(tmp_path: Path) -> None:
    """WSL2's kernel release (/proc/sys/kernel/osrelease), WSL's variables, or its driver folder."""
    linux = probe_environment(
        fake_root(tmp_path / "a", {"/proc/sys/kernel/osrelease": "6.8.0-45-generic\n"}), env_with()
    )
    assert linux.wsl is False
    kernel = {"/proc/sys/kernel/osrelease": "5.15.167.4-microsoft-standard-WSL2\n"}
    assert probe_environment(fake_root(tmp_path / "b", kernel), env_with()).wsl is True
    assert (
        probe_environment(fake_root(tmp_path / "c", {}), env_with(WSL_DISTRO_NAME="Ubuntu-22.04")).wsl is True
    )
    folder = {"/usr/lib/wsl/lib/libcuda.so.1": ""}
    assert probe_environment(fake_root(tmp_path / "d", folder), env_with()).wsl is True


def test_cuda_visible_devices_recorded(tmp_path: Path) -> None:
    flags = probe_environment(fake_root(tmp_path, {}), env_with(CUDA_VISIBLE_DEVICES="1,3"))
    assert flags.cuda_visible_devices == "1,3"
    assert probe_environment(fake_root(tmp_path, {}), env_with()).cuda_visible_devices is None


def test_amd_gfx_targets_from_the_kfd_topology_without_rocm(tmp_path: Path) -> None:
    # KFD topology nodes in the amdgpu driver's "key value" format (only the keys read here): one CPU
    # node, two MI250X GCDs (gfx90a), one MI300X (gfx942)
    root = fake_root(
        tmp_path,
        {
            "/sys/class/kfd/kfd/topology/nodes/0/properties": "cpu_cores_count 64\nsimd_count 0\ngfx_target_version 0\n",
            "/sys/class/kfd/kfd/topology/nodes/1/properties": "cpu_cores_count 0\nsimd_count 440\ngfx_target_version 90010\n",
            "/sys/class/kfd/kfd/topology/nodes/2/properties": "simd_count 440\ngfx_target_version 90010\n",
            "/sys/class/kfd/kfd/topology/nodes/10/properties": "simd_count 1216\ngfx_target_version 90402\n",
        },
    )
    present, gpus, notes = probe_rocm(root, env_with(), 5)
    assert present is False and notes == []  # no ROCm installed: the driver still names the GPUs
    assert [(g.index, g.gfx, g.vendor) for g in gpus] == [
        (0, "gfx90a", "amd"),
        (1, "gfx90a", "amd"),
        (2, "gfx942", "amd"),
    ]
    rdna = fake_root(
        tmp_path / "rdna", {"/sys/class/kfd/kfd/topology/nodes/1/properties": "gfx_target_version 110000\n"}
    )
    assert [g.gfx for g in probe_rocm(rdna, env_with(), 5)[1]] == ["gfx1100"]


def test_shared_memory_size_is_read_from_dev_shm(tmp_path: Path) -> None:
    """statvfs of the root's /dev/shm: the real filesystem's size in MiB; none without the folder."""
    root = fake_root(tmp_path / "a", {"/dev/shm/.keep": ""})
    want = os.statvfs(root / "dev" / "shm")
    flags = probe_environment(root, env_with())
    assert flags.shm_mib == want.f_blocks * want.f_frsize // (1024 * 1024)
    assert probe_environment(fake_root(tmp_path / "b", {}), env_with()).shm_mib is None
