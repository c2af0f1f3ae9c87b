"""Wants: what the user asked ``doctor install`` for, from options or a training config.

``--torch 2.5`` / ``--cuda 12.4`` / ``--cpu`` bound the torch build;
``--with`` / ``--without`` add or drop packages; ``--config cfg.yml`` adds what
the config's attention and quantisation keys need (flash-attn for
``attn_implementation: flash_attention_2``, bitsandbytes for ``load_in_4bit`` or
``adapter: qlora``, wandb for ``wandb_project``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import TrainConfig

EXTENSIONS = ("xformers", "flash-attn", "bitsandbytes")
HF_STACK = ("transformers", "peft", "accelerate", "datasets")
STACK = (*HF_STACK, "wandb")
GROUPS: dict[str, tuple[str, ...]] = {
    "hf": HF_STACK,
    "stack": STACK,
    "extensions": EXTENSIONS,
    "all": (*EXTENSIONS, *STACK),
}
_ALIASES = {
    "flash_attn": "flash-attn",
    "flash-attention": "flash-attn",
    "flashattn": "flash-attn",
    "bnb": "bitsandbytes",
}
# what each attn_implementation needs installed (flash_attention_3 is planned by flash-attn's planner)
_ATTN_NEEDS = {"flash_attention_2": "flash-attn", "flash_attention_3": "flash-attn", "xformers": "xformers"}


@dataclass
class Wants:
    torch: SpecifierSet | None = None  # user bound on the torch version
    torch_text: str | None = None  # as the user wrote it, for messages
    cuda: str | None = None  # "12.4": exactly this CUDA variant
    cpu: bool = False
    extensions: dict[str, str] = field(default_factory=dict)  # name -> why it is wanted
    stack: list[str] = field(default_factory=lambda: list(STACK))
    dropped: dict[str, str] = field(default_factory=dict)  # name -> why it is left out
    config: str | None = None  # the training config the wants came from
    rocm: str | None = None  # "6.4": a ROCm build of exactly this ROCm version (--backend rocm6.4)
    backend: str | None = None  # --backend as given, for messages
    # torch builds (version, variant) the index turned out not to have: planned around (live.py)
    excluded: frozenset[tuple[str, str]] = frozenset()
    channel: str = "stable"  # "test" (release candidates) or "nightly": a pre-release torch (--channel)
    flash_attn_3: bool = False  # the config asks for attn_implementation: flash_attention_3

    @property
    def asked(self) -> str:
        """How the user forced the build, for reasons: "--backend cu128", "--cuda 12.8", "--cpu"."""
        if self.backend:
            return f"--backend {self.backend}"
        return "--cpu" if self.cpu else f"--cuda {self.cuda}"

    @property
    def variant(self) -> str | None:
        """The variant the user forced: "cpu", "cu124", or None."""
        if self.cpu:
            return "cpu"
        if self.cuda:
            return "cu" + self.cuda.replace(".", "")
        return None


def parse_torch_bound(text: str) -> SpecifierSet:
    """``2.5`` -> ``==2.5.*``; ``2.5.1`` -> ``==2.5.1``; ``>=2.4,<2.6`` as written."""
    t = text.strip()
    spec = t if t[:1] in "<>=!~" else ("==" + t + ".*" if t.count(".") < 2 else "==" + t)
    try:
        return SpecifierSet(spec)
    except InvalidSpecifier:
        raise UserError(
            f"--torch {text}: not a version or bound; write e.g. --torch 2.5 or --torch '>=2.4,<2.6'"
        ) from None


def parse_cuda(text: str) -> str:
    """``12.4`` or ``cu124`` -> ``12.4``."""
    import re

    t = text.strip().lower()
    m = re.fullmatch(r"(?:cu)?(\d{2})\.?(\d)", t) or re.fullmatch(r"(\d+)\.(\d+)", t)
    if not m:
        raise UserError(f"--cuda {text}: write the CUDA version as 12.4 (or cu124)")
    return f"{int(m.group(1))}.{m.group(2)}"


def _names(option: str, items: list[str]) -> list[str]:
    """``--with xformers,flash-attn`` (repeatable, comma separated), groups expanded."""
    out: list[str] = []
    known = set(EXTENSIONS) | set(STACK)
    for item in items:
        for raw in item.split(","):
            name = raw.strip().lower()
            if not name:
                continue
            name = _ALIASES.get(name, name)
            if name in GROUPS:
                out.extend(GROUPS[name])
            elif name in known:
                out.append(name)
            else:
                import difflib

                near = difflib.get_close_matches(name, [*known, *GROUPS], n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                raise UserError(
                    f"{option} {raw.strip()}: unknown package{hint} (known: {', '.join(sorted(known))}; groups: hf, stack, extensions, all)"
                )
    return list(dict.fromkeys(out))


def from_options(
    *,
    torch: str | None = None,
    cuda: str | None = None,
    cpu: bool = False,
    with_: list[str] | None = None,
    without: list[str] | None = None,
    config: str | None = None,
    minimal: bool = False,
    backend: str | None = None,
    channel: str = "stable",
) -> Wants:
    """Wants from the ``doctor install`` options (the config, when given, is loaded here)."""
    if cpu and cuda:
        raise UserError("--cpu and --cuda contradict each other; give one of them")
    rocm = None
    if backend is not None:
        if cpu or cuda:
            raise UserError("--backend and --cpu/--cuda say the same thing twice; give one of them")
        cpu, cuda, rocm = parse_backend(backend)
    wants = Wants(cpu=cpu, rocm=rocm, backend=backend.strip().lower() if backend else None, channel=channel)
    if torch:
        wants.torch, wants.torch_text = parse_torch_bound(torch), torch
    if cuda:
        wants.cuda = parse_cuda(cuda)
    if config:
        wants.config = config
        add_config_needs(wants, _load_config(config), source=config)
    for name in _names("--with", with_ or []):
        if name in EXTENSIONS:
            wants.extensions.setdefault(name, "--with " + name)
        elif name not in wants.stack:
            wants.stack.append(name)
    if minimal:
        for name in wants.stack:
            wants.dropped[name] = "--minimal"
        wants.stack = []
    for name in _names("--without", without or []):
        if name in wants.extensions:
            why = wants.extensions.pop(name)
            wants.dropped[name] = f"--without {name} (overrides {why})"
        elif name in wants.stack:
            wants.stack.remove(name)
            wants.dropped[name] = f"--without {name}"
    return wants


def parse_backend(text: str) -> tuple[bool, str | None, str | None]:
    """``--backend``, as uv's ``--torch-backend`` names builds: ``auto`` (what the machine needs),
    ``cpu``, ``cu128`` (a CUDA variant) or ``rocm6.4``. Returns (cpu, cuda, rocm)."""
    value = text.strip().lower()
    if value == "auto":
        return False, None, None
    if value == "cpu":
        return True, None, None
    m = re.fullmatch(r"cu(\d{2})(\d)", value)
    if m:
        return False, parse_cuda(f"{m.group(1)}.{m.group(2)}"), None
    m = re.fullmatch(r"rocm(\d+\.\d+)", value)
    if m:
        return False, None, m.group(1)
    raise UserError(
        f"--backend {text!r}: give auto, cpu, a CUDA variant like cu128, or a ROCm one like rocm6.4"
    )


def _load_config(path: str) -> TrainConfig:
    from loradoc.config.load import load_config  # here, not above: only --config needs it

    return load_config(path)


def add_config_needs(wants: Wants, cfg: Any, *, source: str) -> None:
    """Add what a training config's attention, quantisation and tracking keys need."""
    from loradoc.doctor.rules.context import config_attention

    asked = config_attention(cfg)  # attn_implementation, or a legacy Axolotl flag that asked
    if asked and asked[0] in _ATTN_NEEDS:
        impl, legacy_key = asked
        key = f"{legacy_key}: true" if legacy_key else f"attn_implementation: {impl}"
        wants.extensions.setdefault(_ATTN_NEEDS[impl], f"{source}: {key}")
        wants.flash_attn_3 = impl == "flash_attention_3"
    for key in ("load_in_4bit", "load_in_8bit"):
        if getattr(cfg, key, None):
            wants.extensions.setdefault("bitsandbytes", f"{source}: {key}: true")
    if str(getattr(cfg, "adapter", "") or "").lower() == "qlora":
        wants.extensions.setdefault("bitsandbytes", f"{source}: adapter: qlora")
    if not getattr(cfg, "wandb_project", None) and "wandb" in wants.stack:
        wants.stack.remove("wandb")
        wants.dropped["wandb"] = f"{source} sets no wandb_project"
