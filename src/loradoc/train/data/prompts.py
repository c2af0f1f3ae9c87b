"""Prompt formats: turn one dataset row into text plus the character spans to train on.

A format never tokenizes. It returns a :class:`Rendered` (the full text, the spans
of characters whose tokens carry labels, whether the tokenizer should add its BOS,
and whether the appended EOS is trained); ``data.encode_rendered`` maps spans to
tokens through the fast tokenizer's offset mapping, so the tokens are exactly the
ones the model sees when the same text is tokenized at inference.

Supported ``datasets[].type`` values (Axolotl spellings):

- ``alpaca``: ``instruction``, ``output``, optional ``input``; the prompt is masked
  unless ``train_on_inputs``.
- ``alpaca:chat`` / ``alpaca_chat``: the same fields in a ``USER:``/``ASSISTANT:`` layout.
- ``completion``: raw text in ``text`` (or ``field``); every token is trained.
- ``chat_template``: a list of messages (``field_messages``, default ``messages``, else
  ``conversations``), OpenAI ``role``/``content`` or ShareGPT ``from``/``value``
  (``message_property_mappings``), rendered with the chat template; only assistant
  turns are trained unless ``train_on_inputs``.
- ``sharegpt``: ``chat_template`` reading ``conversations`` with ``from``/``value``.

This module imports nothing heavy: the tokenizer is passed in (duck-typed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loradoc.config import vocab as V
from loradoc.config.vocab import DATASET_TYPES
from loradoc.errors import UserError
from loradoc.train.data.chat_templates import BUILTIN_CHAT_TEMPLATES

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec

T = TypeVar("T")

Span = tuple[int, int]
IGNORE = -100  # the label of a token that is not trained


class RowProblem(Exception):
    """A row that cannot be rendered; the caller adds the file and row number."""


@dataclass(frozen=True)
class Rendered:
    text: str
    spans: tuple[Span, ...]
    add_special_tokens: bool = True
    train_eos: bool = True


class PromptFormat:
    """Base class: ``render(row) -> Rendered`` (raises :class:`RowProblem`)."""

    name = "?"
    needs = "?"

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        raise NotImplementedError

    def identity(self) -> str:
        """Text that changes whenever the rendering changes (part of the data cache key)."""
        return self.name


def _text_field(row: Mapping[str, Any], key: str, needs: str, *, optional: bool = False) -> str:
    if key not in row or row[key] is None:
        if optional:
            return ""
        raise RowProblem(f"missing field '{key}' ({needs})")
    value = row[key]
    if not isinstance(value, str):
        raise RowProblem(f"field '{key}' must be text, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# --- alpaca -------------------------------------------------------------------------------

_ALPACA_WITH_INPUT = (
    "Below is a task instruction, together with input that gives it context. "
    "Write a response that fulfils the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
_ALPACA_NO_INPUT = (
    "Below is a task instruction. Write a response that fulfils the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
_ALPACA_CHAT_WITH_INPUT = "USER: {instruction}\n{input}\nASSISTANT: "
_ALPACA_CHAT_NO_INPUT = "USER: {instruction}\nASSISTANT: "


@dataclass
class AlpacaFormat(PromptFormat):
    style: str = "instruct"  # or "chat"
    name = "alpaca"
    needs = "alpaca needs instruction, output; input optional"

    def prompt(self, instruction: str, inp: str) -> str:
        if self.style == "chat":
            template = _ALPACA_CHAT_WITH_INPUT if inp else _ALPACA_CHAT_NO_INPUT
        else:
            template = _ALPACA_WITH_INPUT if inp else _ALPACA_NO_INPUT
        return template.format(instruction=instruction, input=inp)

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        instruction = _text_field(row, "instruction", self.needs)
        output = _text_field(row, "output", self.needs)
        inp = _text_field(row, "input", self.needs, optional=True)
        prompt = self.prompt(instruction, inp)
        text = prompt + output
        start = 0 if train_on_inputs else len(prompt)
        return Rendered(text, ((start, len(text)),))

    def identity(self) -> str:
        return f"alpaca/{self.style}/" + _digest(self.prompt("{i}", "{x}") + self.prompt("{i}", ""))


# --- completion ---------------------------------------------------------------------------


@dataclass
class CompletionFormat(PromptFormat):
    field_name: str = "text"
    name = "completion"

    @property
    def needs(self) -> str:  # type: ignore[override]
        return f"completion needs {self.field_name}"

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        text = _text_field(row, self.field_name, self.needs)
        return Rendered(text, ((0, len(text)),))

    def identity(self) -> str:
        return f"completion/{self.field_name}"


# --- chat ---------------------------------------------------------------------------------

DEFAULT_ROLE_NAMES: dict[str, str] = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "model": "assistant",
    "bot": "assistant",
    "tool": "tool",
}


class TokenFormat(PromptFormat):
    """A format that tokenizes itself, for a tokenizer without an offset mapping (mistral-common):
    ``encode(row) -> (input_ids, labels)``, labels ``IGNORE`` where untrained and on the first token."""

    def encode(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> tuple[list[int], list[int]]:
        raise NotImplementedError

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        raise RowProblem(f"{self.name} rows are encoded to tokens directly, not rendered as text")


# (messages, add_generation_prompt, index of the conversation's last message) -> text
Renderer = Callable[[list[dict[str, str]], bool, int], str]


@dataclass(kw_only=True)
class MessageRows(PromptFormat):
    """Reads a row's list of messages: where it is, the role/content keys, role names, system messages."""

    field_messages: str | None = None
    role_key: str | None = None
    content_key: str | None = None
    roles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_NAMES))
    roles_to_train: tuple[str, ...] = ("assistant",)
    drop_system_message: bool = False
    needs = "chat_template needs a list of messages"

    def rows_identity(self) -> list[str]:
        """What changes the messages read from a row (part of the data cache key)."""
        return [
            str(self.field_messages),
            str(self.role_key),
            str(self.content_key),
            repr(sorted(self.roles.items())),
            repr(self.roles_to_train),
            str(self.drop_system_message),
        ]

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, str]]:
        key = self.field_messages
        if key is None:
            key = (
                "messages" if "messages" in row else "conversations" if "conversations" in row else "messages"
            )
        raw = row.get(key)
        if raw is None:
            raise RowProblem(f"missing field '{key}' ({self.needs}; set field_messages to its name)")
        if not isinstance(raw, list):
            raise RowProblem(f"field '{key}' must be a list of messages, got {_kind(raw)}")
        out: list[dict[str, str]] = []
        for n, msg in enumerate(raw, start=1):
            if not isinstance(msg, Mapping):
                raise RowProblem(f"message {n} must be an object, got {_kind(msg)}")
            role_key = self.role_key or ("role" if "role" in msg else "from")
            content_key = self.content_key or ("content" if "content" in msg else "value")
            if role_key not in msg:
                raise RowProblem(f"message {n} has no '{role_key}' (set message_property_mappings.role)")
            if content_key not in msg:
                raise RowProblem(
                    f"message {n} has no '{content_key}' (set message_property_mappings.content)"
                )
            role_raw, content = msg[role_key], msg[content_key]
            if not isinstance(role_raw, str) or role_raw.lower() not in self.roles:
                known = ", ".join(sorted(self.roles))
                raise RowProblem(
                    f"message {n}: unknown role {role_raw!r} (known: {known}; map others with roles)"
                )
            if not isinstance(content, str):
                raise RowProblem(f"message {n}: '{content_key}' must be text, got {_kind(content)}")
            role = self.roles[role_raw.lower()]
            if role == "system" and self.drop_system_message:
                continue
            out.append({"role": role, "content": content})
        if not out:
            raise RowProblem(f"field '{key}' holds no messages")
        return out


@dataclass
class ChatFormat(MessageRows):
    """Messages rendered with a chat template; assistant turns found by rendering prefixes.

    For assistant turn ``i`` the trained span runs from the end of
    ``render(messages[:i], add_generation_prompt=True)`` to the end of
    ``render(messages[:i+1])``: the reply and the template's end-of-turn marker.
    Each prefix must be a literal prefix of the full rendering and the span must
    contain the reply; a template that breaks this is refused (it cannot be masked).

    ``eot_tokens`` (the config's ``eot_tokens``) are the end-of-turn token texts and
    ``train_on_eot`` (Axolotl's values) says which of them carry labels: the first one
    after each turn's text is found and trained per turn (``turn``, the default: what the
    span above holds anyway), after every turn (``all``), only after the last trained
    turn (``last``) or never (``none``).
    """

    renderer: Renderer
    template_id: str
    end_text: str | None = None  # the EOS token's text, which some templates write only at the end
    eot_tokens: tuple[str, ...] = ()
    train_on_eot: str = "turn"
    name = "chat_template"

    def identity(self) -> str:
        parts = [self.template_id, *self.rows_identity()]
        if self.eot_tokens:
            parts += [repr(self.eot_tokens), self.train_on_eot]
        return "chat/" + _digest("|".join(parts))

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        msgs = self.messages(row)
        full = self._render(msgs, False, len(msgs) - 1)
        if train_on_inputs:
            return Rendered(full, ((0, len(full)),), add_special_tokens=False)
        spans: list[Span] = []
        eots: list[tuple[Span, bool]] = []  # each turn's end-of-turn token, and whether the turn is trained
        for i, msg in enumerate(msgs):
            trained = msg["role"] in self.roles_to_train
            span = self._turn_span(msgs, i, full) if trained else None
            if span is not None:
                spans.append(span)
            if self.eot_tokens and (trained or self.train_on_eot == "all"):
                eot = self._eot_after(msgs, i, full, span)
                if eot is not None:
                    eots.append((eot, trained))
        spans = _eot_labels(spans, eots, self.train_on_eot)
        train_eos = bool(msgs) and msgs[-1]["role"] in self.roles_to_train
        return Rendered(full, tuple(spans), add_special_tokens=False, train_eos=train_eos)

    def _render(self, msgs: list[dict[str, str]], add_generation_prompt: bool, last: int) -> str:
        """``msgs`` (a prefix of a conversation whose final message is number ``last``) as text."""
        try:
            return self.renderer(msgs, add_generation_prompt, last)
        except Exception as exc:  # jinja raises its own errors for unsupported orderings
            raise RowProblem(f"the chat template failed on this conversation: {exc}") from exc

    def _upto(self, msgs: list[dict[str, str]], i: int, full: str) -> str | None:
        """The rendering of turns ``0..i`` as a prefix of ``full`` (None when it is not one)."""
        return _without_trailer(self._render(msgs[: i + 1], False, len(msgs) - 1), full, self.end_text)

    def _turn_span(self, msgs: list[dict[str, str]], i: int, full: str) -> Span:
        content = msgs[i]["content"]
        upto = self._upto(msgs, i, full)
        if upto is None:
            raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
        before = self._render(msgs[:i], True, len(msgs) - 1) if i > 0 else ""
        if i > 0 and full.startswith(before) and len(before) <= len(upto):
            start = len(before)
        else:
            # the generation prompt differs from how the template opens a stored turn:
            # train from the reply itself, found after the previous turns.
            plain = (
                _without_trailer(self._render(msgs[:i], False, len(msgs) - 1), full, self.end_text)
                if i > 0
                else ""
            )
            if plain is not None:
                found = full.find(content, len(plain), len(upto)) if content else len(upto)
            else:  # the template writes earlier turns differently once more follow (Mistral's system
                # message goes with the last user turn): the reply is the last thing before the turn ends
                found = full.rfind(content.strip(), 0, len(upto)) if content.strip() else -1
            if found < 0:
                raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
            start = found
        if content and content.strip() not in full[start : len(upto)]:
            raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
        return (start, len(upto))

    def _eot_after(self, msgs: list[dict[str, str]], i: int, full: str, span: Span | None) -> Span | None:
        """Where the first end-of-turn token after turn ``i``'s text is, within the turn (None: not found)."""
        upto = self._upto(msgs, i, full) if span is None else full[: span[1]]
        if upto is None:
            return None
        text = msgs[i]["content"].strip()
        found = full.rfind(text, span[0] if span else 0, len(upto)) if text else -1
        if found >= 0:
            after = found + len(text)
        elif span is not None:
            after = span[0]
        else:
            return None
        hits = [(full.find(t, after, len(upto)), t) for t in self.eot_tokens]
        hits = [(at, t) for at, t in hits if at >= 0 and at + len(t) <= len(upto)]
        if not hits:
            return None
        at, token = min(hits)
        return (at, at + len(token))


def _eot_labels(spans: list[Span], eots: list[tuple[Span, bool]], mode: str) -> list[Span]:
    """The trained spans once ``train_on_eot`` is applied to the end-of-turn tokens found.

    turn: the token after each trained turn is trained (it already is where the turn's span holds it);
    all: after every turn; none: never; last: only after the last trained turn.
    """
    if not eots:
        return spans
    if mode == "turn":
        return _merge(spans + [eot for eot, trained in eots if trained])
    if mode == "all":
        return _merge(spans + [eot for eot, _ in eots])
    kept = _subtract(spans, [eot for eot, _ in eots])
    after_trained = [eot for eot, trained in eots if trained]
    if mode == "last" and after_trained:
        kept.append(max(after_trained))
    return _merge(kept)


def _merge(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _subtract(spans: list[Span], cuts: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in spans:
        pieces = [(a, b)]
        for c, d in cuts:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[0] < p[1]]
        out.extend(pieces)
    return out


def _without_trailer(prefix: str, full: str, end_text: str | None) -> str | None:
    """``prefix`` as a literal prefix of ``full``; a template that writes ``end_text`` (the EOS
    token) only after the last turn is allowed: that closing text is cut. Else None."""
    if full.startswith(prefix):
        return prefix
    if end_text:
        body = prefix.rstrip()
        if body.endswith(end_text):
            body = body[: -len(end_text)]
            if full.startswith(body) and full.rstrip().endswith(end_text):
                return body
    return None


_NOT_PREFIX = (
    "the chat template does not render this conversation prefix by prefix (turn {turn}), so its "
    "assistant turns cannot be masked; set train_on_inputs: true or use another chat_template"
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --- chat templates -----------------------------------------------------------------------

TOKENIZER_DEFAULT = V.TOKENIZER_DEFAULT


def resolve_chat_template(
    name: str | None, tokenizer: Any, *, jinja: str | None = None, say: Callable[[str], None] = print
) -> str:
    """The Jinja text to render chats with.

    ``jinja`` (``chat_template_jinja``: the text, or a file holding it) wins; then an inline
    template in ``chat_template``; then, by name (:mod:`loradoc.config.vocab` lists the decision
    for each): the tokenizer's own template (``tokenizer_default`` or unset), the tokenizer's own
    else a named one (``tokenizer_default_fallback_NAME``, said in one line when it falls back),
    a template built into loradoc (:mod:`loradoc.train.data.chat_templates`), or a refusal that
    points to ``chat_template_jinja``.
    """
    if jinja:
        if "{" not in jinja and "\n" not in jinja:  # a file holding the template
            path = Path(jinja).expanduser()
            if not path.is_file():
                raise UserError(
                    f"chat_template_jinja: {jinja}: no such file (give the Jinja text or a file path)"
                )
            return path.read_text(encoding="utf-8")
        return jinja
    if name == "jinja":
        raise UserError(
            "chat_template: jinja needs the template in chat_template_jinja (its text or a file path)"
        )
    if name and ("{%" in name or "{{" in name):
        return name
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    if name and name.startswith(V.CHAT_TEMPLATE_FALLBACK_PREFIX):
        if own:
            return str(own)
        fallback = name.removeprefix(V.CHAT_TEMPLATE_FALLBACK_PREFIX)
        template = _named_template(fallback, label=f"chat_template: {name}")
        say(f"chat template: the tokenizer has none of its own; using {fallback} ({name})")
        return template
    if name and name != TOKENIZER_DEFAULT:
        return _named_template(name, label=f"chat_template: {name}")
    if not own:
        raise UserError(
            "chat_template: the tokenizer has no chat template of its own; set chat_template to a template "
            "name (e.g. chatml or llama3; see docs/config.md), or give the Jinja text in chat_template_jinja"
        )
    return str(own)


def _named_template(name: str, *, label: str) -> str:
    if name in BUILTIN_CHAT_TEMPLATES:
        return BUILTIN_CHAT_TEMPLATES[name]
    if name in V.CHAT_TEMPLATE_REFUSED:
        raise UserError(f"not supported: {label} ({V.CHAT_TEMPLATE_REFUSED[name]})")
    raise UserError(
        f"{label}: not a chat template name loradoc knows (see docs/config.md); use tokenizer_default, "
        "or give the Jinja text in chat_template_jinja"
    )


def template_renderer(tokenizer: Any, template: str) -> Renderer:
    def render(msgs: list[dict[str, str]], add_generation_prompt: bool, last: int) -> str:
        text = tokenizer.apply_chat_template(
            msgs,
            chat_template=template,
            add_generation_prompt=add_generation_prompt,
            tokenize=False,
            real_last_index=last,
        )
        return str(text)

    return render


def eot_tokens_for(
    template: str, tokenizer: Any, eot_tokens: list[str] | None, *, say: Callable[[str], None] = print
) -> tuple[str, ...]:
    """The config's ``eot_tokens`` checked against the template and the tokenizer (as Axolotl does).

    A token the template never writes is dropped, with a line; one the tokenizer splits into
    several tokens is an error (add it under ``tokens``). Unset: none (the EOS token, Axolotl's
    default, is trained per turn already).
    """
    out: list[str] = []
    for token in eot_tokens or []:
        if not isinstance(token, str) or not token:
            raise UserError(f"eot_tokens: {token!r} is not a token (give the end-of-turn token texts)")
        by_name = any(
            getattr(tokenizer, attr, None) == token and attr in template
            for attr in ("eos_token", "bos_token")
        )
        if token not in template and not by_name:
            say(f"eot_tokens: '{token}' does not occur in the chat template; it is not used")
            continue
        ids = tokenizer.encode(token, add_special_tokens=False)
        if len(ids) != 1:
            raise UserError(
                f"eot_tokens: '{token}' is {len(ids)} tokens for this tokenizer, not one; add it under tokens "
                "(or special_tokens.additional_special_tokens) so the tokenizer keeps it whole"
            )
        if token not in out:
            out.append(token)
    return tuple(out)


def _check_eot_mode(mode: str, eot: tuple[str, ...], configured: bool, tokenizer: Any, where: str) -> None:
    """Axolotl's rule: the EOS token's labels follow train_on_eos (``turn`` in loradoc), so
    ``train_on_eot`` other than ``turn`` cannot also cover the EOS token."""
    if mode not in V.TRAIN_ON_EOT:
        raise UserError(f"{where}.train_on_eot: '{mode}' is not one of {', '.join(V.TRAIN_ON_EOT)}")
    eos = getattr(tokenizer, "eos_token", None)
    if mode == "turn" or eos is None or (configured and eos not in eot):
        return
    whose = "is in eot_tokens" if configured else "is what eot_tokens means while it is unset"
    raise UserError(
        f"{where}.train_on_eot: {mode} would also cover the EOS token '{eos}', which {whose}; loradoc trains the "
        "EOS token per turn (train_on_eos: turn), so set eot_tokens to the template's end-of-turn token(s) "
        "without it"
    )


# --- choosing a format --------------------------------------------------------------------

SUPPORTED_TYPES = DATASET_TYPES


def _given(value: T | None, default: T) -> T:
    """``value``, or ``default`` where the spec leaves it unset."""
    return default if value is None else value


def message_rows_options(spec: DatasetSpec, where: str, *, sharegpt: bool) -> dict[str, Any]:
    """The :class:`MessageRows` settings of a chat ``datasets[]`` entry (``sharegpt``: its defaults)."""
    mappings = spec.message_property_mappings or {}
    if not isinstance(mappings, Mapping):
        raise UserError(f"{where}.message_property_mappings must map role/content to field names")
    roles = dict(DEFAULT_ROLE_NAMES)
    for target, sources in (spec.roles or {}).items():
        for source in [sources] if isinstance(sources, str) else sources:
            roles[str(source).lower()] = str(target)
    return {
        "field_messages": _given(spec.field_messages, "conversations" if sharegpt else None),
        "role_key": mappings.get("role") or _given(spec.message_field_role, "from" if sharegpt else None),
        "content_key": mappings.get("content")
        or _given(spec.message_field_content, "value" if sharegpt else None),
        "roles": roles,
        "roles_to_train": tuple(_given(spec.roles_to_train, ["assistant"])),
        "drop_system_message": bool(spec.drop_system_message),
    }


def format_for(
    spec: DatasetSpec,
    *,
    where: str,
    tokenizer: Any,
    chat_template: Callable[[], str],
    eot_tokens: list[str] | None = None,
    say: Callable[[str], None] = print,
) -> PromptFormat:
    """The prompt format for one ``datasets[]`` entry (``where`` names it in errors).

    ``chat_template`` is called only when the format needs a template; ``eot_tokens`` is the
    config's (top-level) ``eot_tokens``, read by chat formats with ``train_on_eot``.
    """
    kind = str(spec.type or "").strip()
    if kind == "alpaca":
        return AlpacaFormat("instruct")
    if kind in ("alpaca:chat", "alpaca_chat"):
        return AlpacaFormat("chat")
    if kind == "completion":
        return CompletionFormat(str(_given(spec.field, "text")))
    if kind in ("chat_template", "sharegpt"):
        sharegpt = kind == "sharegpt"
        template = chat_template()
        eot = eot_tokens_for(template, tokenizer, eot_tokens, say=say)
        mode = str(_given(spec.train_on_eot, "turn"))
        _check_eot_mode(mode, eot, bool(eot_tokens), tokenizer, where)
        return ChatFormat(
            renderer=template_renderer(tokenizer, template),
            template_id=_digest(template),
            end_text=getattr(tokenizer, "eos_token", None),
            eot_tokens=eot,
            train_on_eot=mode,
            **message_rows_options(spec, where, sharegpt=sharegpt),
        )
    if not kind:
        raise UserError(f"{where}.type is missing (one of: {', '.join(SUPPORTED_TYPES)})")
    raise UserError(
        f"{where}.type: '{kind}' is not supported by loradoc (supported: {', '.join(SUPPORTED_TYPES)}); "
        "convert the data to one of these, e.g. a messages list for chat_template"
    )
