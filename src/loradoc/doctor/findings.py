"""Findings: what the diagnosis says, one per problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Finding:
    """One diagnosis.

    ``code`` is stable (kebab-case, documented in docs/findings.md, never renamed);
    ``message`` is one line naming the versions involved; ``fix`` is the exact
    command or config change, or None when there is nothing to do.
    """

    code: str
    severity: Severity
    message: str
    fix: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def alternatives(self) -> list[str]:
        """The other fixes, each printed on an "or:" line: torch builds a newer driver runs (when
        the driver is unknown), then the finding's own alternative."""
        return [
            *self.details.get("newer_driver_builds", ()),
            *filter(None, [self.details.get("alternative")]),
        ]

    def printed_fix(self) -> str | None:
        """The fix as the report prints it: the fix, then each alternative on an "or:" line."""
        if not self.fix:
            return None
        return "\n".join([self.fix, *(f"or: {a}" for a in self.alternatives())])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "severity": self.severity.value, "message": self.message}
        if self.fix:
            out["fix"] = self.fix
        if self.details:
            out["details"] = self.details
        return out
