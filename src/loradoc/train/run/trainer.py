"""transformers' Trainer with loradoc's data loaders and token accounting (public hooks only).

- ``get_train_dataloader`` / ``get_eval_dataloader`` return loaders from
  ``loradoc.train.packing.dataloader.build_dataloader`` (packed bins or single examples,
  rank-aware, reshuffled per epoch through the sampler's ``set_epoch``, which the
  Trainer calls at the start of every epoch). They are not passed through
  ``accelerator.prepare``: the sampler already splits the bins between ranks.
- Loss normalisation is the Trainer's own: each micro-batch loss is the sum over
  its supervised tokens divided by ``num_items_in_batch``, the supervised tokens
  of the whole accumulation window (over all processes), so accumulation equals
  one big batch. ``model_accepts_loss_kwargs`` must be true for that (checked).
- ``training_step`` counts input and supervised tokens, and asks the model for logits
  at trained positions only (``supervised_logits``); ``log`` adds the totals
  over all processes and tokens/s to every training log.
- Resume continues the run's metric state (``checkpoint.RunState``, saved with every checkpoint
  from ``run_state``): token counts and seconds, and transformers' loss accumulators (the
  logged sum, the step last logged, the loss pending since then). transformers keeps those
  in attributes that are not public API (``_tr_loss``, ``_total_loss_scalar``,
  ``_globalstep_last_logged``): they are read and set here only, and only where they exist.
  ``train_loss`` (the final log and ``train()``'s result) is the mean over every step of
  the run, not only those of this process, when the state was restored (or never lost).
- Eval loss is token-weighted over the whole eval split (sum of token losses /
  supervised tokens), the same normalisation as training, so packed and unpacked
  eval report the same number. Under several processes each eval batch is seen by
  one rank only (``eval_shard``), so the sums add up to the split exactly once.
- LoRA+ (``args.loraplus_lr_ratio``, see ``train_args.LoradocTrainingArguments``): the optimizer
  comes from peft's ``create_loraplus_optimizer`` with the optimizer class and settings transformers
  picks for ``optim``; lora_B (and one-dimensional) weights learn at learning_rate × ratio, LoRA on
  embeddings at ``loraplus_lr_embedding``, and ``weight_decay`` applies to every group but biases and
  LayerNorm weights (peft's rule; Axolotl passes no weight decay to LoRA+ at all).
  The scheduler scales every group alike, so the ratio holds through warmup and decay.
- PiSSA/OLoRA (``load.INITIAL_ADAPTER`` on the model): checkpoints keep the adapter as trained
  (resume re-runs the same initialisation), and the final ``save_model`` converts it with peft's
  ``path_initial_model_for_weight_conversion`` into a plain LoRA of twice the rank that applies to
  the unchanged base model.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import TrainOutput

from loradoc.train.model.load import INITIAL_ADAPTER
from loradoc.train.model.supervised_logits import keep_supervised_positions, supports_supervised_logits
from loradoc.train.packing.collator import pop_token_counts
from loradoc.train.run.checkpoint import RunState
from loradoc.train.run.metrics import IGNORE, TokenMeter, batch_token_counts

LoaderFactory = Callable[..., Any]


class LoradocTrainer(Trainer):
    def __init__(
        self,
        *args: Any,
        loader_factory: LoaderFactory,
        train_packing: bool,
        eval_packing: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.loader_factory = loader_factory
        self.train_packing = train_packing
        self.eval_packing = eval_packing
        self.meter = TokenMeter()
        self._eval_sum = 0.0
        self._eval_tokens = 0
        pad = getattr(self.processing_class, "pad_token_id", None)
        self._pad_id: int | None = int(pad) if pad is not None else None
        # LM head only at trained positions (same loss, fewer logits); see supervised_logits
        self.supervised_logits = supports_supervised_logits(self.model)
        self._resumed: RunState | None = None
        self.whole_run_loss = True  # train_loss covers every step (false: resumed without the loss state)
        self.train_loss_mean: float | None = None
        self.add_callback(_RestoreLossState(self))

    # -- the metric state across a resume --------------------------------------------------
    def run_state(self) -> dict[str, Any]:
        """This process's metric state now (saved with a checkpoint; read back as ``RunState``)."""
        record: dict[str, Any] = {
            "step": int(self.state.global_step),
            "input_tokens": int(self.meter.input_tokens),
            "supervised_tokens": int(self.meter.supervised_tokens),
            "train_seconds": self.meter.seconds(),
        }
        pending = getattr(self, "_tr_loss", None)
        if isinstance(pending, torch.Tensor) and self.whole_run_loss:
            record["loss_pending"] = float(pending.detach().float().item())
            record["loss_logged_sum"] = float(getattr(self, "_total_loss_scalar", 0.0))
            record["loss_last_logged_step"] = int(getattr(self, "_globalstep_last_logged", 0))
        return record

    def resume_metrics(self, state: RunState, *, own: bool) -> None:
        """Continue a checkpoint's metric state; ``own``: this process carries the token totals."""
        self.meter.restore(state.input_tokens, state.supervised_tokens, state.train_seconds, own=own)
        self._resumed = state
        self.whole_run_loss = state.has_losses

    def _restore_losses(self) -> None:
        """At train begin (after transformers has zeroed its accumulators): set them to the checkpoint's."""
        state, self._resumed = self._resumed, None
        pending = getattr(self, "_tr_loss", None)
        if state is None or not state.has_losses or not isinstance(pending, torch.Tensor):
            self.whole_run_loss = state is None
            return
        if state.step is not None and state.step != self.state.global_step:
            self.whole_run_loss = False
            return
        self._total_loss_scalar = float(state.logged_loss_sum or 0.0)
        self._globalstep_last_logged = int(state.last_logged_step or 0)
        pending.fill_(state.pending_loss.get(int(self.args.process_index), 0.0))

    def train(self, *args: Any, **kwargs: Any) -> Any:
        self.train_loss_mean = None
        result = super().train(*args, **kwargs)
        if self.train_loss_mean is not None and isinstance(result, TrainOutput):
            result = TrainOutput(result.global_step, self.train_loss_mean, result.metrics)
        return result

    # -- optimizer and final save ------------------------------------------------------------
    def create_optimizer(self, model: Any = None) -> Any:
        ratio = getattr(self.args, "loraplus_lr_ratio", None)
        if not ratio or self.optimizer is not None:
            return super().create_optimizer(model)
        from peft.optimizers import create_loraplus_optimizer

        opt_model: Any = self.model if model is None else model
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = create_loraplus_optimizer(
            opt_model,
            optimizer_cls,
            loraplus_lr_ratio=float(ratio),
            loraplus_lr_embedding=float(getattr(self.args, "loraplus_lr_embedding", 1e-6)),
            loraplus_weight_decay=float(self.args.weight_decay),
            **optimizer_kwargs,
        )
        if "bitsandbytes" in str(optimizer_cls) and optimizer_kwargs.get("optim_bits") == 8:
            import bitsandbytes  # as transformers does: embeddings keep 32-bit optimizer state

            manager = bitsandbytes.optim.GlobalOptimManager.get_instance()
            for module in opt_model.modules():
                if isinstance(module, torch.nn.Embedding):
                    manager.register_module_override(module, "weight", {"optim_bits": 32})
        return self.optimizer

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        super().save_model(output_dir, _internal_call)
        initial = getattr(self.model, INITIAL_ADAPTER, None)
        if initial is None or _internal_call or not self.args.should_save:
            return
        from safetensors.torch import save_file

        with tempfile.TemporaryDirectory() as tmp:
            start = Path(tmp) / "initial_adapter"
            start.mkdir()
            save_file(initial, str(start / "adapter_model.safetensors"), metadata={"format": "pt"})
            peft_model: Any = self.model
            with warnings.catch_warnings():  # peft warns against PiSSA beside other adapters: this is the fix
                warnings.filterwarnings(
                    "ignore", message=".*changes the base weights.*", category=UserWarning
                )
                peft_model.save_pretrained(
                    str(output_dir or self.args.output_dir),
                    path_initial_model_for_weight_conversion=str(start),
                )

    # -- data ------------------------------------------------------------------------------
    def get_train_dataloader(self) -> Any:
        if self.train_dataset is None:
            raise ValueError("training requires a train_dataset")
        return self.loader_factory(self.train_dataset, packing=self.train_packing, shuffle=True)

    def get_eval_dataloader(self, eval_dataset: Any = None) -> Any:
        if isinstance(eval_dataset, str):
            named: Any = self.eval_dataset
            dataset = named[eval_dataset]
        else:
            dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None:
            raise ValueError("evaluation requires an eval_dataset")
        return self.loader_factory(dataset, packing=self.eval_packing, shuffle=False)

    # -- training --------------------------------------------------------------------------
    def training_step(self, model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
        self.meter.start()
        self.meter.add(*batch_token_counts(inputs, self._pad_id))
        if self.supervised_logits:
            keep_supervised_positions(inputs)
        return super().training_step(model, inputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:
            totals = self.summed_tokens([self.meter.input_tokens, self.meter.supervised_tokens])
            logs["tokens"] = totals[0]
            logs["supervised_tokens"] = totals[1]
            logs.update(self.meter.window(totals[0], totals[1]))
        if "train_loss" in logs and self.whole_run_loss and hasattr(self, "_total_loss_scalar"):
            # transformers divides by the steps of this train() call; the run's mean is over all of them
            self.train_loss_mean = float(self._total_loss_scalar) / max(self.state.global_step, 0.001)
            logs["train_loss"] = self.train_loss_mean
        super().log(logs, start_time)

    def summed_tokens(self, values: list[int]) -> list[int]:
        if self.args.world_size <= 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.int64, device=self.args.device)
        return [int(v) for v in self.accelerator.reduce(t, reduction="sum").tolist()]

    # -- evaluation ------------------------------------------------------------------------
    def evaluation_loop(self, dataloader: Any, description: str, *args: Any, **kwargs: Any) -> Any:
        self.meter.pause()
        self._eval_sum, self._eval_tokens = 0.0, 0
        output = super().evaluation_loop(dataloader, description, *args, **kwargs)
        prefix = kwargs.get("metric_key_prefix", args[2] if len(args) > 2 else "eval")
        key = f"{prefix}_loss"
        if self._eval_tokens or self.args.world_size > 1:
            total = torch.tensor(
                [self._eval_sum, float(self._eval_tokens)], dtype=torch.float64, device=self.args.device
            )
            if self.args.world_size > 1:
                total = self.accelerator.reduce(total, reduction="sum")
            loss_sum, tokens = (float(x) for x in total.tolist())
            if tokens > 0:
                metrics = dict(output.metrics or {})
                metrics[key] = loss_sum / tokens
                metrics[f"{prefix}_supervised_tokens"] = int(tokens)
                output = output._replace(metrics=metrics)
        return output

    def prediction_step(
        self,
        model: Any,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> Any:
        if not prediction_loss_only or "labels" not in inputs:
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        pop_token_counts(inputs)
        device = self.args.device
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        tokens = int(inputs["labels"][..., 1:].ne(IGNORE).sum())
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        loss = loss.detach().float()
        if tokens == 0:  # nothing supervised (an eval_shard stand-in): no weight, and no NaN
            return (torch.zeros((), device=loss.device), None, None)
        self._eval_sum += float(loss) * tokens
        self._eval_tokens += tokens
        return (loss, None, None)


class _RestoreLossState(TrainerCallback):
    """Calls ``LoradocTrainer._restore_losses`` at train begin (the first hook after the reset)."""

    def __init__(self, trainer: LoradocTrainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._restore_losses()
