"""Values that look like keys or tokens never reach a message, a log or a report.

:func:`secret_kind` recognises the shapes of credentials that end up in the wrong place
(a W&B key pasted as ``seed``, an ``hf_`` token as an override): known prefixes with any
separator, long hexadecimal runs, and long base64-like runs. :func:`redacted` is what a
message shows instead: what kind of value it was and its length, never the value.
"""

from __future__ import annotations

import re

# Known credential prefixes (Hugging Face, OpenAI/Anthropic-style, GitHub, GitLab, Slack, AWS, W&B),
# each followed by any separator or none, then a body of 8+ characters.
_PREFIXED = re.compile(
    r"(?i)(?:^|[^a-z0-9])(?:hf|sk|ghp|gho|ghs|ghu|github_pat|glpat|xox[abpr]|akia|asia|wandb)"
    r"[-_.:]?([a-z0-9][a-z0-9_\-]{7,})"
)
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_BASE64 = re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}")


def secret_kind(text: str) -> str | None:
    """What kind of credential ``text`` looks like ("a token with a known prefix", "a hex key", ...),
    or None when it looks like an ordinary value."""
    for m in _PREFIXED.finditer(text):
        body = m.group(1)
        if len(body) >= 16 or re.search(r"\d", body):  # "hf_datasets" is a name, "hf_x8…" a token
            return "a token with a known key prefix"
    if _HEX.search(text):
        return "a hex string shaped like an API key"
    for run in _BASE64.findall(text):
        mixed = all(re.search(c, run) for c in (r"\d", "[a-z]", "[A-Z]"))
        words = len(re.findall(r"[/_\-]", run))  # model ids and paths are several words
        if mixed and words <= 2:
            return "a base64-like string shaped like a token"
    return None


def redacted(text: str) -> str | None:
    """The words to show instead of ``text`` when it looks like a secret; None when it does not."""
    kind = secret_kind(text)
    return f"{kind} ({len(text)} characters, not shown)" if kind else None


def safe_repr(text: str, *, limit: int = 40) -> str:
    """``text`` for a message: quoted when short and ordinary, described otherwise."""
    hidden = redacted(text)
    if hidden:
        return hidden
    return repr(text) if len(text) <= limit else f"a {len(text)}-character string"
