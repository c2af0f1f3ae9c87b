"""The memory and time estimator: arithmetic on known configs, and one real CPU measurement.

Reference points for Llama-3-8B (config.json numbers below, from meta-llama/Meta-Llama-3-8B):
- 8,030,261,248 parameters (the model card's "8B"; transformers counts the same).
- LoRA r=16 on every linear: 41,943,040 trainable parameters (peft's print_trainable_parameters
  for this model and rank, as quoted in many Llama-3 LoRA notebooks).
- QLoRA with gradient checkpointing: Unsloth's requirements table gives 6 GB as the absolute
  minimum for an 8B model with its own kernels (unsloth.ai/docs, "Unsloth Requirements"), the
  LLaMA-Factory hardware table 6 GB for 7B QLoRA-4bit; HF + bitsandbytes + FA2 runs are reported
  at 8-10 GB at sequence 2048 (Unsloth's Llama 3 blog: HF+FA2 uses 63% more than Unsloth). These
  keep the embeddings and LM head in bf16. loradoc's path calls peft's
  prepare_model_for_kbit_training, which upcasts them to fp32 (+2 GiB here), so the comparison
  is made on the bf16-embedding equivalent, and the fp32 total is checked to carry exactly that.
- 16-bit LoRA: Unsloth's table gives 22 GB for 8B (absolute minimum), LLaMA-Factory 16 GB for 7B.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loradoc.config.load import config_from_dict
from loradoc.train import estimate as est
from loradoc.train import estimate_time as est_time
from loradoc.train.estimate import (
    GIB,
    NF4_BYTES_PER_PARAM,
    estimate_memory,
    model_shape,
)
from loradoc.train.estimate_time import cpu_flops, estimate_time, flops_per_token, gpu_peak_tflops

LLAMA3_8B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 14336,
    "vocab_size": 128256,
    "tie_word_embeddings": False,
}
GB = 1e9


def cfg_of(**keys: Any) -> Any:
    doc = {
        "base_model": "meta-llama/Meta-Llama-3-8B",
        "adapter": "lora",
        "datasets": [{"path": "data.jsonl", "type": "alpaca"}],
        "lora_r": 16,
        "lora_target_linear": True,
        "sequence_len": 2048,
        "micro_batch_size": 1,
        "gradient_checkpointing": True,
        "bf16": True,
        "attn_implementation": "flash_attention_2",
        "sample_packing": True,
        **keys,
    }
    return config_from_dict(doc, echo=False)


def qlora(**keys: Any) -> Any:
    return cfg_of(adapter="qlora", load_in_4bit=True, **keys)


def test_llama3_8b_shape_and_param_counts() -> None:
    shape = model_shape(LLAMA3_8B)
    assert shape.params == 8_030_261_248
    assert (shape.q_dim, shape.kv_dim, shape.head_dim) == (4096, 1024, 128)
    e = estimate_memory(LLAMA3_8B, qlora(), device="cuda", gpu_memory_mib=24 * 1024)
    assert e.trainable_params == 41_943_040  # peft's count for r=16 on all linears
    assert e.part("LoRA adapter") == 41_943_040 * 4
    assert e.part("gradients") == 41_943_040 * 4
    assert e.part("optimizer states") == 41_943_040 * 8  # AdamW, two fp32 states


def test_llama3_8b_qlora_near_published_figures() -> None:
    e = estimate_memory(LLAMA3_8B, qlora(), device="cuda", gpu_memory_mib=24 * 1024)
    linear = 32 * 218_103_808
    assert e.part("base weights") == int(linear * NF4_BYTES_PER_PARAM)  # ~3.6 GB of NF4
    assert 3.5 * GB < e.part("base weights") < 3.7 * GB
    upcast = e.part("base weights (fp32)")
    assert upcast == (2 * 525_336_576 + 65 * 4096) * 4  # embeddings + lm_head + norms in fp32
    # the same run with bf16 embeddings (what the published figures measure): half the upcast less,
    # with its share of the allocator margin
    bf16_equivalent = e.total_bytes - (upcast // 2) * (1 + est.CUDA_ALLOCATOR_MARGIN)
    assert 6 * GB <= bf16_equivalent <= 10.5 * GB, bf16_equivalent / GB
    assert 10 * GB <= e.total_bytes <= 13.5 * GB, e.total_bytes / GB
    assert e.verdict == "fits"


def test_llama3_8b_bf16_lora_near_published_figures() -> None:
    e = estimate_memory(LLAMA3_8B, cfg_of(), device="cuda", gpu_memory_mib=80 * 1024)
    assert e.part("base weights") == 8_030_261_248 * 2
    assert 17 * GB <= e.total_bytes <= 24 * GB, e.total_bytes / GB  # Unsloth's table: 22 GB minimum
    assert e.verdict == "fits"


def test_checkpointing_and_attention_change_activations() -> None:
    on = estimate_memory(LLAMA3_8B, cfg_of(sequence_len=4096), device="cuda", gpu_memory_mib=None)
    off = estimate_memory(
        LLAMA3_8B, cfg_of(sequence_len=4096, gradient_checkpointing=False), device="cuda", gpu_memory_mib=None
    )
    assert off.part("activations") > 20 * on.part("activations")
    assert on.verdict == "unknown"
    eager = estimate_memory(
        LLAMA3_8B,
        cfg_of(
            sequence_len=4096, gradient_checkpointing=False, sample_packing=False, attn_implementation="eager"
        ),
        device="cuda",
        gpu_memory_mib=None,
    )
    # 32 layers x 32 heads x 4096^2 x (fp32 softmax + bf16 copy)
    assert eager.part("attention scores") == 32 * 32 * 4096 * 4096 * 6
    assert eager.part("attention mask") == 4096 * 4096 * 2
    assert off.part("attention scores") == 0 and off.part("attention mask") == 0  # flash: none


def test_verdict_and_fixes_in_order() -> None:
    cfg = cfg_of(sequence_len=4096, micro_batch_size=4, gradient_checkpointing=False)
    e = estimate_memory(LLAMA3_8B, cfg, device="cuda", gpu_memory_mib=24 * 1024)
    assert e.verdict == "does not fit"
    changes = [f.change for f in e.fixes]
    assert changes[0] == "gradient_checkpointing: true"
    assert changes[1].startswith("micro_batch_size: 1")
    assert changes[2].startswith("adapter: qlora")
    assert any(c.startswith("sequence_len:") for c in changes)
    assert any("fsdp" in c for c in changes)
    assert all(f.total_bytes < e.total_bytes for f in e.fixes)
    assert any(f.verdict in ("fits", "tight") for f in e.fixes)
    text = "\n".join(e.lines())
    assert "does not fit" in text and "fix: gradient_checkpointing: true" in text


def test_tight_verdict() -> None:
    e = estimate_memory(LLAMA3_8B, qlora(), device="cuda", gpu_memory_mib=None)
    cap_mib = int(e.total_bytes / 0.95 / (1 << 20))
    tight = estimate_memory(LLAMA3_8B, qlora(), device="cuda", gpu_memory_mib=cap_mib)
    assert tight.verdict == "tight" and 0 < (tight.headroom or 0) < 0.1


def test_optimizers() -> None:
    adam8 = estimate_memory(
        LLAMA3_8B, qlora(optimizer="paged_adamw_8bit"), device="cuda", gpu_memory_mib=None
    )
    assert adam8.part("optimizer states") == 41_943_040 * 2
    sgd = estimate_memory(LLAMA3_8B, qlora(optimizer="sgd"), device="cuda", gpu_memory_mib=None)
    assert sgd.part("optimizer states") == 0


def test_modules_to_save_trains_a_copy() -> None:
    e = estimate_memory(
        LLAMA3_8B,
        cfg_of(lora_modules_to_save=["embed_tokens", "lm_head"]),
        device="cuda",
        gpu_memory_mib=None,
    )
    both = 2 * 525_336_576
    assert e.part("modules_to_save copy") == both * 2  # bf16 copy beside the frozen original
    assert e.part("gradients") == 41_943_040 * 4 + both * 2
    assert e.part("optimizer states") == 41_943_040 * 8 + both * 4  # AdamW states in bf16


def test_new_tokens_train_the_embeddings_and_head_as_the_run_does() -> None:
    plain = estimate_memory(LLAMA3_8B, cfg_of(), device="cuda", gpu_memory_mib=None)
    tokens = estimate_memory(
        LLAMA3_8B, cfg_of(tokens=["<tool>", "</tool>"]), device="cuda", gpu_memory_mib=None
    )
    both = 2 * 525_336_576
    assert tokens.part("modules_to_save copy") == both * 2
    assert tokens.total_bytes - plain.total_bytes >= both * (2 + 2 + 4)  # copy, gradients, AdamW states
    assert any(
        "tokens: 2 new token(s): embed_tokens and lm_head trained in full" in n for n in tokens.assumptions
    )
    # named both ways, they are counted once
    again = estimate_memory(
        LLAMA3_8B,
        cfg_of(tokens=["<t>"], lora_modules_to_save=["embed_tokens"], unfrozen_parameters=["lm_head.*"]),
        device="cuda",
        gpu_memory_mib=None,
    )
    assert again.part("modules_to_save copy") == both * 2
    special = estimate_memory(
        LLAMA3_8B, cfg_of(special_tokens={"eos_token": "<|im_end|>"}), device="cuda", gpu_memory_mib=None
    )
    assert any("special_tokens: if the tokenizer lacks them" in n for n in special.assumptions)


def test_unfrozen_parameters_are_counted_by_module() -> None:
    e = estimate_memory(
        LLAMA3_8B,
        cfg_of(
            unfrozen_parameters=[
                "model.layers.0.mlp.*",
                "model.norm.weight",
                "model.layers.31.self_attn.q_proj.weight[:10]",
            ]
        ),
        device="cuda",
        gpu_memory_mib=None,
    )
    mlp = 3 * 4096 * 14336
    assert (
        e.part("modules_to_save copy") == (mlp + 4096 + 4096 * 4096) * 2
    )  # a row range trains a copy of all rows
    nothing = estimate_memory(
        LLAMA3_8B, cfg_of(unfrozen_parameters=["transformer.h.*"]), device="cuda", gpu_memory_mib=None
    )
    assert any("matches no Llama-style parameter name" in n for n in nothing.assumptions)


def test_sharding_per_rank(tmp_path: Path) -> None:
    single = estimate_memory(LLAMA3_8B, cfg_of(), device="cuda", gpu_memory_mib=None)
    ddp = estimate_memory(
        LLAMA3_8B, cfg_of(num_processes=4), device="cuda", gpu_memory_mib=None, world_size=4
    )
    assert ddp.sharding == "ddp"
    assert ddp.part("base weights") == single.part("base weights")
    assert ddp.part("DDP buckets") == single.part("gradients")
    fsdp = estimate_memory(
        LLAMA3_8B, cfg_of(fsdp=["full_shard", "auto_wrap"]), device="cuda", gpu_memory_mib=None, world_size=4
    )
    assert fsdp.sharding == "fsdp:full_shard"
    assert fsdp.part("base weights") == -(-single.part("base weights") // 4)
    assert fsdp.part("optimizer states") == -(-single.part("optimizer states") // 4)
    assert fsdp.part("activations") == single.part("activations")
    ds_file = tmp_path / "ds.json"
    for stage, divided in ((1, {"optimizer states"}), (2, {"optimizer states", "gradients"})):
        ds_file.write_text(json.dumps({"zero_optimization": {"stage": stage}}))
        z = estimate_memory(
            LLAMA3_8B, cfg_of(deepspeed=str(ds_file)), device="cuda", gpu_memory_mib=None, world_size=8
        )
        assert z.sharding == f"zero{stage}"
        for name in ("optimizer states", "gradients", "base weights"):
            want = -(-single.part(name) // 8) if name in divided else single.part(name)
            assert z.part(name) == want, (stage, name)
    z3 = estimate_memory(
        LLAMA3_8B,
        cfg_of(deepspeed={"zero_optimization": {"stage": 3}}),
        device="cuda",
        gpu_memory_mib=None,
        world_size=8,
    )
    assert z3.sharding == "zero3" and z3.part("base weights") == -(-single.part("base weights") // 8)


def test_cpu_parts() -> None:
    e = estimate_memory(
        LLAMA3_8B, cfg_of(bf16="auto", attn_implementation=None), device="cpu", gpu_memory_mib=None
    )
    assert e.part("base weights") == 8_030_261_248 * 4  # fp32 without a GPU
    assert e.part("process baseline") == est.CPU_PROCESS_BASELINE_BYTES
    assert e.part("CPU runtime buffers") == est.CPU_RUNTIME_BYTES
    assert e.part("CUDA context") == 0 and e.part("allocator margin") == 0
    # 2048 tokens: hidden-sized tensors are exactly 32 MiB (heap), q-sized too, KV-sized 8 MiB, the
    # 14336-wide MLP tensors 112 MiB and the 1024 x 128256 logits 501 MiB (both mmapped: not kept)
    tokens = 2048
    layer = 4 * tokens * 4096 * 4 + 3 * tokens * 4096 * 4 + 2 * tokens * 1024 * 4 + 7 * tokens * 16 * 4
    assert e.part("heap retention") == int(32 * layer * est.CPU_HEAP_RETAINED)


def test_cpu_heap_retention_follows_the_tensor_sizes() -> None:
    """glibc keeps freed blocks of <= 32 MiB: the same churn with and without checkpointing."""
    small = {**LLAMA3_8B, "hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8}
    small.update(num_attention_heads=8, num_key_value_heads=4, vocab_size=32000)
    keys = {
        "sequence_len": 512,
        "micro_batch_size": 2,
        "sample_packing": False,
        "attn_implementation": "sdpa",
    }
    full = estimate_memory(
        small, cfg_of(bf16=False, gradient_checkpointing=False, **keys), device="cpu", gpu_memory_mib=None
    )
    ckpt = estimate_memory(small, cfg_of(bf16=False, **keys), device="cpu", gpu_memory_mib=None)
    tokens = 1024
    per_layer = 4 * (4 * 512 + 3 * 512 + 2 * 256 + 4 * 1408 + 7 * 16) * tokens
    # 512 trained positions x 32000 x 4 bytes = 62.5 MiB per logits-sized tensor: mmapped, not kept
    assert (
        full.part("heap retention")
        == ckpt.part("heap retention")
        == int(8 * per_layer * est.CPU_HEAP_RETAINED)
    )
    assert ckpt.part("activations") < full.part("activations") / 10
    eager = estimate_memory(
        small,
        cfg_of(bf16=False, **{**keys, "attn_implementation": "eager"}),
        device="cpu",
        gpu_memory_mib=None,
    )
    scores = 2 * 8 * 512 * 512 * 4  # fp32 softmax per layer, 16 MiB: in the heap
    assert eager.part("heap retention") - ckpt.part("heap retention") == pytest.approx(
        8 * scores * est.CPU_HEAP_RETAINED, abs=1
    )
    gpu = estimate_memory(small, cfg_of(**keys), device="cuda", gpu_memory_mib=None)
    assert gpu.part("heap retention") == 0 and gpu.part("CPU runtime buffers") == 0


def test_checkpointed_backward_holds_two_intermediate_gradients() -> None:
    """bench shape h512-l3-i8448-s1024-gc: 6 MLP-sized blocks live at the peak (4 saved + 2 grads)."""
    wide = {**LLAMA3_8B, "hidden_size": 512, "intermediate_size": 8448, "num_hidden_layers": 3}
    wide.update(num_attention_heads=8, num_key_value_heads=4, vocab_size=8000)
    cfg = cfg_of(bf16=False, sequence_len=1024, sample_packing=False, attn_implementation="sdpa", lora_r=16)
    e = estimate_memory(wide, cfg, device="cpu", gpu_memory_mib=None)
    tokens, i = 1024, 8448
    layer = 4 * (4 * 512 + 3 * 512 + 2 * 256 + 4 * i) * tokens + 4 * 7 * 16 * tokens
    grads = 4 * (4 * 512 + 2 * i) * tokens
    assert e.part("peak working set") == layer + grads  # above the LM head's 512 x 8000 logits
    mlp_blocks = (e.part("peak working set") - 4 * (11 * 512 + 2 * 256 + 7 * 16) * tokens) / (4 * i * tokens)
    assert mlp_blocks == pytest.approx(6, abs=0.01)


def test_time_estimate() -> None:
    cfg = qlora()
    per_token = flops_per_token(LLAMA3_8B, cfg)
    n = 32 * 218_103_808
    # forward 2N + backward 2N (frozen: activation gradients only) + recompute 2N, plus head, LoRA, attention
    assert 6 * n < per_token < 6 * n * 1.15
    peak = gpu_peak_tflops("NVIDIA A100-SXM4-80GB")
    assert peak is not None and peak[0] == 312.0
    assert gpu_peak_tflops("NVIDIA H100 PCIe")[0] == 756.0  # type: ignore[index]
    assert gpu_peak_tflops("NVIDIA L4")[0] == 121.0  # type: ignore[index]
    assert gpu_peak_tflops("NVIDIA L40S")[0] == 362.0  # type: ignore[index]
    assert gpu_peak_tflops("Quadro P1000") is None
    t = estimate_time(LLAMA3_8B, cfg, device="cuda", gpu_name="NVIDIA A100-SXM4-80GB", tokens=10_000_000)
    assert t.seconds_low < t.seconds < t.seconds_high
    assert t.seconds_high == pytest.approx(per_token * 1e7 / (312e12 * est_time.GPU_UTILISATION[0]))
    rows = estimate_time(LLAMA3_8B, cfg, device="cuda", gpu_name="H100", rows=100)
    assert rows.tokens == 2048 * 100 and rows.notes


def test_cpu_flops_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int | None] = []

    def fake(threads: int | None = None) -> float:
        calls.append(threads)
        return 5e10

    monkeypatch.setattr(est_time, "measure_cpu_flops", fake)
    path = tmp_path / "cpu_flops.json"
    assert cpu_flops(2, cache=path) == 5e10
    assert cpu_flops(2, cache=path) == 5e10
    assert calls == [2] and path.is_file()
    with pytest.raises(LookupError):
        cpu_flops(3, cache=path, measure=False)


def test_module_is_light() -> None:
    code = "import sys, loradoc.train.estimate; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_real_cpu_run_within_15_percent(tmp_path: Path) -> None:
    """One bench shape trained for real on the CPU: peak RSS delta within 15% of the estimate.

    h256-l8-s2048: its heap retention sits near the constant's median, and fresh processes spread
    by ~3% on it (small-gc, the smallest shape, sits at +10% with a 10% spread: a single run
    went over 15% on a CI machine)."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "memory_estimate.py"
    out = subprocess.run(
        [
            sys.executable,
            str(bench),
            "--shapes",
            "h256-l8-s2048",
            "--steps",
            "3",
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads((tmp_path / "r.json").read_text())
    assert abs(rows[0]["error"]) <= 0.15, out.stdout
    assert rows[0]["measured_mib"] * (1 << 20) > 0.1 * GIB
