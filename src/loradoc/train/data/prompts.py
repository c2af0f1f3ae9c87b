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

from loradoc.config.vocab import DATASET_TYPES
from loradoc.errors import UserError

if TYPE_CHECKING:
    from loradoc.config.schema import DatasetSpec

T = TypeVar("T")

Span = tuple[int, int]


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

Renderer = Callable[[list[dict[str, str]], bool], str]


@dataclass
class ChatFormat(PromptFormat):
    """Messages rendered with a chat template; assistant turns found by rendering prefixes.

    For assistant turn ``i`` the trained span runs from the end of
    ``render(messages[:i], add_generation_prompt=True)`` to the end of
    ``render(messages[:i+1])``: the reply and the template's end-of-turn marker.
    Each prefix must be a literal prefix of the full rendering and the span must
    contain the reply; a template that breaks this is refused (it cannot be masked).
    """

    renderer: Renderer
    template_id: str
    field_messages: str | None = None
    role_key: str | None = None
    content_key: str | None = None
    roles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ROLE_NAMES))
    roles_to_train: tuple[str, ...] = ("assistant",)
    drop_system_message: bool = False
    end_text: str | None = None  # the EOS token's text, which some templates write only at the end
    name = "chat_template"
    needs = "chat_template needs a list of messages"

    def identity(self) -> str:
        parts = [
            self.template_id,
            str(self.field_messages),
            str(self.role_key),
            str(self.content_key),
            repr(sorted(self.roles.items())),
            repr(self.roles_to_train),
            str(self.drop_system_message),
        ]
        return "chat/" + _digest("|".join(parts))

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

    def render(self, row: Mapping[str, Any], *, train_on_inputs: bool) -> Rendered:
        msgs = self.messages(row)
        full = self._render(msgs, False)
        if train_on_inputs:
            return Rendered(full, ((0, len(full)),), add_special_tokens=False)
        spans: list[Span] = []
        for i, msg in enumerate(msgs):
            if msg["role"] not in self.roles_to_train:
                continue
            spans.append(self._turn_span(msgs, i, full))
        train_eos = bool(msgs) and msgs[-1]["role"] in self.roles_to_train
        return Rendered(full, tuple(spans), add_special_tokens=False, train_eos=train_eos)

    def _render(self, msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            return self.renderer(msgs, add_generation_prompt)
        except Exception as exc:  # jinja raises its own errors for unsupported orderings
            raise RowProblem(f"the chat template failed on this conversation: {exc}") from exc

    def _turn_span(self, msgs: list[dict[str, str]], i: int, full: str) -> Span:
        content = msgs[i]["content"]
        upto = _without_trailer(self._render(msgs[: i + 1], False), full, self.end_text)
        if upto is None:
            raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
        before = self._render(msgs[:i], True) if i > 0 else ""
        if i > 0 and full.startswith(before) and len(before) <= len(upto):
            start = len(before)
        else:
            # the generation prompt differs from how the template opens a stored turn:
            # train from the reply itself, found after the previous turns.
            plain = _without_trailer(self._render(msgs[:i], False), full, self.end_text) if i > 0 else ""
            if plain is None:
                raise RowProblem(_NOT_PREFIX.format(turn=i))
            found = full.find(content, len(plain), len(upto)) if content else len(upto)
            if found < 0:
                raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
            start = found
        if content and content.strip() not in full[start : len(upto)]:
            raise RowProblem(_NOT_PREFIX.format(turn=i + 1))
        return (start, len(upto))


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

# Templates written for loradoc; each follows the published turn layout of its family.
BUILTIN_CHAT_TEMPLATES: dict[str, str] = {
    "chatml": (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    ),
    "llama3": (
        "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
        "{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
        "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
    ),
    "gemma": (
        "{{ bos_token }}{% set sys = namespace(text='') %}"
        "{% for m in messages %}{% if m['role'] == 'system' %}{% set sys.text = m['content'] + '\n\n' %}"
        "{% else %}{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
        "<start_of_turn>{{ role }}\n{% if role == 'user' %}{{ sys.text }}{% set sys.text = '' %}{% endif %}"
        "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
    ),
    "phi_3": (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
    ),
}
BUILTIN_CHAT_TEMPLATES["gemma3"] = BUILTIN_CHAT_TEMPLATES["gemma"]

TOKENIZER_DEFAULT = "tokenizer_default"


def resolve_chat_template(
    name: str | None, tokenizer: Any, *, jinja: str | None = None, say: Callable[[str], None] = print
) -> str:
    """The Jinja text to render chats with.

    ``jinja`` (``chat_template_jinja``: the text, or a file holding it) wins; then an inline template in ``chat_template``;
    then a template built into loradoc (chatml, llama3, gemma, gemma3, phi_3); then the
    tokenizer's own template (``tokenizer_default`` or unset, or a named one loradoc
    does not ship, which is said in one line).
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
    if name and name in BUILTIN_CHAT_TEMPLATES:
        return BUILTIN_CHAT_TEMPLATES[name]
    own = getattr(tokenizer, "chat_template", None)
    if isinstance(own, dict):
        own = own.get("default")
    if not own:
        shipped = ", ".join(sorted(BUILTIN_CHAT_TEMPLATES))
        label = f"chat_template: {name}" if name and name != TOKENIZER_DEFAULT else "chat_template"
        raise UserError(
            f"{label}: the tokenizer has no chat template of its own; set chat_template to one of "
            f"{shipped}, or give the Jinja text in chat_template_jinja"
        )
    if name and name != TOKENIZER_DEFAULT:
        say(f"chat template: '{name}' is not built into loradoc; using the tokenizer's own template")
    return str(own)


def template_renderer(tokenizer: Any, template: str) -> Renderer:
    def render(msgs: list[dict[str, str]], add_generation_prompt: bool) -> str:
        text = tokenizer.apply_chat_template(
            msgs, chat_template=template, add_generation_prompt=add_generation_prompt, tokenize=False
        )
        return str(text)

    return render


# --- choosing a format --------------------------------------------------------------------

SUPPORTED_TYPES = DATASET_TYPES


def _given(value: T | None, default: T) -> T:
    """``value``, or ``default`` where the spec leaves it unset."""
    return default if value is None else value


def format_for(
    spec: DatasetSpec, *, where: str, tokenizer: Any, chat_template: Callable[[], str]
) -> PromptFormat:
    """The prompt format for one ``datasets[]`` entry (``where`` names it in errors).

    ``chat_template`` is called only when the format needs a template.
    """
    kind = str(spec.type or "").strip()
    if kind == "alpaca":
        return AlpacaFormat("instruct")
    if kind in ("alpaca:chat", "alpaca_chat"):
        return AlpacaFormat("chat")
    if kind == "completion":
        return CompletionFormat(str(_given(spec.field, "text")))
    if kind in ("chat_template", "sharegpt"):
        mappings = spec.message_property_mappings or {}
        if not isinstance(mappings, Mapping):
            raise UserError(f"{where}.message_property_mappings must map role/content to field names")
        roles = dict(DEFAULT_ROLE_NAMES)
        for target, sources in (spec.roles or {}).items():
            for source in [sources] if isinstance(sources, str) else sources:
                roles[str(source).lower()] = str(target)
        sharegpt = kind == "sharegpt"
        template = chat_template()
        return ChatFormat(
            renderer=template_renderer(tokenizer, template),
            template_id=_digest(template),
            field_messages=_given(spec.field_messages, "conversations" if sharegpt else None),
            role_key=mappings.get("role") or _given(spec.message_field_role, "from" if sharegpt else None),
            content_key=mappings.get("content")
            or _given(spec.message_field_content, "value" if sharegpt else None),
            roles=roles,
            roles_to_train=tuple(_given(spec.roles_to_train, ["assistant"])),
            drop_system_message=bool(spec.drop_system_message),
            end_text=getattr(tokenizer, "eos_token", None),
        )
    if not kind:
        raise UserError(f"{where}.type is missing (one of: {', '.join(SUPPORTED_TYPES)})")
    raise UserError(
        f"{where}.type: '{kind}' is not supported by loradoc (supported: {', '.join(SUPPORTED_TYPES)}); "
        "convert the data to one of these, e.g. a messages list for chat_template"
    )
