"""TRL's SFTTrainer with packing, on the bench's workload: the ``trl_packed`` peer of train_throughput.py.

TRL as its users run it for packed LoRA SFT: ``packing=True`` with its default BFD strategy (which
turns on padding-free batches: one row of concatenated examples, ``position_ids`` restarting per
example), stock sdpa, fp32 on the CPU. The examples are the ones loradoc tokenized
(``peers/tokens.jsonl``: ``input_ids`` and ``labels``), so TRL trains on the same tokens with the
same supervised positions; a dataset that has ``labels`` is taken as is by TRL. The LoRA adapter
is made as in the padded baselines (same seed, so the same initial weights), and the optimizer,
schedule, seed and logging follow the bench's spec. Timing and token counts come from
``step_recorder`` like every other mode.

    <trl venv>/bin/python bench/peers/trl_packed.py --workdir W --tag r0 --result R.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from peer_run import lora_kwargs, main, peer_result, token_rows
from step_recorder import train_measured


def run(workdir: Path, tag: str, spec: dict[str, Any]) -> dict[str, Any]:
    import torch
    import trl
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    rows = token_rows(workdir)
    tokenizer = AutoTokenizer.from_pretrained(workdir / "model")
    model = AutoModelForCausalLM.from_pretrained(
        workdir / "model", dtype=torch.float32, attn_implementation="sdpa"
    )
    model.config.use_cache = False
    set_seed(int(spec["seed"]))
    model = get_peft_model(model, LoraConfig(**lora_kwargs(spec)))
    args = SFTConfig(
        output_dir=str(workdir / "runs" / f"trl_packed-{tag}"),
        packing=True,
        packing_strategy="bfd",
        max_length=int(spec["sequence_len"]),
        per_device_train_batch_size=int(spec["packed_mbs"]),
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=float(spec["learning_rate"]),
        lr_scheduler_type="cosine",
        warmup_steps=0,
        weight_decay=0.0,
        optim="adamw_torch",
        max_grad_norm=1.0,
        logging_steps=int(spec["logging_steps"]),
        save_strategy="no",
        report_to=[],
        seed=int(spec["seed"]),
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,  # SFTConfig turns it on by default; every other mode runs without it
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    out = train_measured(trainer, int(tokenizer.pad_token_id), int(spec["warmup_steps"]), adapter_of=model)
    return peer_result(
        out, "trl_packed", f"trl {trl.__version__} SFTTrainer (packing bfd, padding-free)", spec, rows
    )


if __name__ == "__main__":
    raise SystemExit(main(run, __doc__ or ""))
