"""User-facing errors: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loradoc.config.problems import Problem


class UserError(Exception):
    """A mistake the user can fix (bad config, missing file, bad flag).

    The CLI prints ``error: <message>`` on one line and exits with ``exit_code``.
    The message names the file, key or line, and the fix.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0])


class ConfigError(UserError):
    """One or more problems in a training config, all reported at once.

    ``records`` holds them as :class:`loradoc.config.problems.Problem` (key, file, line,
    message, fix); ``problems`` as the lines printed.
    """

    def __init__(self, problems: Sequence[Problem | str], *, source: str | None = None) -> None:
        from loradoc.config.problems import Problem

        self.records = [p if isinstance(p, Problem) else Problem(p, file=source) for p in problems]
        self.problems = [str(p) for p in self.records]
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = head + self.problems[0]
        else:
            text = head + f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)


class MatrixError(UserError):
    """The compat matrix data is malformed (names the entry)."""

    exit_code = 3
