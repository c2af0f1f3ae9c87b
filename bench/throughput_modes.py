"""One mode of ``train_throughput.py`` per call, meant to run in its own process.

Modes (same config file, data, seed, LoRA, optimizer and schedule; only batching differs):

- ``naive``: transformers ``Trainer``, random order, ``DataCollatorForSeq2Seq`` padding per
  batch with an attention_mask, stock sdpa; ``spec.padded_mbs`` examples per step.
- ``group_by_length``: the same with ``train_sampling_strategy="group_by_length"``
  (transformers 5 name of ``group_by_length=True``).
- ``packed``: ``loradoc.train.run.start.run_training(cfg)``, the code path of ``loradoc train``
  (packing sampler + collator, the attention ``choose_attention`` picks, peft LoRA,
  ``LoradocTrainer``); ``spec.packed_mbs`` rows of ``sequence_len`` per step.

Every trainer is instrumented the same way: its ``training_step`` records the tokens of
each micro-batch (real = not the pad id, supervised = ``labels[..., 1:] != -100``, slots =
the tensor size, examples) and a callback records the end time of every optimizer step.
Throughput counts only the steps after the first ``spec.warmup_steps``.

``equivalence`` (not timed) checks that the packed path computes the padded path's loss
and gradients on the same examples with the same weights.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

from step_recorder import IGNORE, StepRecorder, adapter_checksum, instrument, process_facts, train_measured
from throughput_workload import BenchSpec, load_bench_config

MODES = ("naive", "group_by_length", "packed")


def _quiet(_msg: str) -> None:
    pass


# --- shared setup -------------------------------------------------------------------------


def _setup(workdir: Path, mode: str, tag: str) -> tuple[BenchSpec, Any, Any, Any]:
    import torch
    from transformers import set_seed

    from loradoc.train.data.prepare import prepare_data
    from loradoc.train.model.load import load_tokenizer

    spec = BenchSpec(**json.loads((workdir / "spec.json").read_text())["spec"])
    torch.set_num_threads(spec.threads)
    out = workdir / "runs" / f"{mode}-{tag}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_bench_config(workdir / "config.yml", output_dir=str(out))
    set_seed(spec.seed)
    tokenizer = load_tokenizer(cfg, say=_quiet)
    data = prepare_data(cfg, tokenizer, say=_quiet)
    return spec, cfg, tokenizer, data


def lora_config(cfg: Any) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=int(cfg.lora_r),
        lora_alpha=int(cfg.lora_alpha),
        lora_dropout=float(cfg.lora_dropout or 0.0),
        target_modules=list(cfg.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def padded_model(cfg: Any, seed: int) -> Any:
    """The baselines' model: stock transformers sdpa, peft LoRA from the config's settings."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    model = AutoModelForCausalLM.from_pretrained(
        cfg.base_model, dtype=torch.float32, attn_implementation="sdpa"
    )
    model.config.use_cache = False  # as in the packed run; no KV cache is needed for training
    set_seed(seed)
    return get_peft_model(model, lora_config(cfg))


def padded_dataset(train: Any) -> Any:
    """input_ids, attention_mask, labels: what DataCollatorForSeq2Seq pads."""
    ds = train.select_columns(["input_ids", "labels"])
    return ds.map(lambda b: {"attention_mask": [[1] * len(x) for x in b["input_ids"]]}, batched=True)


def training_args(cfg: Any, *, micro_batch_size: int, steps_per_epoch: int, sampling: str | None) -> Any:
    """loradoc's TrainingArguments for ``cfg`` (all modes share them); batch size and sampler per mode.

    Checkpoints are off in every mode (saving happens after the timed loop anyway).
    """
    from loradoc.train.run.train_args import training_arguments

    c = copy.copy(cfg)
    c.micro_batch_size = micro_batch_size
    args = training_arguments(
        c,
        precision="fp32",
        steps_per_epoch=steps_per_epoch,
        has_eval=False,
        report_to=[],
        world_size=1,
        use_cpu=True,
    )
    changes: dict[str, Any] = {"save_strategy": "no"}
    if sampling is not None:
        changes["train_sampling_strategy"] = sampling
    return dataclasses.replace(args, **changes)


# --- modes --------------------------------------------------------------------------------


def run_baseline(mode: str, workdir: Path, tag: str) -> dict[str, Any]:
    import math

    from transformers import DataCollatorForSeq2Seq, Trainer

    spec, cfg, tokenizer, data = _setup(workdir, mode, tag)
    model = padded_model(cfg, spec.seed)
    sampling = "group_by_length" if mode == "group_by_length" else "random"
    args = training_args(
        cfg,
        micro_batch_size=spec.padded_mbs,
        steps_per_epoch=math.ceil(len(data.train) / spec.padded_mbs),
        sampling=sampling,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=padded_dataset(data.train),
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE),
        processing_class=tokenizer,
    )
    out = train_measured(trainer, int(tokenizer.pad_token_id), spec.warmup_steps, adapter_of=model)
    out.update(
        mode=mode,
        micro_batch_size=spec.padded_mbs,
        attention="sdpa",
        trainer="transformers.Trainer",
        dataset_examples=len(data.train),
        dataset_real_tokens=int(sum(data.train["length"])),
    )
    return out


def run_packed(workdir: Path, tag: str) -> dict[str, Any]:
    """``run_training(cfg)`` (what ``loradoc train`` runs), with the LoradocTrainer instrumented."""
    from loradoc.train.run import trainer as trainer_module
    from loradoc.train.run.start import run_training

    spec, cfg, tokenizer, data = _setup(workdir, "packed", tag)
    recorder = StepRecorder(int(tokenizer.pad_token_id))
    seen: dict[str, Any] = {}
    cls = trainer_module.LoradocTrainer
    original_train = cls.train

    def train(self: Any, *args: Any, **kwargs: Any) -> Any:
        from transformers.trainer_utils import SaveStrategy

        self.args.save_strategy = SaveStrategy.NO  # (re-creating the args would reset accelerate's state)
        instrument(self, recorder)
        seen["checksum"] = adapter_checksum(self.model)
        seen["micro_batch_size"] = int(self.args.per_device_train_batch_size)
        result = original_train(self, *args, **kwargs)
        recorder.train_loss = round(float(result.training_loss), 6)
        return result

    cls.train = train  # type: ignore[method-assign]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = run_training(cfg)
    finally:
        cls.train = original_train  # type: ignore[method-assign]
    if code != 0:
        raise RuntimeError(f"run_training returned {code}:\n{printed.getvalue()[-2000:]}")
    summary = json.loads((Path(cfg.output_dir) / "summary.json").read_text())
    out = recorder.summary(spec.warmup_steps)
    out.update(
        mode="packed",
        micro_batch_size=seen["micro_batch_size"],
        attention=summary.get("attention"),
        precision=summary.get("precision"),
        trainer="loradoc run_training (LoradocTrainer)",
        adapter_init_checksum=seen["checksum"],
        packing_efficiency=summary.get("packing_efficiency"),
        dataset_examples=len(data.train),
        dataset_real_tokens=int(sum(data.train["length"])),
        loradoc_summary={
            k: summary.get(k)
            for k in (
                "steps",
                "input_tokens",
                "supervised_tokens",
                "train_seconds",
                "tokens_per_s",
                "supervised_tokens_per_s",
            )
        },
    )
    return out


# --- loss equivalence ---------------------------------------------------------------------


def _lora_params(model: Any) -> dict[str, Any]:
    return {n: p for n, p in model.named_parameters() if "lora_" in n}


def run_equivalence(workdir: Path, tag: str) -> dict[str, Any]:
    """Loss and LoRA gradients of the first K examples: padded sdpa vs loradoc's packed path.

    Same weights in both (a LoRA B perturbed from zero, so the adapter matters), eval mode,
    the loss normalised by the supervised tokens of all K examples (``num_items_in_batch``,
    as the Trainer does), gradients accumulated over the micro-batches. A control runs the
    same packed rows through plain causal attention (no per-example boundaries): it must
    differ, or the check could not catch contamination.
    """
    import torch
    from transformers import DataCollatorForSeq2Seq, set_seed

    from loradoc.train.model.attention import choose_attention
    from loradoc.train.model.load import load_model
    from loradoc.train.packing.dataloader import build_dataloader

    spec, cfg, tokenizer, data = _setup(workdir, "equivalence", tag)
    k = min(spec.equiv_examples, len(data.train))
    subset = data.train.select(range(k))
    n_items = int(sum(sum(1 for t in lab[1:] if t != IGNORE) for lab in subset["labels"]))

    padded = padded_model(cfg, spec.seed)
    gen = torch.Generator().manual_seed(spec.seed + 7)
    with torch.no_grad():
        for name, p in _lora_params(padded).items():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    attention = choose_attention(
        getattr(cfg, "attn_implementation", None),
        packing=True,
        device="cpu",
        available={"loradoc_varlen", "sdpa", "eager"},  # what every CPU machine runs
    )
    set_seed(spec.seed)
    packed = load_model(cfg, tokenizer, attention=attention.impl, precision="fp32", packing=True, say=_quiet)
    source = _lora_params(padded)
    with torch.no_grad():
        for name, p in _lora_params(packed).items():
            p.copy_(source[name])
    padded.eval()
    packed.eval()

    def run(model: Any, batches: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        model.zero_grad(set_to_none=True)
        total = 0.0
        for batch in batches:
            loss = model(**batch, num_items_in_batch=n_items).loss
            loss.backward()
            total += float(loss.detach())
        grads = {n: p.grad.detach().clone() for n, p in _lora_params(model).items() if p.grad is not None}
        return total * n_items, grads

    collate = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORE)
    rows = padded_dataset(subset)
    padded_batches = [
        dict(collate([rows[j] for j in range(i, min(i + spec.padded_mbs, k))]))
        for i in range(0, k, spec.padded_mbs)
    ]
    loader = build_dataloader(
        subset,
        packing=True,
        sequence_len=int(cfg.sequence_len),
        micro_batch_size=spec.packed_mbs,
        pad_token_id=int(tokenizer.pad_token_id),
        seed=spec.seed,
        attention=attention.impl,
        shuffle=False,
        pad_to_sequence_len=True,
    )
    packed_batches = [dict(b) for b in loader]
    ref_sum, ref_grads = run(padded, padded_batches)
    ours_sum, ours_grads = run(packed, packed_batches)
    control = [{k2: v for k2, v in b.items() if k2 != "position_ids"} for b in packed_batches]
    control_sum, control_grads = run(padded, control)

    loss_tol, grad_tol = 1e-5, 1e-4
    loss_rel = abs(ours_sum - ref_sum) / abs(ref_sum)
    grad_rel = _grad_rel_diff(ours_grads, ref_grads)
    control_rel = abs(control_sum - ref_sum) / abs(ref_sum)
    control_grad_rel = _grad_rel_diff(control_grads, ref_grads)
    return {
        "mode": "equivalence",
        "examples": k,
        "supervised_tokens": n_items,
        "packed_rows": sum(int(b["input_ids"].shape[0]) for b in packed_batches),
        "attention": attention.impl,
        "padded_loss_sum": round(ref_sum, 6),
        "packed_loss_sum": round(ours_sum, 6),
        "loss_rel_diff": loss_rel,
        "grad_rel_diff": grad_rel,
        "lora_tensors_compared": len(ref_grads),
        "control_no_boundaries_rel_diff": control_rel,
        "control_no_boundaries_grad_rel_diff": control_grad_rel,
        "tolerance": {"loss": loss_tol, "grad": grad_tol},
        "passed": bool(loss_rel <= loss_tol and grad_rel <= grad_tol and len(ours_grads) == len(ref_grads)),
        # the check can catch contamination only if the contaminated control fails it
        "control_detected": bool(control_rel > loss_tol or control_grad_rel > grad_tol),
    }


def _grad_rel_diff(grads: dict[str, Any], ref: dict[str, Any]) -> float:
    """||g - ref|| / ||ref|| over every LoRA tensor of ``ref`` (a missing gradient counts as zero)."""
    num = den = 0.0
    for name, g in ref.items():
        other = grads.get(name)
        num += float(g.pow(2).sum() if other is None else (other - g).pow(2).sum())
        den += float(g.pow(2).sum())
    return (num / den) ** 0.5 if den > 0 else 0.0


def export_tokens(workdir: Path, tag: str) -> dict[str, Any]:
    """The tokenized training examples (``input_ids``, ``labels``) as loradoc prepared them, one JSON
    line each in dataset order, for the peers' runners: every trainer then trains on exactly the same
    tokens with the same supervised positions. Rewritten on every run (from loradoc's prepared-data
    cache), so it always matches the workload."""
    out = workdir / "peers" / "tokens.jsonl"
    _spec, _cfg, _tokenizer, data = _setup(workdir, "export", tag)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with tmp.open("w") as fh:
        for ids, labels in zip(data.train["input_ids"], data.train["labels"], strict=True):
            fh.write(json.dumps({"input_ids": ids, "labels": labels}) + "\n")
    tmp.replace(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {"path": str(out), "examples": len(rows), "real_tokens": sum(len(r["input_ids"]) for r in rows)}


def run_mode(mode: str, workdir: Path, tag: str) -> dict[str, Any]:
    """Run one mode and add this process's figures (``step_recorder.process_facts``)."""
    import datasets
    import torch
    from transformers.utils import logging as hf_logging

    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    started = time.perf_counter()
    if mode == "packed":
        result = run_packed(workdir, tag)
    elif mode in ("naive", "group_by_length"):
        result = run_baseline(mode, workdir, tag)
    elif mode == "equivalence":
        result = run_equivalence(workdir, tag)
    elif mode == "export":
        return export_tokens(workdir, tag)
    else:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}, equivalence, export")
    return process_facts(result, torch.get_num_threads(), started)
