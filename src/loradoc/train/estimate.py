"""Will it fit: the memory of a LoRA/QLoRA run, before any weight loads.

- :func:`estimate_memory` adds up, per process, what a loradoc run holds at its peak: the base
  weights in their storage dtype, the LoRA adapter and ``lora_modules_to_save`` with their
  gradients and optimizer states, the activations kept for backward (with and without
  gradient checkpointing, attention scores where the backend materialises them), the LM head
  and loss at trained positions, and the CUDA context and allocator margin on a GPU (on the CPU:
  the freed tensor memory glibc's malloc keeps in its heap, and the process baseline); then the
  per-rank share under DDP, FSDP or DeepSpeed ZeRO, a verdict against the device memory, and
  fixes in order of least change, each with its own estimate.
- the time a run takes is :mod:`loradoc.train.estimate_time`.

Light module: no torch/transformers import at module level (a laptop plans for a GPU box).

The model is read from its ``config.json`` as a Llama-style decoder (q/k/v/o attention with
grouped KV heads, gate/up/down MLP, RMSNorm): Llama, Mistral, Qwen2/3, Gemma and most
current causal LMs. A mixture-of-experts config counts every expert's weights but one
expert's activations per token, and says so. Every constant names where it comes from;
``bench/memory_estimate.py`` checks the total against real CPU runs (bench/README.md).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loradoc.config.schema import TrainConfig

__all__ = [
    "Fix",
    "MemoryEstimate",
    "ModelShape",
    "Part",
    "estimate_memory",
    "model_shape",
]

MIB = 1 << 20
GIB = 1 << 30

# -- constants, each with its source ---------------------------------------------------------------

# Fraction of positions whose next token is trained. loradoc runs the LM head and the loss only
# there (train/model/supervised_logits.py); with train_on_inputs: false about half of an
# instruction row is prompt (README "packed-sup": 41,155 supervised of 81,072 tokens = 51% on the
# bench workload). An assumption for unseen data; the caller may pass the real fraction.
TRAINED_FRACTION = 0.5

# NF4 with double quantisation: 4 bits per weight + 8-bit absmax per 64-weight block + one fp32
# constant per 256 blocks = 4 + 8/64 + 32/(64*256) = 4.127 bits (QLoRA paper, Dettmers et al. 2023,
# section 3 "Double Quantization"; bitsandbytes blocksize 64 is transformers' default).
NF4_BYTES_PER_PARAM = (4 + 8 / 64 + 32 / (64 * 256)) / 8
# LLM.int8(): int8 weights + one fp32 scale per output row (bitsandbytes Int8Params.SCB); the row
# scales are counted separately below.
INT8_BYTES_PER_PARAM = 1.0

# CUDA context (driver, kernels of torch/cuBLAS loaded lazily since CUDA 11.7's
# CUDA_MODULE_LOADING=LAZY, which torch sets by default) plus cuBLAS workspaces: 300-600 MiB on
# current drivers (PyTorch "CUDA semantics" notes; torch.cuda.mem_get_info before/after init).
# Not measured here (no GPU on the reference machine).
CUDA_CONTEXT_BYTES = 500 * MIB
# The caching allocator rounds blocks up (512 B, 2 MiB segments for small ones, 20 MiB+ for large)
# and fragments over a run: reserved exceeds allocated by roughly 5-15% in training loops
# (torch.cuda.memory_reserved vs memory_allocated). A margin, not a measurement.
CUDA_ALLOCATOR_MARGIN = 0.10

# The CPU process before the model: python + torch + transformers + peft + loradoc imported and
# the compute libraries warmed by one tiny matmul (bench/memory_estimate.py: VmRSS 355 MiB, torch
# 2.13 CPU, transformers 5.25, peft 0.21, 2 threads), plus ~20 MiB for a fast tokenizer (a
# 128k-vocab tokenizer.json in the Rust tokenizers library).
CPU_PROCESS_BASELINE_BYTES = 375 * MIB
# Peak RSS of CPU training = weights + the tensors counted here + what glibc's malloc keeps of the
# freed ones + a small runtime residue. Established on bench/memory_estimate.py's shapes (glibc 2.36,
# torch 2.13 CPU, 2 threads; bench/README.md):
# - the tensor parts here match torch.profiler's live tensor bytes at the peak within 5% on the
#   first six shapes (profile_memory=True, the cumulative sum of its [memory] events), and malloc's in-use
#   bytes (mallinfo2 uordblks + hblkhd) match those live tensors: no hidden runtime buffers;
# - the rest of the peak, 100-400 MiB, is free memory inside malloc's heap (mallinfo2 arena -
#   uordblks). An LD_PRELOAD trace of every allocation of 64 KiB or more showed why: each 5.5 MiB
#   MLP tensor of a checkpointed forward got fresh memory at the top of the heap although the
#   previous one of the same size had just been freed below it.
# Why: torch's CPU allocator asks posix_memalign for 64-byte alignment (c10/core/alignment.h,
# gAlignment = 64; libc10.so imports posix_memalign), and glibc 2.36's _int_memalign asks
# _int_malloc for n + alignment + MINSIZE bytes, so the hole a freed tensor of n bytes leaves is
# too small for the next tensor of n bytes (bench/memory_estimate.py prints this check: malloc
# reuses such a hole, posix_memalign(64) does not). glibc's dynamic mmap threshold (malloc.c,
# M_MMAP_THRESHOLD) puts every size up to DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit) in the heap
# after the first free, and freed heap memory below the top stays resident. Larger tensors are
# always mmapped and unmapped when freed (the LM head's logits on most shapes, the activations of
# a large model), so they add nothing. A checkpointed forward allocates and frees the same
# per-layer tensors as a full one, so the heap keeps about as much with checkpointing (heap top
# minus live heap blocks at the peak, from the allocation trace: 271 with vs 241 MiB without on
# h512-l8-s512-mb2, 333 vs 356 MiB on h768-l6-s1024-packed).
# Proof by removal: with MALLOC_MMAP_THRESHOLD_=131072 (every block of 128 KiB or more mmapped
# and unmapped when freed, at the cost of fresh pages for every tensor) peak RSS falls to weights
# + counted tensors + CPU_RUNTIME_BYTES within 3.7% on all nine bench shapes
# (bench/memory_estimate.py --no-heap-retention).
GLIBC_MMAP_THRESHOLD_MAX = 32 * MIB
# Heap bytes kept per byte of heap-sized tensor churn (_heap_churn: every layer's activations as a
# forward without checkpointing allocates them, eager scores, the LM head's logits-sized tensors,
# each counted only if one tensor is at most 32 MiB). Measured as (peak RSS delta - weights -
# counted tensors - CPU_RUNTIME_BYTES) / churn on bench/memory_estimate.py's first six shapes,
# median of 3 processes each (--repeats 3, load 2.6-2.9): 0.71 (small-gc), 0.81, 0.84, 0.88, 0.90,
# 1.02 (h512-l8-s512-mb2-gc); the median, 0.86, is used. Three shapes added afterwards (held out)
# came within 10% (bench/README.md).
CPU_HEAP_RETAINED = 0.86
# What remains with glibc's retention removed (bench/memory_estimate.py --no-heap-retention): peak
# RSS delta - weights - counted tensors = 12-39 MiB over the first six shapes, median 33 (autograd
# nodes, Python objects and OpenMP/oneDNN buffers of a step).
CPU_RUNTIME_BYTES = 33 * MIB

# Activations kept for backward per decoder layer and token, in units of elements of the compute
# dtype, for a Llama-style layer with LoRA on a frozen base (a frozen linear keeps no input for its
# weight gradient, but its LoRA branch keeps the same input tensor for lora_A):
#   residual in (h), RMSNorm out (h), q and k after RoPE (q_dim, kv_dim), v (kv_dim),
#   attention out and its contiguous copy for o_proj (2 q_dim), residual mid (h), RMSNorm out (h),
#   gate, SiLU(gate), up, SiLU(gate)*up (4 i), and the rank-r outputs of the 7 lora_A (7 r).
# Counted from transformers' LlamaDecoderLayer/LlamaMLP/apply_rotary_pos_emb; checked against
# the bench (bench/memory_estimate.py).
HIDDEN_TERMS = 4  # x_in, norm1 out, x_mid, norm2 out
QDIM_TERMS = 3  # q after RoPE, attention out, its contiguous copy
KVDIM_TERMS = 2  # k after RoPE, v
MLP_TERMS = 4  # gate, SiLU(gate), up, product
# RMSNorm computes in fp32 (LlamaRMSNorm: hidden_states.to(torch.float32)); with a 16-bit compute
# dtype the fp32 copy of its input is kept for backward: 2 norms x 4 bytes x h per token.
RMSNORM_FP32_BYTES = 2 * 4
# Gradients live while a layer's backward runs, next to what the layer saved: the incoming gradient
# of the residual stream and of the attention intermediates (4 h), and two intermediate-sized ones
# (2 i): the gradient of SiLU(gate)*up from down_proj and from its LoRA branch before autograd sums
# them, then the gradients of SiLU(gate) and up; each saved MLP tensor is freed as its node's
# backward ends. Measured: at the peak of a recomputed layer's backward 6 blocks of 33 MiB (4 saved
# + 2 gradients, never the 8 that (4 h, 4 i) assumed) were live in an allocation trace of
# bench/memory_estimate.py's h512-l3-i8448-s1024-gc (LD_PRELOAD shim logging malloc/free >= 64 KiB).
BACKWARD_WORKING_TERMS = (4, 2)  # (hidden terms, intermediate terms)
# LM head at trained positions: the logits in the compute dtype, their fp32 upcast in
# transformers' ForCausalLMLoss (logits.float()), cross-entropy's saved log-softmax (fp32), and in
# backward the fp32 gradient of the logits: with a 16-bit compute dtype 2 + 4 + 4 + 4 bytes per
# vocab entry, in fp32 4 + 4 + 4 (the upcast is a no-op).
LM_HEAD_FP32_COPIES = 3

# Llama-style linear layers: name -> (in, out) as a function of the shape.
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# peft's default target_modules for Llama-style models (peft TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
PEFT_DEFAULT_TARGETS = ("q_proj", "v_proj")


# -- the model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tied: bool
    experts: int = 1  # MoE: experts per layer (weights); activations count one expert per token
    notes: tuple[str, ...] = ()

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in_features, out_features) of each linear of one decoder layer."""
        h, i = self.hidden, self.intermediate
        return {
            "q_proj": (h, self.q_dim),
            "k_proj": (h, self.kv_dim),
            "v_proj": (h, self.kv_dim),
            "o_proj": (self.q_dim, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }

    def linear_copies(self, name: str) -> int:
        return self.experts if name in ("gate_proj", "up_proj", "down_proj") else 1

    @property
    def layer_linear_params(self) -> int:
        return sum(a * b * self.linear_copies(n) for n, (a, b) in self.linear_shapes().items())

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def head_params(self) -> int:
        return 0 if self.tied else self.vocab * self.hidden

    @property
    def norm_params(self) -> int:
        return (2 * self.layers + 1) * self.hidden

    @property
    def params(self) -> int:
        return (
            self.layers * self.layer_linear_params
            + self.embedding_params
            + self.head_params
            + self.norm_params
        )


def model_shape(config: dict[str, Any]) -> ModelShape:
    """The decoder's shape from a ``config.json`` dict (a nested ``text_config`` is read when present)."""
    cfg = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    assert isinstance(cfg, dict)

    def num(*keys: str, default: int | None = None) -> int:
        for key in keys:
            value = cfg.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        if default is None:
            raise ValueError(f"config.json has no {' / '.join(keys)}")
        return default

    hidden = num("hidden_size", "n_embd", "d_model")
    heads = num("num_attention_heads", "n_head")
    notes: list[str] = []
    experts = num("num_local_experts", "num_experts", "n_routed_experts", default=1)
    intermediate = num("intermediate_size", "n_inner", default=4 * hidden)
    if experts > 1:
        intermediate = num("moe_intermediate_size", default=intermediate)
        notes.append(f"mixture of experts: {experts} experts' weights counted, one expert's activations")
    tied = config.get("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
    return ModelShape(
        hidden=hidden,
        layers=num("num_hidden_layers", "n_layer"),
        heads=heads,
        kv_heads=num("num_key_value_heads", default=heads),
        head_dim=num("head_dim", default=hidden // heads),
        intermediate=intermediate,
        vocab=num("vocab_size"),
        tied=bool(tied),
        experts=experts,
        notes=tuple(notes),
    )


# -- the run, as far as memory cares -------------------------------------------------------------
@dataclass(frozen=True)
class RunFacts:
    device: str  # "cpu" or "cuda"
    compute_bytes: int  # activations: 4 fp32, 2 bf16/fp16
    weight_bytes: int  # unquantized base weights
    quant: str | None  # "nf4", "int8" or None
    targets: tuple[str, ...]  # LoRA target linears of each layer
    rank: int
    dora: bool
    modules_to_save: tuple[str, ...]
    seq: int
    mbs: int
    checkpointing: bool
    attention: str
    optimizer: str
    world: int
    sharding: str  # "ddp", "fsdp:full_shard", "fsdp:shard_grad_op", "zero1".."zero3", "single"
    offload_optimizer: bool
    trained_fraction: float
    notes: tuple[str, ...] = ()


def _precision(cfg: TrainConfig, device: str) -> tuple[str, str | None]:
    """(precision, note): the dtype the run loads the base in and computes with (preflight's rule)."""
    if cfg.fp16:
        return "fp16", None
    if cfg.bf16 == "auto":
        if device == "cpu":
            return "fp32", None
        return (
            "bf16",
            "bf16: auto assumed to resolve to bf16 (compute capability >= 8.0; fp16 has the same size)",
        )
    return ("bf16" if cfg.bf16 else "fp32"), None


def _targets(cfg: TrainConfig, shape: ModelShape) -> tuple[tuple[str, ...], list[str]]:
    notes: list[str] = []
    explicit = cfg.lora_target_modules
    if cfg.lora_target_linear:
        names = set(LINEARS) | (
            {n for n in explicit if n in LINEARS} if isinstance(explicit, list) else set()
        )
        return tuple(n for n in LINEARS if n in names), notes
    if isinstance(explicit, str):
        sample = [f"model.layers.0.self_attn.{n}" for n in LINEARS[:4]] + [
            f"model.layers.0.mlp.{n}" for n in LINEARS[4:]
        ]
        try:
            hit = tuple(n for n, full in zip(LINEARS, sample, strict=True) if re.fullmatch(explicit, full))
        except re.error:
            hit = ()
        notes.append("lora_target_modules is a regular expression: matched against layer 0's names")
        return hit, notes
    if explicit:
        unknown = [n for n in explicit if n not in LINEARS]
        if unknown:
            notes.append(f"LoRA targets not in a Llama-style layer, not counted: {', '.join(unknown)}")
        return tuple(n for n in LINEARS if n in explicit), notes
    return PEFT_DEFAULT_TARGETS, [
        "no LoRA targets set: peft's default for Llama-style models (q_proj, v_proj)"
    ]


def _zero_stage(deepspeed: Any) -> tuple[int | None, bool, str | None]:
    """(stage, optimizer offloaded, note) from a DeepSpeed dict or JSON file path."""
    data = deepspeed
    if isinstance(deepspeed, str):
        try:
            data = json.loads(Path(deepspeed).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return (
                None,
                False,
                f"deepspeed config {deepspeed} not read ({type(exc).__name__}): ZeRO stage unknown",
            )
    if not isinstance(data, dict):
        return None, False, "deepspeed config is not a mapping: ZeRO stage unknown"
    zero = data.get("zero_optimization")
    if not isinstance(zero, dict):
        return 0, False, None
    stage = zero.get("stage", 0)
    offload = zero.get("offload_optimizer")
    offloaded = isinstance(offload, dict) and offload.get("device") in ("cpu", "nvme")
    return (int(stage) if isinstance(stage, int) and 0 <= stage <= 3 else None), offloaded, None


def run_facts(cfg: TrainConfig, shape: ModelShape, device: str, world: int) -> RunFacts:
    notes: list[str] = list(shape.notes)
    dev = "cpu" if device == "cpu" else "cuda"
    precision, note = _precision(cfg, dev)
    if note:
        notes.append(note)
    compute = 4 if precision == "fp32" else 2
    quant = "nf4" if cfg.load_in_4bit else "int8" if cfg.load_in_8bit else None
    targets, tnotes = _targets(cfg, shape)
    notes += tnotes
    attention = cfg.attn_implementation or (
        "loradoc_varlen"
        if dev == "cpu" and cfg.sample_packing
        else "sdpa"
        if dev == "cpu"
        else "flash_attention_2"
    )
    if not cfg.attn_implementation:
        notes.append(f"attention not resolved yet: assumed {attention}")
    sharding, offload = ("single" if world <= 1 else "ddp"), False
    if world > 1 and cfg.deepspeed:
        stage, offload, dnote = _zero_stage(cfg.deepspeed)
        if dnote:
            notes.append(dnote)
        sharding = f"zero{stage}" if stage else "ddp"
        if stage is None:
            notes.append("ZeRO stage unknown: counted as a full replica per rank")
    elif world > 1 and cfg.fsdp:
        opts = {str(o).lower() for o in cfg.fsdp}
        if "full_shard" in opts or "hybrid_shard" in opts:
            sharding = "fsdp:full_shard"
        elif "shard_grad_op" in opts:
            sharding = "fsdp:shard_grad_op"
        if "offload" in opts:
            offload = True
        if "hybrid_shard" in opts:
            notes.append("hybrid_shard counted as full_shard over all ranks (a lower bound per rank)")
    return RunFacts(
        device=dev,
        compute_bytes=compute,
        weight_bytes=compute,
        quant=quant,
        targets=targets,
        rank=int(cfg.lora_r),
        dora=bool(cfg.peft_use_dora),
        modules_to_save=_trained_modules(cfg, shape, notes),
        seq=int(cfg.sequence_len),
        mbs=int(cfg.micro_batch_size),
        checkpointing=bool(cfg.gradient_checkpointing),
        attention=attention,
        optimizer=str(cfg.optimizer),
        world=max(1, world),
        sharding=sharding,
        offload_optimizer=offload,
        trained_fraction=TRAINED_FRACTION,
        notes=tuple(notes),
    )


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    name: str
    bytes: int
    note: str = ""


@dataclass(frozen=True)
class Fix:
    change: str  # the config change, e.g. "gradient_checkpointing: true"
    total_bytes: int
    verdict: str


@dataclass(frozen=True)
class MemoryEstimate:
    device: str
    world_size: int
    sharding: str
    parts: tuple[Part, ...]
    total_bytes: int
    capacity_bytes: int | None
    verdict: str  # "fits", "tight", "does not fit", "unknown"
    fixes: tuple[Fix, ...] = ()
    assumptions: tuple[str, ...] = ()
    trainable_params: int = 0
    base_params: int = 0

    @property
    def headroom(self) -> float | None:
        if not self.capacity_bytes:
            return None
        return 1 - self.total_bytes / self.capacity_bytes

    def part(self, name: str) -> int:
        return sum(p.bytes for p in self.parts if p.name == name)

    def lines(self) -> list[str]:
        """Human lines for the dry run."""
        cap = f" of {_gib(self.capacity_bytes)}" if self.capacity_bytes else ""
        head = f"memory  ~{_gib(self.total_bytes)} per process{cap}: {self.verdict}"
        if self.world_size > 1:
            head += f" ({self.world_size} processes, {self.sharding})"
        out = [head]
        out += [f"  {p.name:24s} {_gib(p.bytes):>10s}  {p.note}".rstrip() for p in self.parts if p.bytes]
        out += [f"  fix: {f.change} -> ~{_gib(f.total_bytes)}: {f.verdict}" for f in self.fixes]
        out += [f"  assumes: {a}" for a in self.assumptions]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "world_size": self.world_size,
            "sharding": self.sharding,
            "total_bytes": self.total_bytes,
            "capacity_bytes": self.capacity_bytes,
            "verdict": self.verdict,
            "parts": [{"name": p.name, "bytes": p.bytes, "note": p.note} for p in self.parts],
            "fixes": [
                {"change": f.change, "total_bytes": f.total_bytes, "verdict": f.verdict} for f in self.fixes
            ],
            "assumptions": list(self.assumptions),
            "trainable_params": self.trainable_params,
            "base_params": self.base_params,
        }


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _gib(n: int) -> str:
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / MIB:.0f} MiB"


# -- memory ------------------------------------------------------------------------------------
def _optimizer_bytes_per_param(name: str, param_bytes: int) -> tuple[float, str]:
    """Optimizer state bytes per trained parameter of ``param_bytes`` bytes, and where that comes from."""
    n = name.lower()
    if n in ("sgd",):
        return 0.0, "SGD without momentum keeps no state (transformers' default momentum 0)"
    if "lion" in n:
        return (
            1.0 if "8bit" in n else float(param_bytes)
        ), "Lion keeps one momentum (8-bit: 1 byte, bitsandbytes)"
    if n in ("adamw_torch_4bit",):
        return 1.0, "torchao 4-bit AdamW: two 4-bit states"
    if "8bit" in n:
        return (
            2.0,
            "8-bit AdamW: two 8-bit states (bitsandbytes/torchao blockwise quantisation; paged: same size)",
        )
    if n == "adafactor":
        return (
            0.5,
            "Adafactor: factored second moment (rows + columns), no first moment; ~0.5 byte/param for LoRA shapes",
        )
    if n == "grokadamw":
        return 3.0 * param_bytes, "GrokAdamW: two moments + a gradient EMA"
    return (
        2.0 * param_bytes,
        "AdamW: two states (exp_avg, exp_avg_sq) in the parameter's dtype (torch.optim.AdamW)",
    )


def _trained_modules(cfg: TrainConfig, shape: ModelShape, notes: list[str]) -> tuple[str, ...]:
    """The modules trained in full beside the adapter, as the run will train them: the config's
    ``lora_modules_to_save``, the embeddings and head when ``tokens`` adds new tokens
    (``train_new_embeddings``), and the modules ``unfrozen_parameters`` matches (by the names a
    Llama-shaped model gives its parameters)."""
    out = list(cfg.lora_modules_to_save or ())
    if cfg.tokens:
        heads = ["embed_tokens"] + ([] if shape.tied else ["lm_head"])
        out += [n for n in heads if n not in out]
        notes.append(
            f"tokens: {len(cfg.tokens)} new token(s): {' and '.join(heads)} trained in full, as the run does"
        )
    specials = {
        k: v for k, v in (cfg.special_tokens or {}).items() if k != "pad_token" and v not in (None, "", [])
    }
    if specials and not cfg.tokens:
        notes.append(
            "special_tokens: if the tokenizer lacks them, the run trains the embeddings and head in full too "
            "(not counted: known once the tokenizer loads)"
        )
    if cfg.unfrozen_parameters:
        from loradoc.train.model.load import unfrozen_pattern

        names = _param_names(shape)
        for raw in cfg.unfrozen_parameters:
            regex, _ = unfrozen_pattern(raw)
            hit = [n for n in names if regex.match(n) or regex.match(f"base_model.model.{n}")]
            if not hit:
                notes.append(
                    f"unfrozen_parameters {raw!r}: matches no Llama-style parameter name, not counted"
                )
            leaves = {
                m.split(":", 1)[-1] for m in out
            }  # a module trained in full already is not counted twice
            out += [
                f"unfrozen:{n}"
                for n in hit
                if f"unfrozen:{n}" not in out and n.rsplit(".", 2)[-2] not in leaves
            ]
    return tuple(out)


def _param_names(shape: ModelShape) -> dict[str, int]:
    """Parameter name -> size of its module, as a Llama-shaped model names them."""
    h = shape.hidden
    names = {"model.embed_tokens.weight": shape.embedding_params, "model.norm.weight": h}
    if not shape.tied:
        names["lm_head.weight"] = shape.head_params
    for i in range(shape.layers):
        for lin, (a, b) in shape.linear_shapes().items():
            part = "self_attn" if lin in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            names[f"model.layers.{i}.{part}.{lin}.weight"] = a * b * shape.linear_copies(lin)
        names[f"model.layers.{i}.input_layernorm.weight"] = h
        names[f"model.layers.{i}.post_attention_layernorm.weight"] = h
    return names


def lora_params(shape: ModelShape, run: RunFacts) -> int:
    per_layer = 0
    for name in run.targets:
        a, b = shape.linear_shapes()[name]
        per_layer += (run.rank * (a + b) + (b if run.dora else 0)) * shape.linear_copies(name)
    return per_layer * shape.layers


def modules_to_save_params(shape: ModelShape, run: RunFacts) -> tuple[int, list[str]]:
    total, notes = 0, []
    unfrozen = _param_names(shape) if any(n.startswith("unfrozen:") for n in run.modules_to_save) else {}
    for name in run.modules_to_save:
        if name.startswith("unfrozen:"):
            total += unfrozen[name.split(":", 1)[1]]
        elif name in ("embed_tokens", "wte", "word_embeddings"):
            total += shape.embedding_params
        elif name in ("lm_head", "output"):
            total += shape.vocab * shape.hidden
        elif name in LINEARS:
            a, b = shape.linear_shapes()[name]
            total += a * b * shape.linear_copies(name) * shape.layers
        elif name in ("norm", "input_layernorm", "post_attention_layernorm"):
            total += shape.hidden * (1 if name == "norm" else shape.layers)
        else:
            notes.append(f"lora_modules_to_save {name}: unknown module, not counted")
    return total, notes


def _activation_parts(shape: ModelShape, run: RunFacts) -> list[Part]:
    h, i, r = shape.hidden, shape.intermediate, run.rank
    b = run.compute_bytes
    tokens = run.seq * run.mbs
    per_token_layer = (
        b * (HIDDEN_TERMS * h + QDIM_TERMS * shape.q_dim + KVDIM_TERMS * shape.kv_dim + MLP_TERMS * i)
        + 4 * len(run.targets) * r
    )
    if b < 4:
        per_token_layer += RMSNORM_FP32_BYTES * h
    scores = 0
    if run.attention == "eager":
        # eager_attention_forward: the softmax, computed in fp32, is kept for its backward, and its
        # cast to the compute dtype is kept by the probs @ v matmul (one tensor when fp32).
        scores = run.mbs * shape.heads * run.seq * run.seq * (4 + (b if b < 4 else 0))
    layer = per_token_layer * tokens
    bwd_h, bwd_i = BACKWARD_WORKING_TERMS
    backward = b * (bwd_h * h + bwd_i * i) * tokens + scores  # grads of one layer's intermediates
    trained = math.ceil(tokens * run.trained_fraction)
    lm_head = trained * shape.vocab * ((b if b < 4 else 0) + 4 * LM_HEAD_FP32_COPIES) + tokens * h * b
    parts: list[Part] = []
    if run.checkpointing:
        parts.append(
            Part(
                "activations",
                shape.layers * tokens * h * b,
                f"checkpointing: {shape.layers} layer inputs x {tokens} tokens",
            )
        )
        recompute = layer + scores + backward
        other, which = recompute, "one layer recomputed + its backward"
    else:
        parts.append(Part("activations", shape.layers * layer, f"{shape.layers} layers x {tokens} tokens"))
        if scores:
            parts.append(
                Part(
                    "attention scores",
                    shape.layers * scores,
                    f"eager: batch x heads x seq^2 per layer x {shape.layers} layers",
                )
            )
        other, which = backward, "one layer's backward"
    parts.append(
        Part(
            "peak working set",
            max(lm_head, other),
            f"the larger of the LM head + loss at {run.trained_fraction:.0%} of positions "
            f"({_gib(lm_head)}) and {which} ({_gib(other)})",
        )
    )
    if run.attention in ("sdpa", "eager", "flex_attention"):
        # transformers builds one batch x 1 x seq x seq mask for masked backends (bool for sdpa/flex,
        # the compute dtype for eager), shared by every layer; flash/varlen take none.
        mask = run.mbs * run.seq * run.seq * (b if run.attention == "eager" else 1)
        parts.append(Part("attention mask", mask, f"{run.attention}: batch x seq^2"))
    return parts


def _memory(shape: ModelShape, run: RunFacts) -> tuple[list[Part], list[str], int, int]:
    notes: list[str] = []
    parts: list[Part] = []
    # -- base weights
    non_linear = shape.embedding_params + shape.head_params + shape.norm_params
    linear = shape.layers * shape.layer_linear_params
    if run.quant:
        per = NF4_BYTES_PER_PARAM if run.quant == "nf4" else INT8_BYTES_PER_PARAM
        qbytes = linear * per
        if run.quant == "int8":
            qbytes += shape.layers * sum(o * 4 for _, o in shape.linear_shapes().values())
        parts.append(Part("base weights", int(qbytes), f"{linear / 1e9:.2f}B linear params in {run.quant}"))
        # peft's prepare_model_for_kbit_training casts every non-quantized fp16/bf16 parameter
        # (embeddings, lm_head, norms) to fp32 (peft/utils/other.py), and loradoc calls it.
        parts.append(
            Part(
                "base weights (fp32)",
                non_linear * 4,
                "embeddings/lm_head/norms upcast to fp32 by prepare_model_for_kbit_training",
            )
        )
        module_bytes = 4
    else:
        parts.append(
            Part(
                "base weights",
                (linear + non_linear) * run.weight_bytes,
                f"{_count(shape.params)} params x {run.weight_bytes} bytes",
            )
        )
        module_bytes = run.weight_bytes
    # -- trainable
    lora = lora_params(shape, run)
    mts, mnotes = modules_to_save_params(shape, run)
    notes += mnotes
    # peft upcasts adapter weights to fp32 (cast_adapter_dtype, autocast_adapter_dtype=True); the
    # Trainer keeps no extra master copy: the trained parameters are fp32 already.
    parts.append(Part("LoRA adapter", lora * 4, f"{lora / 1e6:.1f}M params, fp32 (peft upcasts adapters)"))
    if mts:
        # ModulesToSaveWrapper deep-copies the module: a trainable copy beside the frozen original.
        parts.append(
            Part("modules_to_save copy", mts * module_bytes, "trainable copy beside the frozen original")
        )
    grads = lora * 4 + mts * module_bytes
    parts.append(Part("gradients", grads, "adapter + modules_to_save only (the base is frozen)"))
    opt_lora, why = _optimizer_bytes_per_param(run.optimizer, 4)
    opt_mts, _ = _optimizer_bytes_per_param(run.optimizer, module_bytes)
    optimizer = int(lora * opt_lora + mts * opt_mts)
    parts.append(Part("optimizer states", optimizer, f"{run.optimizer}: {why}"))
    # -- activations
    parts += _activation_parts(shape, run)
    return parts, notes, lora + mts, shape.params


def _shard(parts: list[Part], run: RunFacts, shape: ModelShape) -> list[Part]:
    """The per-rank share: which parts a sharding strategy divides by the world size."""
    w = run.world
    if run.sharding in ("single", "ddp"):
        out = list(parts)
        if run.sharding == "ddp":
            grads = sum(p.bytes for p in parts if p.name == "gradients")
            # DDP copies gradients into its all-reduce buckets (torch DistributedDataParallel,
            # gradient_as_bucket_view=False by default): one more gradient-sized buffer.
            out.append(Part("DDP buckets", grads, "DDP's all-reduce buckets hold a copy of the gradients"))
        return out
    divide: set[str] = set()
    if run.sharding in ("zero1", "zero2", "zero3", "fsdp:shard_grad_op", "fsdp:full_shard"):
        divide.add("optimizer states")
    if run.sharding in ("zero2", "zero3", "fsdp:shard_grad_op", "fsdp:full_shard"):
        divide.add("gradients")
    if run.sharding in ("zero3", "fsdp:full_shard"):
        divide |= {"base weights", "base weights (fp32)", "LoRA adapter", "modules_to_save copy"}
    out = []
    for p in parts:
        if p.name == "optimizer states" and run.offload_optimizer:
            out.append(Part(p.name, 0, "offloaded to the CPU"))
        elif p.name in divide:
            out.append(Part(p.name, math.ceil(p.bytes / w), f"{p.note}; / {w} ranks ({run.sharding})"))
        else:
            out.append(p)
    if run.sharding in ("zero3", "fsdp:full_shard"):
        # FSDP/ZeRO-3 gather one wrapped decoder layer's full weights for its forward and backward
        # and prefetch the next (FSDP forward/backward_prefetch): two layers unsharded at a time.
        per = NF4_BYTES_PER_PARAM if run.quant == "nf4" else 1.0 if run.quant == "int8" else run.weight_bytes
        gathered = int(2 * shape.layer_linear_params * per)
        out.append(Part("gathered layers", gathered, "two decoder layers' weights gathered at a time"))
    return out


def _finish(parts: list[Part], run: RunFacts, shape: ModelShape) -> tuple[list[Part], int]:
    counted = sum(p.bytes for p in parts)
    if run.device == "cuda":
        parts = [
            *parts,
            Part(
                "allocator margin",
                int(counted * CUDA_ALLOCATOR_MARGIN),
                f"{CUDA_ALLOCATOR_MARGIN:.0%}: caching allocator rounding and fragmentation",
            ),
            Part(
                "CUDA context", CUDA_CONTEXT_BYTES, "driver + torch/cuBLAS kernels and workspaces (~500 MiB)"
            ),
        ]
    else:
        churn = _heap_churn(shape, run)
        parts = [
            *parts,
            Part(
                "heap retention",
                int(churn * CPU_HEAP_RETAINED),
                f"glibc keeps freed tensor blocks of <= 32 MiB in its heap: {CPU_HEAP_RETAINED:.0%} of "
                f"{_gib(churn)} of such tensors per step (measured)",
            ),
            Part(
                "CPU runtime buffers",
                CPU_RUNTIME_BYTES,
                "autograd nodes, Python objects, OpenMP/oneDNN buffers of a step (measured)",
            ),
            Part(
                "process baseline",
                CPU_PROCESS_BASELINE_BYTES,
                "python + torch + transformers + peft + tokenizer",
            ),
        ]
    return parts, sum(p.bytes for p in parts)


def _heap_churn(shape: ModelShape, run: RunFacts) -> int:
    """Bytes of one step's tensors that go through glibc's heap: each at most 32 MiB.

    Every layer's activations as a forward without checkpointing allocates them (a checkpointed
    forward, and its recompute, allocate and free the same tensors), eager attention's scores, and
    the LM head's logits-sized tensors; counted per tensor size, so a size above
    ``GLIBC_MMAP_THRESHOLD_MAX`` (mmapped, returned when freed) adds nothing.
    """
    h, i, b = shape.hidden, shape.intermediate, run.compute_bytes
    tokens = run.seq * run.mbs

    def heap(count: int, each: int) -> int:
        return count * each if each <= GLIBC_MMAP_THRESHOLD_MAX else 0

    layer = (
        heap(HIDDEN_TERMS, tokens * h * b)
        + heap(QDIM_TERMS, tokens * shape.q_dim * b)
        + heap(KVDIM_TERMS, tokens * shape.kv_dim * b)
        + heap(MLP_TERMS, tokens * i * b)
        + heap(len(run.targets), tokens * run.rank * 4)
    )
    if b < 4:
        layer += heap(RMSNORM_FP32_BYTES // 4, tokens * h * 4)
    if run.attention == "eager":
        scores = run.mbs * shape.heads * run.seq * run.seq
        layer += heap(1, scores * 4) + (heap(1, scores * b) if b < 4 else 0)
    trained = math.ceil(tokens * run.trained_fraction)
    lm_head = heap(LM_HEAD_FP32_COPIES, trained * shape.vocab * 4)
    if b < 4:
        lm_head += heap(1, trained * shape.vocab * b)
    return shape.layers * layer + lm_head


def _verdict(total: int, capacity: int | None) -> str:
    if not capacity:
        return "unknown"
    if total > capacity:
        return "does not fit"
    # "tight": under 10% of the device left; the allocator needs slack to avoid OOM on a spike.
    return "tight" if total > 0.9 * capacity else "fits"


def _estimate(shape: ModelShape, run: RunFacts) -> tuple[list[Part], list[str], int, int, int]:
    parts, notes, trainable, base = _memory(shape, run)
    parts = _shard(parts, run, shape)
    parts, total = _finish(parts, run, shape)
    return parts, notes, trainable, base, total


def _fixes(shape: ModelShape, run: RunFacts, capacity: int, cfg: TrainConfig) -> list[Fix]:
    """Changes in order of least change, each alone, then together if none fits alone."""
    tried: list[tuple[str, RunFacts]] = []
    if not run.checkpointing:
        tried.append(("gradient_checkpointing: true", replace(run, checkpointing=True)))
    if run.mbs > 1:
        acc = int(cfg.gradient_accumulation_steps) * run.mbs
        tried.append(
            (
                f"micro_batch_size: 1, gradient_accumulation_steps: {acc} (same global batch)",
                replace(run, mbs=1),
            )
        )
    if run.quant is None and run.device == "cuda":
        tried.append(("adapter: qlora, load_in_4bit: true", replace(run, quant="nf4")))
    seq = run.seq
    while seq > 256:
        seq //= 2
        cand = replace(run, seq=seq)
        if _estimate(shape, cand)[4] <= capacity or seq <= 256:
            tried.append((f"sequence_len: {seq} (longer examples are cut or dropped)", cand))
            break
    if run.device == "cuda":
        for world in (2, 4, 8):
            if world > run.world:
                cand = replace(run, world=world, sharding="fsdp:full_shard")
                if _estimate(shape, cand)[4] <= capacity or world == 8:
                    tried.append((f"{world} GPUs with fsdp: [full_shard, auto_wrap]", cand))
                    break
    fixes = []
    for change, cand in tried:
        total = _estimate(shape, cand)[4]
        fixes.append(Fix(change, total, _verdict(total, capacity)))
    if fixes and all(f.verdict == "does not fit" for f in fixes):
        combined = replace(
            run, checkpointing=True, mbs=1, quant=run.quant or ("nf4" if run.device == "cuda" else None)
        )
        total = _estimate(shape, combined)[4]
        fixes.append(
            Fix(
                "all of: gradient_checkpointing, micro_batch_size 1"
                + (", qlora" if run.quant is None and run.device == "cuda" else ""),
                total,
                _verdict(total, capacity),
            )
        )
    return fixes


def estimate_memory(
    model_config: dict[str, Any],
    cfg: TrainConfig,
    *,
    device: str,
    gpu_memory_mib: int | None,
    world_size: int = 1,
) -> MemoryEstimate:
    """Peak memory per process of training ``cfg`` on the model of ``model_config`` (its config.json).

    ``device``: ``"cpu"`` or a CUDA device (``"cuda"``, ``"cuda:0"``, a GPU name: anything not
    ``"cpu"``). ``gpu_memory_mib``: the device's memory (on the CPU: the RAM to compare with, or None
    for no verdict). ``world_size``: processes; with ``fsdp``/``deepspeed`` in ``cfg`` the sharded
    parts are divided among them.
    """
    shape = model_shape(model_config)
    run = run_facts(cfg, shape, device, world_size)
    parts, notes, trainable, base, total = _estimate(shape, run)
    capacity = gpu_memory_mib * MIB if gpu_memory_mib else None
    verdict = _verdict(total, capacity)
    fixes = _fixes(shape, run, capacity, cfg) if capacity and verdict != "fits" else []
    assumptions = [
        *run.notes,
        *notes,
        f"{run.trained_fraction:.0%} of positions trained (the LM head runs only there)",
        "activations counted for a Llama-style decoder layer (bench/memory_estimate.py checks them on the CPU)",
    ]
    if run.device == "cuda":
        assumptions.append("CUDA context and allocator margin are typical figures, not measured on this GPU")
    return MemoryEstimate(
        device=run.device,
        world_size=run.world,
        sharding=run.sharding,
        parts=tuple(parts),
        total_bytes=total,
        capacity_bytes=capacity,
        verdict=verdict,
        fixes=tuple(fixes),
        assumptions=tuple(assumptions),
        trainable_params=trainable,
        base_params=base,
    )
