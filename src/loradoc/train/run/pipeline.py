"""The heavy half of ``run_training``: data, model, Trainer, outputs (training path only).

Several processes: each runs this with its rank (accelerate's ``PartialState``); training
bins are split by the sampler, eval micro-batches by ``eval_shard`` (each counted once);
only the main process prints and writes outputs. SIGINT/SIGTERM during ``trainer.train``
end the run after the current step with a complete checkpoint and exit 130/143
(``signals``, ``callbacks.StopOnSignalCallback``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from loradoc.config.schema import TrainConfig
from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.fsutil import write_json_atomic
from loradoc.train.run.signals import StopRequest, stop_on_signals
from loradoc.train.run.trackers import TrackerPlan, run_name
from loradoc.train.run.wandb_setup import WandbPlan, finish_wandb

Say = Callable[[str], None]
# summary.json fields about this process, its clock or its folder rather than the training: they
# differ between an unbroken run and a stopped-and-resumed one while the rest is equal (tests/faults)
PROCESS_FIELDS = frozenset(
    {
        "train_seconds",
        "tokens_per_s",
        "supervised_tokens_per_s",
        "peak_rss_mb",
        "wall_seconds",
        "outputs",
        "data",
        "wandb_run",
        "time",
    }
)


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class TrainingSession:
    def __init__(
        self,
        cfg: TrainConfig,
        *,
        wandb_plan: WandbPlan,
        resume: str | None,
        command: list[str] | None = None,
        snapshot: Snapshot | None = None,
        trackers: TrackerPlan | None = None,
    ) -> None:
        from accelerate import PartialState

        self.cfg = cfg
        self.plan = wandb_plan
        self.trackers = trackers or TrackerPlan()
        self.resume = resume
        self.command = command
        self.device = _device()
        self.snapshot = snapshot
        # cpu=True is what lets accelerate see a multi-process CPU launch (gloo); on GPUs it stays off
        self.state = PartialState(cpu=self.device == "cpu")
        self.main = bool(self.state.is_main_process)
        self.world = int(self.state.num_processes)
        self.rank = int(self.state.process_index)
        self.out = Path(cfg.output_dir).expanduser()
        self.started = time.time()
        self.stop = StopRequest(main=self.main)
        if self.world != (cfg.num_processes or 1):
            cfg.note_change(
                "num_processes", self.world, f"the run was started with {self.world}", echo=self.main
            )

    def say(self, msg: str) -> None:
        if self.main:
            click.echo(msg)

    # -- steps -----------------------------------------------------------------------------
    def run(self) -> int:
        code = self._train_and_save()
        self._finish_together()
        return code

    def _finish_together(self) -> None:
        """Several processes: every rank waits until rank 0 has written the outputs, then the process
        group is taken down while every rank is still alive. A rank that left first could otherwise
        end the run for the others (the launcher stops every process once one exits abnormally).

        The trainer's DistributedDataParallel wrapper sits in a reference cycle: after training it
        is unreachable but alive until the garbage collector runs, and its Reducer keeps the gloo
        process group (threads, sockets) alive past ``destroy_process_group``. Left to interpreter
        teardown, that group's destructor can abort the process (SIGABRT, "terminate called without
        an active exception") after a run that succeeded. Collecting first releases it here."""
        if self.world <= 1:
            return
        import gc

        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()
            gc.collect()

    def _train_and_save(self) -> int:
        from transformers import set_seed

        from loradoc.train.data.prepare import prepare_data
        from loradoc.train.model.load import load_tokenizer

        cfg = self.cfg
        set_seed(int(cfg.seed))
        tokenizer = load_tokenizer(cfg, say=self.say)
        with self.state.main_process_first():
            data = prepare_data(cfg, tokenizer, say=self.say if self.main else lambda s: None)
        self.say(data.train_stats.line("train"))
        if data.eval_stats is not None:
            self.say(data.eval_stats.line("eval"))

        precision, attention = self._precision_and_attention()
        eval_packing = self._eval_packing(data)
        model = self._model(tokenizer, precision, attention)
        trainer = self._trainer(model, tokenizer, data, precision, attention, eval_packing)
        self.time_estimate = self._time_estimate(model, data, trainer)
        if self.resume:
            code = self._resume_at_the_end(trainer, tokenizer, data, precision, attention)
            if code is not None:
                return code
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.save_resolved(self.out / "resolved_config.yml")
        if self.resume:
            self.say(f"resuming from {self.resume}")
            from loradoc.train.run.checkpoint import checkpoint_world_size

            saved_by = checkpoint_world_size(Path(self.resume))
            if saved_by and saved_by != self.world:
                self.say(
                    f"resume: {Path(self.resume).name} was written by {saved_by} process(es) and this run has "
                    f"{self.world}: training goes on from its step, but the rows each step sees (and the global "
                    f"batch, micro x accumulation x processes) differ from an unbroken {saved_by}-process run, "
                    "so the data order is not kept"
                )
        with stop_on_signals(self.stop):  # SIGINT/SIGTERM: finish the step, checkpoint, stop
            result = trainer.train(resume_from_checkpoint=self.resume)
        trainer.meter.pause()
        if self.stop.requested and trainer.state.global_step < trainer.state.max_steps:
            return self._stopped(trainer, self.stop)
        mean = float(result.training_loss) if result is not None else None
        self._save_outputs(trainer, tokenizer, data, mean, precision, attention)
        return 0

    def _time_estimate(self, model: Any, data: Any, trainer: Any) -> Any:
        """How long training takes, from the real token count after packing; printed before the
        first step and recorded with the actual time in summary.json (a line when unknown)."""
        import torch

        from loradoc.train.estimate_time import plan_time

        cfg = self.cfg
        lengths = [int(n) for n in data.train["length"]]
        total = self._max_steps(trainer)
        epochs = total / max(1, self.steps_per_epoch)
        done = _checkpoint_step(self.resume) if self.resume else 0
        epochs *= max(0, total - done) / max(1, total)
        config = getattr(model, "config", None)
        estimate = plan_time(
            config.to_dict() if config is not None else None,
            cfg,
            device=self.device,
            gpu_name=torch.cuda.get_device_name(0) if self.device == "cuda" else None,
            tokens=sum(lengths),
            attention_len=sum(lengths) / max(1, len(lengths)),
            epochs=epochs,
            world_size=self.world,
            threads=torch.get_num_threads(),
        )
        self.say(f"  {estimate.line() if not isinstance(estimate, str) else 'time    ' + estimate}")
        return estimate

    def _max_steps(self, trainer: Any) -> int:
        """The optimizer steps this run trains to (transformers' own rule)."""
        args = trainer.args
        if args.max_steps > 0:
            return int(args.max_steps)
        return math.ceil(float(args.num_train_epochs) * self.steps_per_epoch)

    def _resume_at_the_end(
        self, trainer: Any, tokenizer: Any, data: Any, precision: str, attention: Any
    ) -> int | None:
        """A checkpoint at (or past) the last step: nothing to train. None: train from it.

        transformers would train one more step from such a checkpoint (step N+1 of N):
        instead, a run whose final outputs are there is finished (nothing changes), one whose
        final outputs are missing or were cut short gets them written from the checkpoint, and
        a checkpoint past the last step is refused.
        """
        from loradoc.train.run.checkpoint import checkpoint_state, final_outputs, finished_past

        step, _ = checkpoint_state(Path(self.resume or ""))
        last = self._max_steps(trainer)
        if step < last:
            return None
        if step > last:
            final = final_outputs(self.out)
            if final.steps is not None:
                raise UserError(finished_past(self.out, final.steps, last))
            raise UserError(
                f"resume_from_checkpoint: {self.resume} is at step {step}, past max_steps {last}; nothing to "
                "train. Raise max_steps, or name an earlier checkpoint by path"
            )
        if final_outputs(self.out).steps == last:
            self.say(
                f"already finished: {self.out} holds the final adapter of step {last} of {last} (nothing to do)"
            )
            return 0
        return self._outputs_from_checkpoint(trainer, tokenizer, data, precision, attention)

    def _outputs_from_checkpoint(
        self, trainer: Any, tokenizer: Any, data: Any, precision: str, attention: Any
    ) -> int:
        """Write the final outputs from the checkpoint of the last step, without training."""
        from peft import set_peft_model_state_dict
        from peft.utils import load_peft_weights
        from transformers import TrainerState

        from loradoc.train.run.checkpoint import STATE, load_run_state

        folder = Path(self.resume or "")
        self.say(
            f"resume: {folder.name} is the last step; writing the final outputs from it (nothing to train)"
        )
        weights = load_peft_weights(str(folder), device="cpu")
        loaded = set_peft_model_state_dict(trainer.model, weights)
        unexpected = list(getattr(loaded, "unexpected_keys", []) or [])
        if unexpected:
            raise UserError(
                f"resume_from_checkpoint: {folder} holds an adapter for another model ({unexpected[0]}, ...)"
            )
        trainer.state = TrainerState.load_from_json(str(folder / STATE))
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            self.cfg.save_resolved(self.out / "resolved_config.yml")
        run_state = load_run_state(folder)
        mean = run_state.train_loss_mean(self.rank)
        if self.main:
            _end_of_training_record(self.out / "metrics.jsonl", trainer.state, mean, run_state.train_seconds)
        self._save_outputs(trainer, tokenizer, data, mean, precision, attention)
        return 0

    def _stopped(self, trainer: Any, stop: StopRequest) -> int:
        """After a signal: the checkpoint is written; say where and how to go on. No final outputs."""
        from loradoc.train.run.checkpoint import checkpoint_problem
        from loradoc.train.run.signals import resume_command

        if not self.main:
            return stop.exit_code
        finish_wandb(self.plan, say=self.say)
        step = int(trainer.state.global_step)
        folder = self.out / f"checkpoint-{step}"
        problem = checkpoint_problem(folder) if folder.is_dir() else "it was not written"
        command = resume_command(self.command, self.cfg.source)
        if problem is None:
            click.echo(
                f"stopped by {stop.name} after step {step} of {trainer.state.max_steps}: checkpoint saved in "
                f"{folder}\nresume with: {command}",
                err=True,
            )
        else:
            click.echo(
                f"stopped by {stop.name} after step {step}, but its checkpoint is not complete ({problem}); "
                f"resume from the previous one with: {command}",
                err=True,
            )
        return stop.exit_code

    def _precision_and_attention(self) -> tuple[str, Any]:
        from loradoc.compat.load import load_matrix
        from loradoc.doctor.facts import machine_facts
        from loradoc.doctor.probe.machine import probe
        from loradoc.train.model.attention import choose_attention
        from loradoc.train.preflight import resolve_precision

        cfg = self.cfg
        # the machine's facts, with the running torch's own answer on whether CUDA works
        facts = machine_facts(self.snapshot or probe(), load_matrix(), cuda_usable=self.device == "cuda")
        from loradoc.train.model_info import read_model_info

        hidden = read_model_info(cfg).config.get("hidden_size")
        precision = resolve_precision(
            cfg, facts, say=self.say, hidden=hidden if isinstance(hidden, int) else None, measure=True
        )
        attention = choose_attention(
            cfg.attn_implementation,
            packing=bool(cfg.sample_packing),
            device=self.device,
            available=set(facts.attention),
        )
        self.say(f"attention: {attention.impl} ({attention.reason})")
        return precision, attention

    def _eval_packing(self, data: Any) -> bool:
        from loradoc.train.packing.bins import eval_packing_decision

        cfg = self.cfg
        if data.eval is None or not cfg.sample_packing:
            return False
        wanted = cfg.eval_sample_packing
        if wanted is False:
            return False
        eval_bs = int(cfg.eval_batch_size or cfg.micro_batch_size)
        ok, reason = eval_packing_decision(
            data.eval["length"],
            sequence_len=int(cfg.sequence_len),
            micro_batch_size=eval_bs,
            world_size=self.world,
        )
        if not ok:
            cfg.note_change("eval_sample_packing", False, reason, echo=False)
            self.say(reason)
        return ok

    def _model(self, tokenizer: Any, precision: str, attention: Any) -> Any:
        from loradoc.train.model.load import load_model

        return load_model(
            self.cfg,
            tokenizer,
            attention=attention.impl,
            precision=precision,
            packing=bool(self.cfg.sample_packing),
            say=self.say,
        )

    def _loader_factory(self, tokenizer: Any, attention: Any) -> Callable[..., Any]:
        from loradoc.train.packing.dataloader import build_dataloader

        cfg = self.cfg

        def make(dataset: Any, *, packing: bool, shuffle: bool) -> Any:
            micro = cfg.micro_batch_size if shuffle else (cfg.eval_batch_size or cfg.micro_batch_size)
            pad_full = cfg.pad_to_sequence_len
            # training: the sampler gives each rank its bins; eval: every rank builds the whole
            # loader and takes its share of micro-batches, so no eval bin counts twice (eval_shard)
            sharded_sampler = shuffle or self.world == 1
            loader = build_dataloader(
                dataset,
                packing=packing,
                sequence_len=int(cfg.sequence_len),
                micro_batch_size=int(micro),
                pad_token_id=int(tokenizer.pad_token_id),
                seed=int(cfg.seed),
                attention=attention.impl,
                num_replicas=self.world if sharded_sampler else 1,
                rank=self.rank if sharded_sampler else 0,
                shuffle=shuffle,
                pad_to_sequence_len=bool(packing if pad_full is None else pad_full),
            )
            if sharded_sampler:
                return loader
            from loradoc.train.run.eval_shard import ShardedEvalLoader

            return ShardedEvalLoader(loader, rank=self.rank, world=self.world)

        return make

    def _trainer(
        self, model: Any, tokenizer: Any, data: Any, precision: str, attention: Any, eval_packing: bool
    ) -> Any:
        from transformers import PrinterCallback, ProgressCallback

        from loradoc.train.model.compile import compile_asked, compile_blocker
        from loradoc.train.run.callbacks import (
            CheckpointMarkerCallback,
            MetricsFileCallback,
            ProgressBarCallback,
            StopOnSignalCallback,
        )
        from loradoc.train.run.train_args import training_arguments
        from loradoc.train.run.trainer import LoradocTrainer

        cfg = self.cfg
        factory = self._loader_factory(tokenizer, attention)
        steps_per_epoch = max(
            1,
            math.ceil(
                len(factory(data.train, packing=bool(cfg.sample_packing), shuffle=True))
                / int(cfg.gradient_accumulation_steps)
            ),
        )
        self.steps_per_epoch = steps_per_epoch
        args = training_arguments(
            cfg,
            precision=precision,
            steps_per_epoch=steps_per_epoch,
            has_eval=data.eval is not None,
            report_to=[*self.plan.report_to, *self.trackers.report_to],
            world_size=self.world,
            use_cpu=self.device == "cpu",
            attention=attention.impl,
            extra=self.trackers.args,
        )
        if compile_asked(cfg) and not args.torch_compile:  # a run started without the dry run's resolve
            self.say(f"note: not compiled: {compile_blocker(attention.impl, device=self.device)}")
        trainer = LoradocTrainer(
            model=model,
            args=args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            processing_class=tokenizer,
            loader_factory=factory,
            train_packing=bool(cfg.sample_packing),
            eval_packing=eval_packing,
        )
        if args.fsdp and not trainer.is_fsdp_enabled:
            self.say(
                "fsdp: not active in this run (accelerate shards with FSDP on GPUs only); "
                f"training with {'DDP' if self.world > 1 else 'one process'} instead"
            )
        if not trainer.model_accepts_loss_kwargs:
            raise UserError(
                f"{type(model).__name__} does not take the loss normalisation arguments (num_items_in_batch), so "
                "gradient accumulation would average per micro-batch; loradoc needs a model whose forward accepts **kwargs"
            )
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        trainer.add_callback(MetricsFileCallback(self.out / "metrics.jsonl"))
        trainer.add_callback(ProgressBarCallback())
        trainer.add_callback(CheckpointMarkerCallback(trainer.run_state))
        trainer.add_callback(StopOnSignalCallback(self.stop))
        if self.resume:
            from loradoc.train.run.checkpoint import load_run_state

            trainer.resume_metrics(load_run_state(Path(self.resume)), own=self.main)
        return trainer

    # -- outputs ---------------------------------------------------------------------------
    def _save_outputs(
        self,
        trainer: Any,
        tokenizer: Any,
        data: Any,
        train_loss_mean: float | None,
        precision: str,
        attention: Any,
    ) -> None:
        """The final outputs; ``summary.json`` is removed first and written last (``checkpoint.final_outputs``)."""
        from loradoc.train.packing.bins import pack_lengths
        from loradoc.train.run.callbacks import read_metrics
        from loradoc.train.run.metrics import peak_rss_mb
        from loradoc.train.run.plot import plot_losses

        cfg = self.cfg
        if self.main:  # until summary.json is back, the folder does not claim a finished run
            (self.out / "summary.json").unlink(missing_ok=True)
        trainer.save_model(str(self.out))  # the adapter (main process only, inside the Trainer)
        totals = trainer.summed_tokens([trainer.meter.input_tokens, trainer.meter.supervised_tokens])
        seconds = max(trainer.meter.seconds(), 1e-9)
        run_dir = finish_wandb(self.plan, say=self.say) if self.main else None
        if not self.main:
            return
        tokenizer.save_pretrained(str(self.out))
        records = read_metrics(self.out / "metrics.jsonl")
        plot = plot_losses(
            records,
            self.out / "loss.png",
            title=f"{Path(str(cfg.base_model)).name} LoRA",
            run_name=run_name(cfg) or self.out.name,
        )
        train_losses = [r["loss"] for r in records if isinstance(r.get("loss"), (int, float))]
        eval_losses = [r["eval_loss"] for r in records if isinstance(r.get("eval_loss"), (int, float))]
        lengths = data.train["length"]
        efficiency = pack_lengths(lengths, int(cfg.sequence_len)).efficiency if cfg.sample_packing else None
        summary = {
            "steps": int(trainer.state.global_step),
            "epochs": round(float(trainer.state.epoch or 0.0), 4),
            "train_loss_first": train_losses[0] if train_losses else None,
            "train_loss_last": train_losses[-1] if train_losses else None,
            "train_loss_mean": train_loss_mean,
            "eval_loss": eval_losses[-1] if eval_losses else None,
            "input_tokens": totals[0],
            "supervised_tokens": totals[1],
            "train_seconds": round(seconds, 3),
            "tokens_per_s": round(totals[0] / seconds, 2),
            "supervised_tokens_per_s": round(totals[1] / seconds, 2),
            "packing_efficiency": round(efficiency, 5) if efficiency is not None else None,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "precision": precision,
            "attention": attention.impl,
            "processes": self.world,
            "data": {
                "prepared": str(data.path),
                "reused": data.reused,
                "train": data.train_stats.to_dict(),
                "eval": data.eval_stats.to_dict() if data.eval_stats else None,
            },
            "wandb_run": run_dir,
            "outputs": {
                "dir": str(self.out),
                "adapter": str(self.out / "adapter_model.safetensors"),
                "metrics": str(self.out / "metrics.jsonl"),
                "plot": str(plot) if plot else None,
                "config": str(self.out / "resolved_config.yml"),
            },
            "wall_seconds": round(time.time() - self.started, 2),
        }
        gpu = _gpu_peak_mb()
        if gpu is not None:
            summary["peak_gpu_memory_mb"] = gpu
        estimate = getattr(self, "time_estimate", None)
        summary["time"] = {
            "predicted_seconds": None
            if estimate is None or isinstance(estimate, str)
            else [round(estimate.seconds_low, 2), round(estimate.seconds_high, 2)],
            "actual_seconds": round(seconds, 3),
            "basis": estimate if isinstance(estimate, str) else estimate.basis if estimate else None,
        }
        cfg.save_resolved(self.out / "resolved_config.yml")
        write_json_atomic(self.out / "summary.json", summary, default=str)
        self.say(summary_text(summary))


def _end_of_training_record(path: Path, state: Any, mean: float | None, seconds: float) -> None:
    """The record transformers logs when training ends (``train_loss`` and ``train_runtime``), for
    a run whose last checkpoint was written but which was stopped before it logged that record:
    metrics.jsonl then ends as an unbroken run's does. Nothing is added when the record is there."""
    from loradoc.fsutil import write_atomic
    from loradoc.train.run.callbacks import metrics_record, read_metrics

    rows = read_metrics(path)
    if any("train_runtime" in r for r in rows):
        return
    logs = {"train_runtime": round(seconds, 4), "train_loss": mean}
    rows.append(metrics_record(int(state.global_step), state.epoch, logs))
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def _checkpoint_step(path: str | None) -> int:
    """The step a ``checkpoint-N`` folder was written at (0 when the name does not say)."""
    name = Path(path or "").name
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if name.startswith("checkpoint-") and tail.isdigit() else 0


def _gpu_peak_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _num(value: Any, fmt: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _time_line(t: dict[str, Any] | None) -> list[str]:
    if not t or not t.get("predicted_seconds"):
        return []
    low, high = t["predicted_seconds"]
    actual = t["actual_seconds"]
    where = "inside" if low <= actual <= high else "below" if actual < low else "above"
    return [f"  time             {actual:.1f} s, predicted {low:.0f} to {high:.0f} s ({where} the range)"]


def summary_text(s: dict[str, Any]) -> str:
    eff = s.get("packing_efficiency")
    lines = [
        "done.",
        f"  steps            {s['steps']} ({s['epochs']:g} epochs, {s['train_seconds']:.1f} s training)",
        f"  train loss       {_num(s['train_loss_first'], '.4f')} -> {_num(s['train_loss_last'], '.4f')}"
        + (f"   eval loss {_num(s['eval_loss'], '.4f')}" if s.get("eval_loss") is not None else ""),
        f"  tokens           {_num(s['input_tokens'])} input, {_num(s['supervised_tokens'])} supervised",
        f"  tokens/s         {_num(s['tokens_per_s'])} input, {_num(s['supervised_tokens_per_s'])} supervised",
        f"  packing          {'off' if eff is None else f'{eff:.1%} efficient'}",
        *_time_line(s.get("time")),
        f"  peak memory      {s['peak_rss_mb']:,.0f} MiB RSS"
        + (f", {s['peak_gpu_memory_mb']:,.0f} MiB GPU" if "peak_gpu_memory_mb" in s else ""),
        f"  outputs          {s['outputs']['dir']} (adapter, tokenizer, metrics.jsonl, loss.png, summary.json)",
    ]
    return "\n".join(lines)
