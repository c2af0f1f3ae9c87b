"""What goes wrong in a config, and what loradoc changes in one: typed records, not prose.

- :class:`ConfigError`: the one error loading raises, carrying every :class:`Problem`.
- :class:`Problem`: one thing the user must fix (key, file, line, message, fix). Loading
  collects every problem and reports them together, sorted by line; nothing re-reads
  the rendered text.
- :class:`PendingChange`: a change loading decides on before the config object exists
  (``batch_size`` into ``gradient_accumulation_steps``, a legacy attention flag into
  ``attn_implementation``); it becomes an ``AutoChange`` on the built config.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loradoc.errors import UserError

_UNSET: Any = object()


@dataclass(frozen=True)
class Problem:
    message: str  # one line, naming the key as the user wrote it ("lora_r: ...", "--lora-r: ...")
    key: str | None = None  # the config key ("datasets[0].type"), when the problem has one
    line: int | None = None  # the line in the config file, when known
    fix: str | None = None  # what to do, when it is not already in the message
    file: str | None = None

    def __str__(self) -> str:
        text = f"line {self.line}: {self.message}" if self.line else self.message
        return f"{text} ({self.fix})" if self.fix else text


def in_reading_order(problems: Iterable[Problem]) -> list[Problem]:
    """Problems with a line first, top to bottom; the rest (overrides, keys that disagree)
    after them in the order found."""
    return sorted(problems, key=lambda p: p.line if p.line is not None else float("inf"))


@dataclass(frozen=True)
class PendingChange:
    key: str
    value: Any
    reason: str
    written: Any = field(default=_UNSET)  # the value as the user wrote it, when the schema rejects it
    cause: str | None = None  # the key whose value caused the change (a legacy flag, batch_size)

    @property
    def keeps_written(self) -> bool:
        return self.written is not _UNSET


class ConfigError(UserError):
    """One or more problems in a training config, all reported at once.

    ``records`` holds them as :class:`Problem` (key, file, line, message, fix); ``problems``
    as the lines printed.
    """

    def __init__(self, problems: Sequence[Problem | str], *, source: str | None = None) -> None:
        self.records = [p if isinstance(p, Problem) else Problem(p, file=source) for p in problems]
        self.problems = [str(p) for p in self.records]
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            text = head + f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)
