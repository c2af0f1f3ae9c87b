"""What every rule reads: the snapshot, the matrix and the optional training config, plus the
machine's facts derived from them once (``loradoc.doctor.facts``: the torch build, the
visible GPUs with their compute capabilities, the driver's maximum CUDA).

Every derived fact may be None: snapshots from bug reports are partial, and a rule that
lacks a fact it needs returns no finding rather than guessing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from loradoc.compat.choose import TorchChoice, torch_choices
from loradoc.compat.queries import Matrix
from loradoc.compat.versions import cuda_tuple, variant_cuda
from loradoc.doctor.facts import GpuFact, MachineFacts, TorchFact, machine_facts
from loradoc.doctor.snapshot import Package, Snapshot

# Companion packages reinstalled from the same index as torch so their CUDA variant matches.
TORCH_COMPANIONS = ("torchvision", "torchaudio")


def _config_value(config: Any, key: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(key)
    return getattr(config, key, None)


def _legacy_attention() -> dict[str, str]:
    # The training config's own table; imported here so `doctor check` without --config never
    # loads the training package.
    from loradoc.config.vocab import LEGACY_ATTENTION

    return LEGACY_ATTENTION


def config_attention(config: Any) -> tuple[str, str | None] | None:
    """The attention implementation a training config asks for, and the legacy key that asked.

    ``attn_implementation`` first: a loaded TrainConfig holds only that (loading folds
    Axolotl's ``xformers_attention: true`` and friends into it and unsets them). Otherwise the
    legacy flag itself (a plain mapping, or any object with Axolotl's key names). The second
    item names the legacy key when one asked, so a fix can say what to replace. None: no
    config, or it asks for no particular attention.
    """
    if config is None:
        return None
    legacy = _legacy_attention()
    flag = next((k for k in legacy if _config_value(config, k) in (True, "true")), None)
    value = _config_value(config, "attn_implementation")
    if not (isinstance(value, str) and value.strip() and value.strip().lower() != "auto"):
        return (legacy[flag], flag) if flag else None
    impl = value.strip()
    flag = flag or _folded_legacy_key(config, legacy)
    return impl, flag if flag and legacy[flag] == impl else None


def _folded_legacy_key(config: Any, legacy: Mapping[str, str]) -> str | None:
    """The legacy key a loaded config folded into attn_implementation (the cause of that change)."""
    for change in _config_value(config, "auto_changes") or ():
        cause = getattr(change, "cause", None)
        if getattr(change, "key", None) == "attn_implementation" and cause in legacy:
            return str(cause)
    return None


class Context:
    """Read-only view shared by the rules of one diagnosis."""

    def __init__(self, snapshot: Snapshot, matrix: Matrix, config: Any = None) -> None:
        self.snapshot = snapshot
        self.matrix = matrix
        self.config = config

    @functools.cached_property
    def facts(self) -> MachineFacts:
        """The machine's derived facts (loradoc.doctor.facts): GPUs, capabilities, precision, attention."""
        return machine_facts(self.snapshot, self.matrix)

    # -- platform, driver and GPUs (read from the facts) ---------------------------------------
    @property
    def os(self) -> str | None:
        return self.facts.os

    @property
    def os_or_linux(self) -> str:
        return self.facts.os_or_linux

    @property
    def machine(self) -> str:
        return self.facts.machine

    @property
    def python_mm(self) -> str | None:
        return self.facts.python_mm

    @property
    def driver_version(self) -> str | None:
        return self.facts.driver_version

    @property
    def cuda_max(self) -> str | None:
        """The driver's highest CUDA: reported, else estimated from the driver version."""
        return self.facts.cuda_max

    @property
    def gpus(self) -> list[GpuFact]:
        """Visible NVIDIA GPUs, each with a compute capability when the probe or the name table knows it."""
        return list(self.facts.gpus)

    @property
    def ccs(self) -> list[str]:
        return self.facts.ccs

    @property
    def has_nvidia_gpu(self) -> bool | None:
        """True/False when known; None when the snapshot says nothing about GPUs or a driver."""
        return self.facts.has_nvidia_gpu

    @property
    def rocm_machine(self) -> bool:
        """Linux with AMD GPUs and no NVIDIA one: a machine whose GPU build of torch is a ROCm build."""
        return bool(self.facts.amd_gpus) and self.has_nvidia_gpu is not True and self.os_or_linux == "linux"

    # -- packages ------------------------------------------------------------------------------
    def pkg(self, name: str) -> Package | None:
        return self.snapshot.package(name)

    def installed(self, name: str) -> bool | None:
        """True when listed, False when a complete snapshot lacks it, None when unknown."""
        p = self.pkg(name)
        if p is not None:
            return True
        return False if self.snapshot.complete and self.snapshot.packages is not None else None

    @property
    def torch(self) -> TorchFact | None:
        return self.facts.torch

    @property
    def torch_cuda(self) -> str | None:
        """torch's CUDA, even when its version is unknown (a report that gives only
        torch.version.cuda): it decides what the driver and nvcc must match."""
        if self.torch is not None:
            return self.torch.cuda
        pkg = self.pkg("torch")
        return pkg.cuda if pkg is not None else None

    def gpus_newer_than(self, cuda: tuple[int, int]) -> tuple[list[GpuFact], str | None]:
        """The GPUs a CUDA ``cuda`` toolkit cannot compile for (the matrix's first CUDA for their
        compute capability is newer), and the newest of those first CUDAs."""
        m = self.matrix
        old = [g for g in self.gpus if (need := cuda_tuple(m.first_cuda(g.cc))) is not None and cuda < need]
        firsts = [c for g in old if (c := m.first_cuda(g.cc))]
        return old, max(firsts, key=lambda c: cuda_tuple(c) or (0, 0)) if firsts else None

    @property
    def companions(self) -> tuple[str, ...]:
        return tuple(n for n in TORCH_COMPANIONS if self.pkg(n) is not None)

    @property
    def gpu_training(self) -> bool | None:
        """Whether training runs on a GPU here; None when unknown."""
        return self.facts.gpu_training

    # -- config --------------------------------------------------------------------------------
    @functools.cached_property
    def attention(self) -> str | None:
        """The attention implementation the training config asks for ("xformers", "sdpa", ...)."""
        asked = config_attention(self.config)
        return asked[0] if asked else None

    def attention_fix(self, impl: str = "sdpa") -> str:
        """The config change that switches attention to ``impl``, naming a legacy key to replace."""
        asked = config_attention(self.config)
        if asked and asked[1]:
            return f"replace {asked[1]}: true with attn_implementation: {impl} in the training config"
        return f"set attn_implementation: {impl} in the training config"

    def cfg(self, key: str, default: Any = None) -> Any:
        """A training-config value by its Axolotl key name (None when there is no config)."""
        if self.config is None:
            return default
        if isinstance(self.config, Mapping):
            return self.config.get(key, default)
        return getattr(self.config, key, default)

    def cfg_flag(self, key: str) -> bool | str | None:
        """True / False / "auto" / None for boolean-or-auto keys (bf16, fp16, tf32, ...)."""
        value = self.cfg(key)
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "1"):
                return True
            if low in ("false", "no", "0", ""):
                return False
            return low
        if value is None:
            return None
        return bool(value)

    # -- fixes ---------------------------------------------------------------------------------
    def torch_choices(
        self,
        version: str | None = None,
        *,
        ccs: list[str] | None = None,
        gpu: bool | None = None,
        cuda_floor: str | None = None,
    ) -> list[TorchChoice]:
        """Torch builds that fit this machine (see compat.choose), for ``version`` or any;
        ``gpu=True`` when the evidence (a log, an extension) says a GPU build is wanted. A build
        of the installed release but another variant is installed with ``--force-reinstall``:
        pip counts the installed 2.7.0 (or 2.7.0+cpu) as satisfying ``torch==2.7.0`` and would
        keep it, and the companions with it."""
        choices = torch_choices(
            self.matrix,
            os=self.os_or_linux,
            machine=self.machine,
            python=self.snapshot.python,
            glibc=self.snapshot.glibc,
            driver=self.driver_version,
            cuda_max=self.cuda_max if not self.driver_version else None,
            ccs=self.ccs if ccs is None else ccs,
            version=version,
            gpu=gpu if gpu is not None else self.has_nvidia_gpu,
            extra=self.companions,
            cuda_floor=cuda_floor,
        )
        return [self._replacing_installed(c) for c in choices]

    def _replacing_installed(self, choice: TorchChoice) -> TorchChoice:
        t = self.torch
        if t is None or t.public != choice.version or t.variant == choice.variant:
            return choice
        if not choice.command.startswith("pip install ") or "--force-reinstall" in choice.command:
            return choice
        return replace(
            choice, command=choice.command.replace("pip install ", "pip install --force-reinstall ", 1)
        )

    def torch_choices_of_major(self, version: str | None, major: int) -> list[TorchChoice]:
        """GPU builds (of ``version``, or any) whose CUDA major is ``major``."""
        return [
            c
            for c in self.torch_choices(version, gpu=True)
            if (cuda_tuple(variant_cuda(c.variant)) or (0, 0))[0] == major
        ]

    def best_torch(
        self, version: str | None = None, *, gpu: bool | None = None, cuda_floor: str | None = None
    ) -> TorchChoice | None:
        """The best fitting build, keeping ``version`` when one of its builds fits
        (``cuda_floor``: see compat.choose.torch_choices)."""
        if version:
            same = self.torch_choices(version, gpu=gpu, cuda_floor=cuda_floor)
            if same:
                return same[0]
        any_version = self.torch_choices(gpu=gpu, cuda_floor=cuda_floor)
        return any_version[0] if any_version else None
