"""Datasets encoded by mistral-common's own tokenizer (``tokenizer_use_mistral_common: true``).

mistral-common encodes a conversation message by message into tokens and never reads control
tokens from text, so the offset mapping that masks prompts for every other tokenizer does not
exist here. These formats tokenize themselves instead (``TokenFormat.encode``):

- ``chat_template``/``sharegpt`` rows: the whole conversation is encoded once, in mistral-common's
  fine-tuning mode (through transformers' ``MistralCommonBackend.apply_chat_template``), and each
  assistant reply is labelled where mistral-common's encoding of that reply (its text and the EOS
  that ends it) sits in those tokens, found in order. A reply that cannot be found is refused
  rather than mislabelled.
- ``completion`` rows: BOS, the text and EOS, every token trained.

mistral-common decides where the system prompt goes (with the last user message before v7) and
how each turn opens, so the tokens are the ones its own inference path produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loradoc.errors import UserError, first_line
from loradoc.train.data.prompts import (
    IGNORE,
    SUPPORTED_TYPES,
    CompletionFormat,
    MessageRows,
    PromptFormat,
    RowProblem,
    TokenFormat,
    message_rows_options,
)

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec

KEY = "tokenizer_use_mistral_common"
MIN_VERSION = "1.11.5"  # what transformers 5's MistralCommonBackend needs
INSTALL = f"pip install 'mistral-common>={MIN_VERSION}'"
# what the formats below accept, for the refusal of every other type
MISTRAL_TYPES = ("chat_template", "sharegpt", "completion")


def is_mistral_common(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` is transformers' wrapper of a mistral-common tokenizer."""
    return type(tokenizer).__name__ == "MistralCommonBackend"


def package_problem() -> str | None:
    """Why mistral-common cannot serve here (not installed, too old), without importing it; None: it can."""
    from importlib import metadata

    from packaging.version import Version

    try:
        installed = metadata.version("mistral-common")
    except metadata.PackageNotFoundError:
        return "the mistral-common package is not installed"
    if Version(installed) < Version(MIN_VERSION):
        return f"mistral-common {installed} is installed; transformers needs {MIN_VERSION} or newer"
    return None


def load_mistral_tokenizer(source: str, *, revision: str | None) -> Any:
    """The mistral-common tokenizer of ``source`` (a folder with tekken.json or tokenizer.model.vN,
    or a hub id), in fine-tuning mode: each assistant reply ends with EOS."""
    problem = package_problem()
    if problem:
        raise UserError(
            f"{KEY}: {problem}: {INSTALL} (or remove the key to use the repository's tokenizer.json)"
        )
    from transformers.tokenization_mistral_common import MistralCommonBackend

    return MistralCommonBackend.from_pretrained(source, mode="finetuning", revision=revision or "main")


def _find(tokens: list[int], piece: list[int], start: int) -> int:
    """Where ``piece`` first occurs in ``tokens`` at or after ``start`` (-1: nowhere)."""
    n = len(piece)
    if n == 0:
        return -1
    first = piece[0]
    for at in range(start, len(tokens) - n + 1):
        if tokens[at] == first and tokens[at : at + n] == piece:
            return at
    return -1


@dataclass(kw_only=True)
class MistralChatFormat(MessageRows, TokenFormat):
    """Conversations encoded by mistral-common; assistant replies (with their EOS) are trained."""

    tokenizer: Any = field(repr=False)
    name = "chat_template"

    def identity(self) -> str:
        return "mistral-chat/" + "|".join(self.rows_identity())

    def encode(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> tuple[list[int], list[int]]:
        from mistral_common.protocol.instruct.messages import AssistantMessage

        msgs = self.messages(row)
        try:
            encoded = self.tokenizer.apply_chat_template(msgs, tokenize=True, return_dict=True)
        except Exception as exc:  # mistral-common validates the conversation (roles, order, last message)
            raise RowProblem(f"mistral-common cannot encode this conversation: {first_line(exc)}") from exc
        ids = [int(t) for t in encoded["input_ids"]]
        if train_on_inputs:
            labels = list(ids)
        else:
            labels = [IGNORE] * len(ids)
            instruct = self.tokenizer.tokenizer.instruct_tokenizer
            last_user = max((i for i, m in enumerate(msgs) if m["role"] == "user"), default=-1)
            cursor = 0
            for i, msg in enumerate(msgs):
                if msg["role"] != "assistant":
                    continue
                piece = instruct.encode_assistant_message(
                    AssistantMessage(content=msg["content"]), is_before_last_user_message=i < last_user
                )
                at = _find(ids, list(piece), cursor)
                if at < 0:
                    raise RowProblem(
                        f"message {i + 1}: mistral-common's tokens for this reply are not in its tokens for "
                        "the conversation, so the reply cannot be labelled"
                    )
                labels[at : at + len(piece)] = ids[at : at + len(piece)]
                cursor = at + len(piece)
        if labels:
            labels[0] = IGNORE  # nothing predicts an example's first token (packing relies on it)
        return ids, labels


@dataclass(kw_only=True)
class MistralTextFormat(TokenFormat):
    """``completion`` rows encoded by mistral-common: BOS, the text, EOS; every token trained."""

    text: CompletionFormat
    tokenizer: Any = field(repr=False)
    name = "completion"

    @property
    def needs(self) -> str:  # type: ignore[override]
        return self.text.needs

    def identity(self) -> str:
        return "mistral-" + self.text.identity()

    def encode(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> tuple[list[int], list[int]]:
        text = self.text.render(row, train_on_inputs=True).text
        ids = [int(t) for t in self.tokenizer.encode(text, add_special_tokens=True)]
        labels = list(ids)
        if labels:
            labels[0] = IGNORE
        return ids, labels


def refuse_chat_template(key: str, name: str | None, jinja: str | None) -> None:
    """A chat template set where mistral-common encodes the conversations: one line naming ``key``."""
    if name not in (None, "tokenizer_default") or jinja:
        raise UserError(
            f"{key}: mistral-common encodes conversations itself, without a chat template; "
            f"remove {key.rsplit('.', 1)[-1]} or {KEY}"
        )


def mistral_format_for(spec: DatasetSpec, *, where: str, tokenizer: Any) -> PromptFormat:
    """The format for one ``datasets[]`` entry when the tokenizer is mistral-common's."""
    kind = str(spec.type or "").strip()
    if kind == "completion":
        return MistralTextFormat(text=CompletionFormat(str(spec.field or "text")), tokenizer=tokenizer)
    if kind not in SUPPORTED_TYPES:
        problem = "is missing" if not kind else f"'{kind}' is not supported by loradoc"
        raise UserError(f"{where}.type {problem} (one of: {', '.join(SUPPORTED_TYPES)})")
    if kind not in ("chat_template", "sharegpt"):
        raise UserError(
            f"{where}.type: '{kind}' with {KEY}: loradoc encodes {', '.join(MISTRAL_TYPES)} rows with "
            "mistral-common's tokenizer; convert the rows to a messages list (chat_template), or remove "
            f"{KEY} to use the repository's tokenizer.json"
        )
    refuse_chat_template(f"{where}.chat_template", spec.chat_template, spec.chat_template_jinja)
    if spec.train_on_eot not in (None, "turn"):
        raise UserError(
            f"{where}.train_on_eot: with {KEY} each assistant reply is trained with the EOS that ends "
            "it (train_on_eot: turn); remove the key"
        )
    options = message_rows_options(spec, where, sharegpt=kind == "sharegpt")
    if options["roles_to_train"] != ("assistant",):
        raise UserError(
            f"{where}.roles_to_train: with {KEY} loradoc trains assistant replies only (or every token "
            "with train_on_inputs: true); remove the key"
        )
    return MistralChatFormat(tokenizer=tokenizer, **options)
