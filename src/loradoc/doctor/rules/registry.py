"""The rule registry: each rule is a function ``(ctx) -> list[Finding]`` registered with the
finding codes it may emit (the codes are what docs/findings.md must document)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules.context import Context

RuleFn = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    codes: tuple[str, ...]
    fn: RuleFn

    def __call__(self, ctx: Context) -> list[Finding]:
        return self.fn(ctx)


RULES: list[Rule] = []


def rule(*codes: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule that may emit ``codes``."""

    def wrap(fn: RuleFn) -> RuleFn:
        RULES.append(Rule(f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}", codes, fn))
        return fn

    return wrap


def error(code: str, message: str, fix: str | None = None, **details: Any) -> Finding:
    return Finding(code, Severity.ERROR, message, fix, _clean(details))


def warning(code: str, message: str, fix: str | None = None, **details: Any) -> Finding:
    return Finding(code, Severity.WARNING, message, fix, _clean(details))


def info(code: str, message: str, fix: str | None = None, **details: Any) -> Finding:
    return Finding(code, Severity.INFO, message, fix, _clean(details))


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if v is not None and v != [] and v != ()}
