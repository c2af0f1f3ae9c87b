"""Before/after samples: what the base model and the adapted model answer to held-out prompts.

``sample_before_after`` decodes greedily twice per prompt, once inside peft's
``disable_adapter()`` (the base model) and once with the adapter on, and leaves
the model as it found it (training mode, ``config.use_cache``). Packing runs
with ``use_cache=False``; generation turns the cache on only for its own calls.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loradoc.fsutil import write_atomic


@dataclass(frozen=True)
class SampleResult:
    """One held-out prompt with the base model's and the adapted model's answers."""

    prompt: str
    before: str
    after: str
    expected: str | None = None


@contextlib.contextmanager
def peft_wrap_quietly() -> Iterator[None]:
    """Around peft's wrapping of a transformers model (``PeftModel(...)``, ``get_peft_model``).

    peft (0.21) reads ``model.is_gradient_checkpointing`` inside ``PeftModel.__init__``, a
    property transformers 5 deprecated for ``is_activation_checkpointing``: the FutureWarning
    is about peft's call, not the caller's, so exactly that one is filtered, here only.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def load_adapter(base: Any, adapter_dir: str | os.PathLike[str]) -> Any:
    """``PeftModel.from_pretrained(base, adapter_dir)`` (see ``peft_wrap_quietly``)."""
    from peft import PeftModel

    with peft_wrap_quietly():
        return PeftModel.from_pretrained(base, str(adapter_dir))


def _configs(model: Any) -> list[Any]:
    """The config objects whose ``use_cache`` generation may read (peft wrapper and base model)."""
    found: list[Any] = []
    candidates = [getattr(model, "config", None)]
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        candidates.append(getattr(get_base(), "config", None))
    for cfg in candidates:
        if cfg is not None and hasattr(cfg, "use_cache") and all(cfg is not f for f in found):
            found.append(cfg)
    return found


@contextlib.contextmanager
def _generation_mode(model: Any) -> Iterator[None]:
    """Eval mode with the KV cache on; training mode and ``use_cache`` restored afterwards."""
    was_training = bool(model.training)
    configs = _configs(model)
    saved = [cfg.use_cache for cfg in configs]
    model.eval()
    for cfg in configs:
        cfg.use_cache = True
    try:
        yield
    finally:
        for cfg, value in zip(configs, saved, strict=True):
            cfg.use_cache = value
        model.train(was_training)


def _generate(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    import torch

    device = next(model.parameters()).device
    # a prompt rendered by a chat template may already start with <s>: do not add a second one
    bos = getattr(tokenizer, "bos_token", None)
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=not (bos and prompt.startswith(bos)))
    input_ids = enc["input_ids"].to(device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    kwargs: dict[str, Any] = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "num_beams": 1,
        "pad_token_id": pad_id,
    }
    generation_config = getattr(model, "generation_config", None)
    if getattr(generation_config, "eos_token_id", None) is None and tokenizer.eos_token_id is not None:
        kwargs["eos_token_id"] = tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(**kwargs)
    new_tokens = out[0, input_ids.shape[1] :]
    return str(tokenizer.decode(new_tokens, skip_special_tokens=True)).strip()


def prompts_from_rows(fmt: Any, rows: Iterable[Mapping[str, Any]], limit: int) -> tuple[list[str], list[str]]:
    """Up to ``limit`` (prompt, expected answer) pairs from raw rows, in the run's prompt format.

    ``fmt`` is the dataset's ``PromptFormat``. Each row is rendered as for training
    with ``train_on_inputs=False``; the prompt is the text before the first
    supervised span and the expected answer is that span. Rows that do not render,
    and rows with nothing before the answer (``completion`` data), are skipped.
    """
    from loradoc.train.data.prompts import RowProblem

    prompts: list[str] = []
    expected: list[str] = []
    for row in rows:
        if len(prompts) >= limit:
            break
        try:
            rendered = fmt.render(row, train_on_inputs=False)
        except RowProblem:
            continue
        if not rendered.spans or rendered.spans[0][0] == 0:
            continue
        start, end = rendered.spans[0]
        prompts.append(rendered.text[:start])
        expected.append(rendered.text[start:end].strip())
    return prompts, expected


def sample_before_after(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    expected: Sequence[str | None] | None = None,
    max_new_tokens: int = 48,
) -> list[SampleResult]:
    """Greedy answers to each (already formatted) prompt, without and with the adapter.

    ``model`` must be a peft model (it needs ``disable_adapter()``). ``expected``,
    when given, holds the reference answer for each prompt and is carried into the
    results for the report.
    """
    if not callable(getattr(model, "disable_adapter", None)):
        raise TypeError("sample_before_after needs a peft model (one with disable_adapter())")
    refs: list[str | None] = list(expected) if expected is not None else [None] * len(prompts)
    if len(refs) != len(prompts):
        raise ValueError(f"expected has {len(refs)} entries for {len(prompts)} prompts")
    if not prompts:
        return []
    with _generation_mode(model):
        with model.disable_adapter():
            before = [_generate(model, tokenizer, p, max_new_tokens) for p in prompts]
        after = [_generate(model, tokenizer, p, max_new_tokens) for p in prompts]
    return [
        SampleResult(prompt=p, before=b, after=a, expected=e)
        for p, b, a, e in zip(prompts, before, after, refs, strict=True)
    ]


def _fence(text: str) -> str:
    """A fenced block that survives backticks inside ``text``."""
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}text\n{text}\n{ticks}"


def format_samples_markdown(results: Sequence[SampleResult]) -> str:
    """The samples as a markdown document (what ``write_samples_md`` writes)."""
    lines = ["# Before/after samples", ""]
    lines.append("Greedy decoding on held-out prompts: *before* is the base model (adapter disabled),")
    lines.append("*after* is the same model with the trained adapter.")
    for i, r in enumerate(results, 1):
        lines += ["", f"## Sample {i}", "", "**Prompt**", "", _fence(r.prompt)]
        if r.expected is not None:
            lines += ["", "**Expected**", "", _fence(r.expected)]
        lines += ["", "**Before**", "", _fence(r.before), "", "**After**", "", _fence(r.after)]
    return "\n".join(lines) + "\n"


def format_samples_text(results: Sequence[SampleResult], *, width: int = 100) -> str:
    """A compact plain-text rendering for the terminal."""

    def one_line(text: str) -> str:
        flat = text.strip().replace("\n", " | ")
        return flat if len(flat) <= width else flat[: width - 3] + "..."

    def prompt_tail(text: str) -> str:
        # the end of a prompt is what differs between prompts (the head is a shared preamble)
        flat = " ".join(text.split())
        return flat if len(flat) <= width else "..." + flat[-(width - 3) :]

    lines: list[str] = []
    for i, r in enumerate(results, 1):
        lines.append(f"sample {i}: {prompt_tail(r.prompt)}")
        if r.expected is not None:
            lines.append(f"  expected: {one_line(r.expected)}")
        lines.append(f"  before:   {one_line(r.before)}")
        lines.append(f"  after:    {one_line(r.after)}")
    return "\n".join(lines)


def write_samples_md(results: Sequence[SampleResult], path: str | os.PathLike[str]) -> Path:
    """Write the samples as markdown to ``path`` atomically; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(target, format_samples_markdown(results))
