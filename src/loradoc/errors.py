"""User-facing errors: one clear line, a non-zero exit, never a traceback."""

from __future__ import annotations


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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), for a one-line error."""
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


class MatrixError(UserError):
    """The compat matrix data is malformed (names the entry)."""

    exit_code = 3
