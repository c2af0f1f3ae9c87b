"""`loradoc doctor install` command-line behaviour that needs no install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from loradoc.cli import cli

SNAPS = Path(__file__).parent / "install_snapshots"


def invoke(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["doctor", "install", *args])
    return res.exit_code, res.stdout, res.stderr


def test_from_needs_dry_run() -> None:
    code, _, _ = invoke("--from", str(SNAPS / "cpu_laptop.json"))
    assert code != 0


def test_bad_with_name_suggests_the_nearest() -> None:
    res = CliRunner().invoke(
        cli, ["doctor", "install", "--dry-run", "--from", str(SNAPS / "cpu_laptop.json"), "--with", "xformer"]
    )
    assert res.exit_code != 0 and "did you mean xformers" in str(res.exception)


def test_unknown_snapshot_file_is_a_user_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["doctor", "install", "--dry-run", "--from", str(tmp_path / "nope.json")])
    assert res.exit_code != 0 and "snapshot file not found" in str(res.exception)


def test_asks_before_touching_a_python_outside_a_venv() -> None:
    base = Path(sys.base_prefix) / "bin" / "python3"
    if sys.prefix == sys.base_prefix or not base.exists():
        pytest.skip("needs a base interpreter outside this venv")
    res = CliRunner().invoke(cli, ["doctor", "install", "--python", str(base), "--minimal"], input="")
    assert res.exit_code != 0
    assert "is not in a virtual environment; pass --yes" in str(res.exception)


def test_main_prints_one_line_for_user_errors(tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "install", "--cpu", "--cuda", "12.4", "--dry-run"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --cpu and --cuda contradict each other; give one of them"


@pytest.mark.parametrize(
    ("backend", "variant", "reason"),
    [
        ("cpu", "cpu", "cpu: asked for with --backend cpu"),
        ("cu128", "cu128", "asked for with --backend cu128"),
        ("CU126", "cu126", "asked for with --backend cu126"),
        ("rocm6.4", "rocm6.4", "rocm6.4: asked for with --backend rocm6.4"),
        ("auto", "cu126", "native SASS for 2x NVIDIA A100-SXM4-80GB"),
    ],
)
def test_backend_names_the_build_as_uv_does(backend: str, variant: str, reason: str) -> None:
    import json

    args = [
        "--dry-run",
        "--json",
        "--minimal",
        "--from",
        str(SNAPS / "a100_driver535.json"),
        "--backend",
        backend,
    ]
    code, out, _ = invoke(*args)
    assert code == 0
    plan = json.loads(out)
    assert plan["variant"] == variant
    assert reason in next(d["reason"] for d in plan["decisions"] if d["item"] == "variant")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "cuda12"], "--backend 'cuda12': give auto, cpu, a CUDA variant like cu128"),
        (["--backend", "cpu", "--cpu"], "--backend and --cpu/--cuda say the same thing twice"),
        (["--backend", "rocm9.9"], "no torch ROCm build of ROCm 9.9 fits this machine"),
    ],
)
def test_a_bad_backend_is_one_line(args: list[str], message: str) -> None:
    res = CliRunner().invoke(
        cli, ["doctor", "install", "--dry-run", "--from", str(SNAPS / "a100_driver535.json"), *args]
    )
    assert res.exit_code != 0 and message in str(res.exception)  # (main() turns it into exit 2)


def test_a_nightly_channel_plans_the_newest_pre_release_of_the_fitting_build() -> None:
    import json

    code, out, _ = invoke(
        "--dry-run",
        "--json",
        "--from",
        str(SNAPS / "a100_driver550.json"),
        "--channel",
        "nightly",
        "--with",
        "xformers,bitsandbytes",
    )
    assert code == 0
    plan = json.loads(out)
    assert plan["channel"] == "nightly" and plan["torch"] is None
    torch_step = plan["steps"][0]
    assert torch_step["name"] == "torch" and torch_step["requirements"] == ["torch"]
    assert torch_step["pip_args"] == ["--pre"]
    assert torch_step["index_url"] == f"https://download.pytorch.org/whl/nightly/{plan['variant']}"
    assert torch_step["fallback_requirements"] is None  # nightlies live on that index only
    decisions = {d["item"]: d for d in plan["decisions"]}
    assert (
        decisions["xformers"]["value"] is None
        and "no xformers wheel is built for a nightly torch" in (decisions["xformers"]["reason"])
    )
    assert decisions["bitsandbytes"]["value"]  # not bound to one torch release
    assert plan["commands"][1].split()[5:7] == [
        "-c",
        "torch-constraint.txt",
    ]  # later steps pin what was installed
    assert any("not in the compat matrix" in w for w in plan["warnings"])
    # a stable plan's JSON does not carry the channel
    code, out, _ = invoke("--dry-run", "--json", "--from", str(SNAPS / "a100_driver550.json"))
    assert code == 0 and "channel" not in json.loads(out)


def test_a_test_channel_plan_reads_as_release_candidates() -> None:
    code, out, _ = invoke(
        "--dry-run", "--from", str(SNAPS / "a100_driver550.json"), "--channel", "test", "--minimal"
    )
    assert code == 0
    assert out.startswith("install plan: torch the newest test build (")
    assert "whl/test/" in out and "newest release candidate" in out


def test_a_channel_cannot_be_locked(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "doctor",
            "install",
            "--dry-run",
            "--from",
            str(SNAPS / "a100_driver550.json"),
            "--channel",
            "nightly",
            "--lock",
            str(tmp_path / "lock.txt"),
        ],
    )
    assert res.exit_code != 0 and "--lock with --channel nightly" in str(res.exception)
    assert not (tmp_path / "lock.txt").exists()


def test_bitsandbytes_on_rocm_needs_a_library_for_exactly_torchs_rocm() -> None:
    import json

    code, out, _ = invoke(
        "--dry-run", "--json", "--from", str(SNAPS / "mi250_rocm.json"), "--with", "bitsandbytes"
    )
    assert code == 0
    bnb = next(d for d in json.loads(out)["decisions"] if d["item"] == "bitsandbytes")
    assert bnb["value"] and "loads rocm714, the exact match for torch's ROCm 7.14" in bnb["reason"]
    code, out, _ = invoke(
        "--dry-run",
        "--json",
        "--from",
        str(SNAPS / "mi250_rocm.json"),
        "--with",
        "bitsandbytes",
        "--backend",
        "rocm6.2",
    )
    assert code == 0
    bnb = next(d for d in json.loads(out)["decisions"] if d["item"] == "bitsandbytes")
    assert bnb["value"] is None
    assert "no release ships rocm62 for torch 2.5.1+rocm6.2 (listed ROCm libraries: rocm64," in bnb["reason"]


def test_rocm_plans_check_each_amd_gpus_gfx_target(tmp_path: Path) -> None:
    import json

    snap = json.loads((SNAPS / "mi250_rocm.json").read_text())
    snap["gpus"] = [
        {"index": 0, "name": "AMD Radeon RX 6600", "vendor": "amd"},  # gfx1032 by name
        {"index": 1, "name": "some AMD card", "vendor": "amd", "gfx": "gfx1100"},  # probed target wins
    ]
    path = tmp_path / "rdna.json"
    path.write_text(json.dumps(snap))
    code, out, _ = invoke("--dry-run", "--json", "--from", str(path), "--minimal")
    assert code == 0
    plan = json.loads(out)
    torch = next(d for d in plan["decisions"] if d["item"] == "torch")
    assert torch["reason"].endswith("its wheels carry kernels for gfx1100")
    gfx1032 = next(w for w in plan["warnings"] if w.startswith("gfx1032: "))
    assert "carries no kernels for it" in gfx1032 and "HSA_OVERRIDE_GFX_VERSION=10.3.0" in gfx1032


def test_amd_names_map_to_gfx_targets() -> None:
    from loradoc.compat.load import load_matrix

    m = load_matrix()
    assert m.amd_gfx_of("AMD Instinct MI250X/MI250") == "gfx90a"
    assert m.amd_gfx_of("AMD Instinct MI300X") == "gfx942"
    assert m.amd_gfx_of("AMD Radeon RX 7900 XTX") == "gfx1100"
    assert m.amd_gfx_of("AMD Radeon RX 6600 XT") == "gfx1032"  # the longer name wins
    assert m.amd_gfx_of("NVIDIA A100") is None
    entry = m.rocm_archs_for("6.4")
    assert entry is not None and "gfx942" in entry.gfx and "gfx950" not in entry.gfx
    assert m.rocm_archs_for("5.7") is not None and "gfx942" not in m.rocm_archs_for("5.7").gfx  # type: ignore[union-attr]
