"""Several processes: ``loradoc train`` starts itself again through accelerate's launcher.

``loradoc train cfg.yml --num-processes N`` (or ``num_processes: N`` in the
config), run from a shell, checks the config, the machine and ``output_dir`` once,
settles the W&B question once, tokenizes the data once into the cache the workers
reuse (so a broken data file is one error line before any worker starts), and then runs

    <this python> -m accelerate.commands.launch --multi_gpu --num_processes N ... -m loradoc train cfg.yml ...

with the same interpreter (``sys.executable``: no ``accelerate`` script needs to be on
PATH). accelerate's ``--multi_gpu`` path is torchrun underneath; on a machine without
GPUs each worker runs on the CPU with the gloo backend (accelerate's own ``--cpu``
flag would start a single process unless MPI is set up). The workers see the
launcher's environment (``LOCAL_RANK``, ``WORLD_SIZE``) and train; the same happens
when a user runs ``accelerate launch -m loradoc train cfg.yml`` or
``torchrun --standalone --nproc_per_node N -m loradoc train cfg.yml`` directly.

FSDP and DeepSpeed are not launched differently: the config's ``fsdp``/``fsdp_config``
and ``deepspeed`` go to transformers' ``TrainingArguments`` (``train_args``), which
set up accelerate's plugins inside the workers, as transformers documents for
torchrun launches. FSDP shards across processes, so a run of one process with
``fsdp``/``fsdp_config`` set is refused here, before anything heavy, with the
``--num-processes`` to add (:func:`check_fsdp_processes`); loradoc does not pick a
process count for the user.

Several machines: every machine runs the same ``loradoc train cfg.yml --num-processes N
--num-machines M --machine-rank R --main-process-ip HOST [--main-process-port P]`` (N counts
the processes of all machines, N/M per machine; HOST is machine 0, reachable from the
others), which become accelerate's ``--num_machines/--machine_rank/--main_process_ip/
--main_process_port``. Machine 0 owns ``output_dir`` (its check, the W&B question, the
outputs: only global rank 0 writes them); the other machines tokenize their data and start
their workers, which join machine 0's rendezvous.

Signals: the launcher and its workers run in a process group of their own, and this
process passes every SIGINT/SIGTERM it gets on to that whole group, once. So each
process hears a stop exactly once from here, whether it was a terminal's Ctrl-C, a
``kill`` of this process alone, or a signal to this process's group (``timeout``, a
job scheduler): torchrun's agent, hit twice in quick succession, prints a traceback of
its own logging. The workers also hear the agent's copy, which they take as the same
request (``signals.ABORT_AFTER_S``); a second signal later than that is passed on too
and stops them at once. On Linux the launcher gets SIGTERM if this process dies
without a word (``PR_SET_PDEATHSIG``), so a SIGKILL here still ends in a checkpoint,
not in orphaned workers. Exit code: the launcher's, or 128 + the signal when one came.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

from loradoc.doctor.snapshot import Snapshot
from loradoc.errors import UserError
from loradoc.train.run import ranks

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

LAUNCHER = "accelerate.commands.launch"
DEFAULT_PORT = 29500  # torchrun's and accelerate's default rendezvous port
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(frozen=True)
class Nodes:
    """Where this machine stands in a multi-machine run (one machine by default)."""

    machines: int = 1
    rank: int = 0
    main_ip: str | None = None
    main_port: int | None = None

    def check(self, num_processes: int) -> None:
        """One line for a combination accelerate would reject late, or hang on."""
        if self.machines == 1:
            if self.rank or self.main_ip or self.main_port:
                raise UserError(
                    "--machine-rank/--main-process-ip/--main-process-port are for several machines: "
                    "add --num-machines M"
                )
            return
        if self.rank >= self.machines:
            raise UserError(f"--machine-rank {self.rank}: machines are numbered 0 to {self.machines - 1}")
        if not self.main_ip:
            raise UserError(
                f"--num-machines {self.machines} needs --main-process-ip: the address of machine 0 "
                "that every machine can reach"
            )
        if num_processes < self.machines or num_processes % self.machines:
            raise UserError(
                f"--num-processes {num_processes} counts the processes of all {self.machines} machines: "
                f"give a multiple of {self.machines} (e.g. {self.machines * max(1, num_processes // self.machines)})"
            )

    def launcher_args(self) -> list[str]:
        if self.machines == 1:
            return ["--num_machines", "1", "--main_process_port", "0"]  # a free port: runs never collide
        return [
            "--num_machines",
            str(self.machines),
            "--machine_rank",
            str(self.rank),
            "--main_process_ip",
            str(self.main_ip),
            "--main_process_port",
            str(self.main_port or DEFAULT_PORT),
        ]

    def words(self) -> list[str]:
        """The options that repeat this machine's place (for the resume hint)."""
        if self.machines == 1:
            return []
        out = ["--num-machines", str(self.machines), "--machine-rank", str(self.rank)]
        out += ["--main-process-ip", str(self.main_ip)]
        return out + (["--main-process-port", str(self.main_port)] if self.main_port else [])


def launched_world_size(environ: Mapping[str, str] | None = None) -> int | None:
    """The number of processes when this one was started by a launcher (torchrun, accelerate), else None."""
    return ranks.launched_world_size(environ)


def wants_launch(cfg: TrainConfig, environ: Mapping[str, str] | None = None) -> bool:
    """True when the config asks for several processes and no launcher started this one."""
    return launched_world_size(environ) is None and int(cfg.num_processes or 1) > 1


def launch_command(
    words: Sequence[str], num_processes: int, *, python: str | None = None, nodes: Nodes | None = None
) -> list[str]:
    """The accelerate launcher command that runs ``loradoc WORDS`` in ``num_processes`` processes
    (of all machines, with ``nodes``)."""
    return [
        python or sys.executable,
        "-m",
        LAUNCHER,
        "--multi_gpu",
        "--num_processes",
        str(num_processes),
        *(nodes or Nodes()).launcher_args(),
        "--mixed_precision",
        "no",  # transformers sets the run's precision from bf16/fp16 in each worker
        "--dynamo_backend",
        "no",
        "-m",
        "loradoc",
        *words,
    ]


def note_launcher_world(cfg: TrainConfig, *, echo: bool, environ: Mapping[str, str] | None = None) -> None:
    """Inside a launched run, make ``num_processes`` the real number of processes (recorded)."""
    world = launched_world_size(environ)
    if world is not None and world != int(cfg.num_processes or 1):
        cfg.note_change("num_processes", world, f"the launcher started {world} processes", echo=echo)


def command_words(
    config: str,
    overrides: Sequence[str],
    snapshot_path: str | None,
    num_processes: int | None,
    nodes: Nodes | None = None,
) -> list[str]:
    """The words after ``loradoc`` that repeat this ``train`` command (for workers and the resume hint)."""
    words = ["train", config]
    if snapshot_path:
        words += ["--from", snapshot_path]
    words += list(overrides)
    if num_processes is not None:
        words += ["--num-processes", str(num_processes)]
    return words + (nodes or Nodes()).words()


def check_fsdp_processes(
    cfg: TrainConfig, *, snapshot: Snapshot | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """``fsdp``/``fsdp_config`` on one process: a UserError saying what to set.

    transformers refuses FSDP outside distributed training (a traceback once the model is
    loaded); this says it first. The fix names ``--num-processes`` (the GPU count when the
    machine has several visible GPUs, else 2), or a launcher with more processes when one
    started this process alone.
    """
    if not (cfg.fsdp or cfg.fsdp_config):
        return
    launched = launched_world_size(environ)
    world = launched if launched is not None else int(cfg.num_processes or 1)
    if world > 1:
        return
    gpus = _visible_gpus(snapshot)
    n = gpus if gpus > 1 else 2
    if launched is not None:
        raise UserError(
            f"fsdp needs at least 2 processes, but the launcher started 1: launch {n} (e.g. torchrun "
            f"--nproc_per_node {n}), or remove fsdp/fsdp_config from the config"
        )
    where = f" (this machine has {gpus} GPUs)" if gpus > 1 else ""
    raise UserError(
        f"fsdp needs at least 2 processes: add --num-processes {n}{where}, or remove fsdp/fsdp_config "
        "from the config"
    )


def _visible_gpus(snapshot: Snapshot | None) -> int:
    if snapshot is None:
        return 0
    from loradoc.compat.load import load_matrix
    from loradoc.doctor.facts import machine_facts

    facts = machine_facts(snapshot, load_matrix())
    return len(facts.gpus) + len(facts.amd_gpus) if facts.gpu_training else 0


def train_or_launch(
    cfg: TrainConfig, words: list[str], *, snapshot: Snapshot | None = None, nodes: Nodes | None = None
) -> int:
    """Train in this process, or start the workers that will (``wants_launch``); returns the exit code."""
    nodes = nodes or Nodes()
    check_fsdp_processes(cfg, snapshot=snapshot)
    if not wants_launch(cfg):
        from loradoc.train.run.start import run_training

        try:
            return run_training(cfg, snapshot=snapshot, command=words)
        except UserError as exc:
            if ranks.is_main_process():
                raise
            return exc.exit_code  # every rank meets the same mistake; rank 0 says it once
    from loradoc.train.run.signals import resume_command
    from loradoc.train.run.start import check_output_dir
    from loradoc.train.run.wandb_setup import settle_wandb

    n = int(cfg.num_processes or 1)
    if "--num-processes" not in words and "--num_processes" not in words:
        words = [*words, "--num-processes", str(n)]
    # once, here, before N processes start: the output_dir check, the W&B question, and the
    # data (tokenized into the cache the workers then reuse; a bad file is one line, here).
    # output_dir and W&B belong to machine 0; every machine tokenizes its own data.
    if nodes.rank == 0:
        check_output_dir(cfg)
        plan = settle_wandb(cfg)
        if cfg.wandb_enabled and not plan.enabled:
            os.environ["WANDB_MODE"] = "disabled"  # the user said no: the workers must not ask again
    _prepare_data_once(cfg)
    code = relaunch(words, n, nodes=nodes)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        print(f"interrupted; resume with: {resume_command(words)}", file=sys.stderr)
    return code


def _prepare_data_once(cfg: TrainConfig) -> None:
    from loradoc.train.data.prepare import prepare_data
    from loradoc.train.model.load import load_tokenizer

    tokenizer = load_tokenizer(cfg, say=print)
    prepare_data(cfg, tokenizer, say=print)


def _own_group_dying_with(parent: int) -> Callable[[], None]:
    """What the launcher runs before it starts (in the child, after fork): a process group of
    its own, and on Linux SIGTERM when ``parent`` dies (``prctl(PR_SET_PDEATHSIG)``)."""
    prctl = None
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):
            prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not after fork

    def setup() -> None:
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
            if os.getppid() != parent:  # the parent died before the request took hold
                os.kill(os.getpid(), signal.SIGTERM)

    return setup


def relaunch(
    words: Sequence[str], num_processes: int, *, say: Any = print, nodes: Nodes | None = None
) -> int:
    """Run ``loradoc WORDS`` under the launcher in ``num_processes`` processes (of all machines);
    returns the exit code."""
    nodes = nodes or Nodes()
    cmd = launch_command(words, num_processes, nodes=nodes)
    here = num_processes // nodes.machines
    where = (
        f" on machine {nodes.rank} of {nodes.machines} ({here} here, rendezvous at "
        f"{nodes.main_ip}:{nodes.main_port or DEFAULT_PORT})"
        if nodes.machines > 1
        else ""
    )
    say(f"launching {num_processes} processes{where}: accelerate launch ... -m loradoc {' '.join(words)}")
    env = dict(os.environ, LORADOC_PLAN_SHOWN="1")
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // here)))
    got: list[int] = []
    posix = hasattr(os, "killpg")
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_own_group_dying_with(os.getpid()) if posix else None)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        if proc.poll() is not None:
            return
        if posix:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signum)  # the launcher's group: its agent and the workers
        else:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if got:
        return 128 + got[0]
    return code
