"""Liger kernels (``liger_*``): applied through liger-kernel on a CUDA GPU, a one-line note elsewhere.

The GPU test trains the tiny model with and without the kernels and compares the losses; it is
skipped where there is no CUDA GPU or no liger-kernel (here). The rest runs everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from config_cli_helpers import A100, CPU, run_cli

from loradoc.train.model.kernels import liger_arguments, liger_asked, liger_plan


def test_the_keys_name_the_kernels(train_config: Any) -> None:
    cfg = train_config(liger_rope=True, liger_rms_norm=True, liger_swiglu=True, liger_glu_activation=True)
    assert liger_asked(cfg) == ("rope", "rms_norm", "glu")
    assert liger_asked(train_config()) == ()


def test_only_the_asked_kernels_are_turned_on_and_the_loss_kernels_never() -> None:
    def apply_liger_kernel_to_example(  # the shape of liger-kernel's per-model entry points
        rope: bool = True,
        cross_entropy: bool = False,
        fused_linear_cross_entropy: bool = True,
        rms_norm: bool = True,
        swiglu: bool = True,
        model: Any = None,
    ) -> None: ...

    args = liger_arguments(apply_liger_kernel_to_example, ("rope", "glu"))
    assert args == {
        "rope": True,
        "cross_entropy": False,
        "fused_linear_cross_entropy": False,
        "rms_norm": False,
        "swiglu": True,
    }


def test_the_plan_says_whether_the_kernels_run(train_config: Any) -> None:
    cfg = train_config(liger_rms_norm=True)
    assert "not used (Liger's kernels are Triton kernels for CUDA GPUs" in str(liger_plan(cfg, cuda=False))
    missing = str(liger_plan(cfg, cuda=True, installed=False))
    assert "not used (liger-kernel is not installed (pip install liger-kernel))" in missing
    assert (
        liger_plan(cfg, cuda=True, installed=True)
        == "Liger rms_norm (liger-kernel, same math as the model's own layers)"
    )
    assert liger_plan(train_config(), cuda=True) is None


def test_the_dry_run_shows_the_kernels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], minimal_config_doc: Any
) -> None:
    import yaml

    doc = {**minimal_config_doc, "liger_rope": True, "liger_glu_activation": True}
    path = tmp_path / "cfg.yml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    gpu = run_cli(capsys, "train", path, "--dry-run", "--from", A100)
    assert "kernels" in gpu.out and "Liger rope, glu: not used (liger-kernel is not installed" in gpu.out
    cpu = run_cli(capsys, "train", path, "--dry-run", "--from", CPU)
    assert "Liger rope, glu: not used (Liger's kernels are Triton kernels for CUDA GPUs" in cpu.out


def test_on_the_cpu_the_run_goes_on_without_them(
    make_train_config: Any, one_torch_thread: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from loradoc.train.run.start import run_training

    cfg = make_train_config(liger_rope=True, liger_rms_norm=True, max_steps=1)
    assert run_training(cfg) == 0
    out = capsys.readouterr().out
    assert (
        "note: liger_rope, liger_rms_norm: Liger's kernels are Triton kernels for CUDA GPUs and this run has none; "
        "they are speed options with the same math, so the run goes on without them"
    ) in out
    assert json.loads((Path(cfg.output_dir) / "summary.json").read_text())["steps"] == 1


def _cuda_with_liger() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("liger_kernel") is not None


@pytest.mark.skipif(not _cuda_with_liger(), reason="needs a CUDA GPU and liger-kernel")
def test_liger_kernels_give_the_same_loss_on_the_gpu(tiny_model_dir: Path, tiny_tokenizer: Any) -> None:
    """The same batch through the tiny Llama with LoRA, with and without Liger: equal loss and
    LoRA gradients within bf16 tolerance."""
    import torch
    from transformers import AutoModelForCausalLM

    from loradoc.config.load import config_from_dict
    from loradoc.train.model.kernels import apply_liger

    def loss_and_grads(with_liger: bool) -> tuple[float, torch.Tensor]:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), dtype=torch.bfloat16).cuda()
        if with_liger:
            keys = {"liger_rope": True, "liger_rms_norm": True, "liger_glu_activation": True}
            cfg = config_from_dict(
                {
                    "base_model": str(tiny_model_dir),
                    "adapter": "lora",
                    "datasets": [{"path": "x", "type": "alpaca"}],
                    **keys,
                },
                echo=False,
            )
            assert apply_liger(cfg, model, cuda=True, say=print) == ("rope", "rms_norm", "swiglu")
        lora = LoraConfig(
            r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "gate_proj"], task_type="CAUSAL_LM"
        )
        peft_model = get_peft_model(model, lora)
        ids = torch.randint(
            3, len(tiny_tokenizer), (2, 64), generator=torch.Generator().manual_seed(1)
        ).cuda()
        out = peft_model(input_ids=ids, labels=ids)
        out.loss.backward()
        grad = next(p.grad for n, p in peft_model.named_parameters() if "lora_B" in n and p.grad is not None)
        return float(out.loss), grad.float().cpu()

    plain_loss, plain_grad = loss_and_grads(False)
    liger_loss, liger_grad = loss_and_grads(True)
    assert abs(plain_loss - liger_loss) <= 2e-2 * abs(plain_loss)
    assert torch.allclose(plain_grad, liger_grad, rtol=5e-2, atol=5e-3)


@pytest.mark.parametrize("value", [True, False])
def test_use_kernels_reaches_transformers(train_config: Any, tiny_model_dir: Path, value: bool) -> None:
    """use_kernels goes to from_pretrained as Axolotl passes it; unset keeps transformers' default."""
    from loradoc.train.model.load import load_base_model

    cfg = train_config(base_model=str(tiny_model_dir), use_kernels=value)
    model = load_base_model(cfg, attention="sdpa", precision="fp32")
    assert model.use_kernels is value
