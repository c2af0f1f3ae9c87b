"""Build the tiny Llama base model of the embedded example (``examples/tiny``).

Everything comes from text in the repository: a byte-level BPE tokenizer is
trained on the corpus, a small ``LlamaForCausalLM`` is initialised from a seed,
and a short plain-torch pretraining loop teaches it English-ish prose. The
result is saved with ``save_pretrained`` (safetensors) and a ``build_info.json``
whose ``build_hash`` covers the corpus, the spec and this file: a second build
with the same inputs reuses the folder instead of training again.

Same seed, same inputs, same thread count: same weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

BUILD_INFO = "build_info.json"
BOS, EOS, PAD = "<s>", "</s>", "<pad>"

# A plain role-tagged template: enough for `chat_template` datasets to render.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass(frozen=True)
class TinyBaseSpec:
    """Shape and pretraining budget of the tiny base model."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 1024
    block_size: int = 128
    batch_size: int = 8
    steps: int = 300
    learning_rate: float = 4e-3
    warmup_steps: int = 20
    weight_decay: float = 0.1
    seed: int = 1234
    threads: int = 2


@dataclass
class BuildResult:
    """What ``build_tiny_base`` did."""

    out_dir: Path
    build_hash: str
    reused: bool
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


Log = Callable[[str], None]


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The ``*.txt`` files of the corpus, sorted by name; a UserError when there are none."""
    if not corpus_dir.is_dir():
        raise UserError(f"{corpus_dir}: corpus folder not found (pass --corpus DIR with *.txt files)")
    files = sorted(p for p in corpus_dir.glob("*.txt") if p.is_file())
    if not files:
        raise UserError(f"{corpus_dir}: no *.txt files to build the tokenizer and model from")
    return files


def _text_bytes(path: Path) -> bytes:
    """A text file's bytes with CRLF read as LF (a checkout with ``core.autocrlf`` hashes the same)."""
    return path.read_bytes().replace(b"\r\n", b"\n")


def build_hash(spec: TinyBaseSpec, files: Sequence[Path]) -> str:
    """Hash of everything that decides the weights: spec, corpus bytes, this builder's source.

    File names (not paths), contents and the spec only: no absolute path, mtime or
    library version, so the build committed under ``examples/tiny/model`` is up to date
    in any clone. Any edit to this file, comments included, makes it stale.
    """
    h = hashlib.sha256()
    h.update(json.dumps(asdict(spec), sort_keys=True).encode())
    for path in files:
        h.update(path.name.encode() + b"\0")
        h.update(hashlib.sha256(_text_bytes(path)).digest())
    h.update(_text_bytes(Path(__file__)))
    return h.hexdigest()[:16]


def existing_build_hash(out_dir: Path) -> str | None:
    """The ``build_hash`` recorded in ``out_dir``, or None when there is no complete build."""
    info_path = out_dir / BUILD_INFO
    if not info_path.is_file() or not (out_dir / "model.safetensors").is_file():
        return None
    try:
        value = json.loads(info_path.read_text()).get("build_hash")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, str) else None


def read_documents(files: Sequence[Path]) -> list[str]:
    """One document per file, with whitespace at the ends trimmed."""
    return [p.read_text(encoding="utf-8").strip() for p in files]


def train_tokenizer(documents: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (digits split) wrapped for transformers, adding ``<s>`` in front."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(documents, trainer=trainer)
    bos_id = backend.token_to_id(BOS)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=TinyBaseSpec.max_positions,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_model(spec: TinyBaseSpec, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """A freshly initialised tiny Llama (seed it before calling)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = 64 * math.ceil(len(tokenizer) / 64)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return LlamaForCausalLM(config)


def _token_stream(tokenizer: PreTrainedTokenizerFast, documents: Sequence[str]) -> list[int]:
    """All documents as one stream: ``<s> doc </s> <s> doc </s> ...``."""
    stream: list[int] = []
    for doc in documents:
        for paragraph in doc.split("\n\n"):
            stream += tokenizer(paragraph.strip())["input_ids"] + [tokenizer.eos_token_id]
    return stream


def _lr_at(step: int, spec: TinyBaseSpec) -> float:
    if step < spec.warmup_steps:
        return spec.learning_rate * (step + 1) / spec.warmup_steps
    progress = (step - spec.warmup_steps) / max(1, spec.steps - spec.warmup_steps)
    return spec.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(model: LlamaForCausalLM, stream: list[int], spec: TinyBaseSpec, log: Log) -> list[float]:
    """Full-parameter next-token training on random windows of ``stream``; returns the loss per step."""
    import torch

    data = torch.tensor(stream, dtype=torch.long)
    window = min(spec.block_size, len(stream) - 1)
    if window < 8:
        raise UserError(f"the corpus is too small to pretrain on ({len(stream)} tokens)")
    gen = torch.Generator().manual_seed(spec.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.learning_rate,
        betas=(0.9, 0.95),
    )
    model.train()
    model.config.use_cache = False
    losses: list[float] = []
    every = max(1, spec.steps // 8)
    for step in range(spec.steps):
        starts = torch.randint(0, len(stream) - window + 1, (spec.batch_size,), generator=gen)
        batch = torch.stack([data[s : s + window] for s in starts.tolist()])
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, spec)
        out = model(input_ids=batch, labels=batch, use_cache=False)  # the model shifts the labels
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(out.loss.detach()))
        if step % every == 0 or step == spec.steps - 1:
            log(f"  step {step + 1:4d}/{spec.steps}  loss {losses[-1]:.3f}")
    model.config.use_cache = True
    model.eval()
    return losses


@contextlib.contextmanager
def _torch_settings(threads: int) -> Iterator[None]:
    """Fixed thread count and deterministic kernels for the build; restored afterwards."""
    import torch

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def greedy_text(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, prompt: str, n: int = 24) -> str:
    """Greedy continuation of ``prompt`` (a smoke test that the model speaks)."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=n,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def _prepare_out_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not a previous tiny build."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / BUILD_INFO).is_file():
        raise UserError(f"{out_dir}: exists and is not a tiny base build; choose another --out or remove it")


def _save_atomically(
    out_dir: Path, model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, info: dict[str, Any]
) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_tiny_base(
    out_dir: str | os.PathLike[str],
    corpus_dir: str | os.PathLike[str],
    spec: TinyBaseSpec | None = None,
    *,
    force: bool = False,
    log: Log = print,
) -> BuildResult:
    """Build (or reuse) the tiny base model in ``out_dir`` from the ``*.txt`` files in ``corpus_dir``."""
    spec = spec or TinyBaseSpec()
    out, corpus = Path(out_dir), Path(corpus_dir)
    files = corpus_files(corpus)
    digest = build_hash(spec, files)
    if not force and existing_build_hash(out) == digest:
        log(f"reusing the tiny base model in {out} (build {digest} is up to date)")
        info = json.loads((out / BUILD_INFO).read_text())
        return BuildResult(out, digest, True, 0.0, info)
    _prepare_out_dir(out)

    import torch

    t0 = time.perf_counter()
    with _torch_settings(spec.threads):
        documents = read_documents(files)
        tokenizer = train_tokenizer(documents, spec.vocab_size)
        stream = _token_stream(tokenizer, documents)
        torch.manual_seed(spec.seed)
        model = make_model(spec, tokenizer)
        n_params = sum(p.numel() for p in model.parameters())
        log(
            f"building the tiny base model: {len(files)} corpus files, {len(stream)} tokens, "
            f"vocab {len(tokenizer)}, {n_params / 1e6:.2f}M parameters, {spec.steps} steps"
        )
        losses = pretrain(model, stream, spec, log)
        sample = greedy_text(model, tokenizer, "The")
    seconds = time.perf_counter() - t0
    info = {
        "build_hash": digest,
        "spec": asdict(spec),
        "corpus_files": [p.name for p in files],
        "corpus_tokens": len(stream),
        "parameters": n_params,
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
        "seconds": round(seconds, 1),
        "sample": "The" + sample,
        "torch": torch.__version__,
    }
    _save_atomically(out, model, tokenizer, info)
    log(f"loss {losses[0]:.2f} -> {losses[-1]:.2f} in {seconds:.1f}s; saved to {out}")
    log(f"sample: The{sample}")
    return BuildResult(out, digest, False, seconds, info)


def with_steps(spec: TinyBaseSpec, steps: int) -> TinyBaseSpec:
    """The same spec with another step budget (warmup capped to fit)."""
    if steps < 1:
        raise UserError(f"--steps must be at least 1 (got {steps})")
    return replace(spec, steps=steps, warmup_steps=min(spec.warmup_steps, max(1, steps // 4)))
