"""plan() rules beyond the golden machines: user bounds, keeping torch, impossible asks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from loradoc.compat.load import load_matrix
from loradoc.doctor.install.plan import InstallPlan, plan
from loradoc.doctor.install.wants import Wants, add_config_needs, from_options
from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError


def snap(gpus: list[tuple[str, str | None]] | None = None, driver: str | None = None, **kw: Any) -> Snapshot:
    data: dict[str, Any] = {
        "os": "Linux",
        "arch": "x86_64",
        "python": "3.11.9",
        "glibc": "2.35",
        "complete": True,
    }
    data["gpus"] = [
        {"index": i, "name": n, "compute_capability": cc, "vendor": "nvidia"}
        for i, (n, cc) in enumerate(gpus or [])
    ]
    if driver:
        data["driver"] = {"version": driver}
    data.update(kw)
    return Snapshot.from_dict(data)


def run(s: Snapshot, **opts: Any) -> InstallPlan:
    return plan(s, load_matrix(), from_options(**opts))


A100 = [("NVIDIA A100-SXM4-80GB", "8.0")]


def test_cuda_option_forces_the_variant() -> None:
    p = run(snap(A100, "535.183.01"), cuda="12.4")
    assert p.variant == "cu124" and p.torch is not None and p.torch.endswith("+cu124")
    assert "--cuda 12.4" in (p.decision("variant").reason if p.decision("variant") else "")  # type: ignore[union-attr]


def test_torch_option_bounds_the_release() -> None:
    p = run(snap(A100, "550.54.14"), torch="2.5")
    assert p.torch is not None and p.torch.startswith("2.5.1+")
    assert run(snap(A100, "550.54.14"), torch="2.5.0").torch.startswith("2.5.0+")  # type: ignore[union-attr]


def test_impossible_bounds_fail_in_one_line() -> None:
    with pytest.raises(UserError) as err:
        run(snap(A100, "535.183.01"), torch="2.1", cuda="12.4")
    assert "cu124" in err.value.message and "\n" not in err.value.message
    with pytest.raises(UserError, match="matches no torch release"):
        run(snap(A100, "535.183.01"), torch="1.13")


def test_gpu_older_than_every_build_is_explained() -> None:
    with pytest.raises(UserError) as err:
        run(snap([("NVIDIA GeForce GTX 680", "3.0")], "470.256.02"))
    assert "no torch build carries code for NVIDIA GeForce GTX 680 (sm_30)" in err.value.message


def test_driver_too_old_for_every_build_names_the_driver_needed() -> None:
    with pytest.raises(UserError) as err:
        run(snap(A100, "418.67"))
    msg = err.value.message
    assert "runs on driver 418.67" in msg and "the oldest driver any of them accepts is" in msg


def test_python_without_any_torch_wheel() -> None:
    with pytest.raises(UserError, match="Python 3.7"):
        run(snap(A100, "550.54.14", python="3.7.17"))


def test_cpu_option_on_a_gpu_box_warns() -> None:
    p = run(snap(A100, "550.54.14"), cpu=True)
    assert p.variant == "cpu" and any("CPU build on a machine with NVIDIA GPUs" in w for w in p.warnings)


def test_installed_torch_that_fits_is_kept_and_one_that_does_not_is_replaced() -> None:
    fits = {"torch": {"version": "2.5.1+cu124", "cuda": "12.4"}}
    p = run(snap(A100, "550.54.14", packages=fits))
    assert p.keep_torch and p.torch == "2.5.1+cu124" and [s.name for s in p.steps] == ["stack"]
    # the same build on a driver too old for CUDA 12 is replaced
    p = run(snap(A100, "470.256.02", packages=fits))
    assert not p.keep_torch and p.variant == "cu118"
    assert p.restore_index_urls == ["https://download.pytorch.org/whl/cu124"]
    # a CPU torch on a GPU box does not fit
    p = run(snap(A100, "550.54.14", packages={"torch": {"version": "2.13.0+cpu"}}))
    assert not p.keep_torch and p.variant != "cpu"


def test_only_visible_gpus_count() -> None:
    both = [("NVIDIA GeForce GTX 1080 Ti", "6.1"), ("NVIDIA GeForce RTX 4090", "8.9")]
    assert run(snap(both, "580.95.05")).variant == "cu126"
    p = run(snap(both, "580.95.05", env={"cuda_visible_devices": "1"}))
    assert p.variant in ("cu130", "cu132")


def test_compute_capability_from_the_gpu_name() -> None:
    p = run(snap([("NVIDIA GeForce GTX 1080 Ti", None)], "580.95.05"))
    assert p.variant == "cu126"


def test_macos_takes_torch_from_pypi() -> None:
    p = run(snap(os="Darwin", arch="arm64", glibc=None))
    assert p.variant == "cpu" and p.steps[0].index_url is None and p.steps[0].requirements[0].count("+") == 0


def test_amd_gpus_get_a_rocm_build() -> None:
    s = Snapshot.from_dict(
        {"os": "Linux", "arch": "x86_64", "python": "3.11.9", "glibc": "2.35", "rocm": True,
         "gpus": [{"index": 0, "name": "AMD Instinct MI300X", "vendor": "amd"}]}
    )  # fmt: skip
    p = plan(s, load_matrix(), Wants())
    assert p.variant is not None and p.variant.startswith("rocm")
    assert p.steps[0].index_url == f"https://download.pytorch.org/whl/{p.variant}"


def test_minimal_and_without() -> None:
    p = run(snap(), minimal=True)
    assert [s.name for s in p.steps] == ["torch"] and p.imports == ["torch"]
    p = run(snap(), without=["wandb"])
    assert "wandb" not in p.steps[-1].requirements and p.decision("wandb").value is None  # type: ignore[union-attr]


def test_config_keys_decide_the_extensions() -> None:
    wants = Wants()
    cfg = SimpleNamespace(
        attn_implementation="flash_attention_2", adapter="qlora", load_in_4bit=True, wandb_project=None
    )
    add_config_needs(wants, cfg, source="cfg.yml")
    assert wants.extensions == {
        "flash-attn": "cfg.yml: attn_implementation: flash_attention_2",
        "bitsandbytes": "cfg.yml: load_in_4bit: true",
    }
    assert "wandb" not in wants.stack
    p = plan(snap(A100, "550.54.14"), load_matrix(), wants)
    assert p.chosen("flash-attn") and p.chosen("bitsandbytes")


def test_eight_bit_on_an_old_gpu_warns() -> None:
    wants = Wants()
    add_config_needs(wants, SimpleNamespace(load_in_8bit=True), source="c.yml")
    p = plan(snap([("Tesla P100-PCIE-16GB", "6.0")], "550.54.14"), load_matrix(), wants)
    assert any("load_in_8bit" in w for w in p.warnings)


def test_flash_attn_source_build_only_with_a_matching_nvcc() -> None:
    h100 = [("NVIDIA H100 80GB HBM3", "9.0")]
    without = run(snap(h100, "580.95.05"), torch="2.15", with_=["flash-attn"])
    d = without.decision("flash-attn")
    assert d is not None and d.value is None and "nvcc 13.x" in d.reason
    with_nvcc = run(
        snap(h100, "580.95.05", nvcc={"version": "13.0"}, memory_mib=65536),
        torch="2.15",
        with_=["flash-attn"],
    )
    step = next(s for s in with_nvcc.steps if s.name == "flash-attn")
    assert (
        step.pip_args == ["--no-build-isolation"]
        and step.env["MAX_JOBS"] == "4"
        and step.needs[0].value == "13"
    )


H100 = [("NVIDIA H100 80GB HBM3", "9.0")]


def test_flash_attention_3_replaces_a_source_build_on_hopper() -> None:
    # torch 2.11: no flash-attn 2 release wheel (2.8.3.post2 stops at 2.10), no nvcc for a source build
    p = run(snap(H100, "570.86.15"), torch="2.11", with_=["flash-attn"])
    assert p.variant == "cu128"
    d = p.decision("flash-attn")
    assert d is not None and d.value == "flash-attn-3==3.0.0"
    assert "no flash-attn 2 release wheel fits torch 2.11.0+cu128" in d.reason
    assert "flash_attention_3" in d.reason and "\n" not in d.reason
    step = next(s for s in p.steps if s.name == "flash-attn-3")
    assert step.requirements == ["flash-attn-3==3.0.0"] and step.pip_args == ["--no-deps"]
    assert step.index_url == "https://download.pytorch.org/whl/cu128" and step.pin_torch
    stack = next(s for s in p.steps if s.name == "stack")
    assert {"einops", "packaging", "ninja"} <= {
        r.split("=")[0].split(">")[0].split("<")[0] for r in stack.requirements
    }
    assert "flash_attn_interface" in p.imports and "flash_attn" not in p.imports
    assert any("FlashAttention-3 3.0.0's wheel list is UNVERIFIED" in w for w in p.warnings)


@pytest.mark.parametrize(
    ("gpus", "torch", "reason"),
    [
        (A100, "2.11", "planned for sm_90 only, and NVIDIA A100-SXM4-80GB is sm_80"),
        (H100, "2.8", "need torch >= 2.9 (its stable ABI), not 2.8.0"),
        (H100, "2.15", "index has no FlashAttention-3 wheel"),
    ],
)
def test_flash_attention_3_asked_where_no_wheel_fits_is_one_line(
    gpus: list[tuple[str, str | None]], torch: str, reason: str
) -> None:
    wants = from_options(torch=torch)
    add_config_needs(wants, SimpleNamespace(attn_implementation="flash_attention_3"), source="cfg.yml")
    assert wants.flash_attn_3 and wants.extensions == {
        "flash-attn": "cfg.yml: attn_implementation: flash_attention_3"
    }
    p = plan(snap(gpus, "580.95.05"), load_matrix(), wants)
    d = p.decision("flash-attn")
    assert d is not None and d.value is None, d
    assert reason in d.reason and "set attn_implementation: flash_attention_2" in d.reason
    assert not any(s.name.startswith("flash-attn") for s in p.steps)


def test_flash_attention_3_asked_on_hopper_steers_torch_to_a_build_with_its_wheel() -> None:
    wants = Wants()
    add_config_needs(wants, SimpleNamespace(attn_implementation="flash_attention_3"), source="cfg.yml")
    p = plan(snap(H100, "580.95.05"), load_matrix(), wants)
    assert p.variant in ("cu126", "cu128", "cu129"), p.variant
    assert p.chosen("flash-attn") == "flash-attn-3==3.0.0"
    # without the ask, the same machine keeps its audited plan: flash-attn 2's release wheel
    plain = run(snap(H100, "580.95.05"), with_=["flash-attn"])
    assert (plain.chosen("flash-attn") or "").startswith("flash-attn @ https://github.com/Dao-AILab/")


def test_config_file_through_the_real_loader(tmp_path: Any) -> None:
    pytest.importorskip("loradoc.config.load")
    cfg = tmp_path / "cfg.yml"
    cfg.write_text(
        "base_model: NousResearch/Meta-Llama-3-8B\nadapter: qlora\nload_in_4bit: true\n"
        "flash_attention: true\ndatasets:\n  - path: mhenrichsen/alpaca_2k_test\n    type: alpaca\n"
    )
    wants = from_options(config=str(cfg))
    assert set(wants.extensions) == {"flash-attn", "bitsandbytes"} and "wandb" not in wants.stack
    with pytest.raises(UserError):
        from_options(config=str(tmp_path / "missing.yml"))


def test_with_and_without_parse_names_and_groups() -> None:
    w = from_options(with_=["xformers,flash_attn", "bnb"], without=["hf"])
    assert set(w.extensions) == {"xformers", "flash-attn", "bitsandbytes"} and w.stack == ["wandb"]
    with pytest.raises(UserError, match="did you mean xformers"):
        from_options(with_=["xformer"])
    with pytest.raises(UserError, match="--torch"):
        from_options(torch="two.five")
    assert from_options(cuda="cu124").variant == "cu124" and from_options(cuda="12.8").variant == "cu128"


def test_partial_snapshot_without_gpu_facts_gets_pypis_default_build() -> None:
    p = plan(Snapshot.from_dict({"os": "Linux", "python": "3.11.4"}), load_matrix(), Wants())
    d = p.decision("variant")
    assert d is not None and "PyPI's default build" in d.reason
    assert any("driver version is unknown" in w for w in p.warnings)


def test_cuda_build_for_a_box_without_gpu() -> None:
    p = run(snap(), cuda="12.6")
    assert p.variant == "cu126" and any("driver version is unknown" in w for w in p.warnings)
