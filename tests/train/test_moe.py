"""Mixture-of-experts: a tiny random Qwen3-MoE trains with LoRA on attention and on the fused
expert weights (peft target_parameters, as `lora_target_parameters` configures it), and packed
rows give the same logits, loss and LoRA gradients as each example alone, per attention path.
The router's auxiliary loss is transformers' own (off unless `output_router_logits`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_packed_equivalence import (
    BINS,
    EXAMPLES,
    VOCAB,
    in_bin_order,
    max_diff,
    packed_logits_per_example,
    supervised,
    unpacked_logits,
    unpacked_loss_sum,
)

from loradoc.train.model.attention import VARLEN, register_attention
from loradoc.train.packing.collator import PackedCollator

TOL = 1e-5
EXPERT_PARAMS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]


def tiny_moe(impl: str) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    register_attention()
    cfg = Qwen3MoeConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        num_experts=4,
        num_experts_per_tok=2,
        max_position_embeddings=128,
        use_cache=False,
    )
    torch.manual_seed(0)
    model = Qwen3MoeForCausalLM(cfg).to(torch.float32)
    model.set_attn_implementation(impl)
    torch.manual_seed(1)
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        target_parameters=EXPERT_PARAMS,
        init_lora_weights=False,
    )
    return get_peft_model(model, lora).eval()


@pytest.mark.parametrize("impl", ["sdpa", "eager", VARLEN])
def test_moe_packed_equals_unpacked_with_lora_on_the_experts(impl: str) -> None:
    model = tiny_moe(impl)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any("experts" in n for n in params) and any("q_proj" in n for n in params)
    batch = PackedCollator(pad_token_id=0)(BINS)
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits
        ref = unpacked_logits(model, in_bin_order(BINS))
    assert max_diff(packed_logits_per_example(logits, BINS), ref) <= TOL
    packed_loss = model(**batch, use_cache=False).loss
    total, count = unpacked_loss_sum(model, EXAMPLES)
    assert supervised(batch["labels"]) == count
    assert abs(float(packed_loss) - float(total / count)) <= TOL
    packed_grads = torch.autograd.grad(packed_loss, list(params.values()))
    unpacked_grads = torch.autograd.grad(total / count, list(params.values()))
    for name, gp, gu in zip(params, packed_grads, unpacked_grads, strict=True):
        scale = float(gu.abs().max())
        assert scale > 0, f"{name} has no gradient"
        assert float((gp - gu).abs().max()) <= TOL * scale, name


def test_a_moe_lora_run_trains_through_the_cli(
    tmp_path: Path, tiny_tokenizer: Any, tiny_data_dir: Path, make_train_config: Any, one_torch_thread: Any
) -> None:
    from loradoc.train.run.start import run_training

    model_dir = tmp_path / "moe"
    tiny_moe("sdpa").merge_and_unload().save_pretrained(str(model_dir))
    tiny_tokenizer.save_pretrained(str(model_dir))
    cfg = make_train_config(
        base_model=str(model_dir),
        lora_target_linear=False,
        lora_target_modules=["q_proj", "v_proj"],
        lora_target_parameters=EXPERT_PARAMS,
        max_steps=3,
    )
    assert run_training(cfg) == 0
    adapter = Path(cfg.output_dir) / "adapter_config.json"
    assert adapter.is_file() and "gate_up_proj" in adapter.read_text()
