"""Reading a log for ``doctor explain`` in bounded memory and time, whatever it is.

- Only the last ``WINDOW`` bytes are kept (a traceback ends a log); at most ``SCAN_LIMIT`` bytes
  are read at all, so ``/dev/zero`` or an endless pipe stops.
- A line longer than ``MAX_LINE`` characters keeps its start and end (an error message is short,
  a minified blob is not), so every pattern runs in time linear in the log.
- Binary and empty input get one clear line; every shortening is said in a note.
"""

from __future__ import annotations

from collections import deque
from typing import BinaryIO

from loradoc.errors import UserError

WINDOW = 8 << 20
SCAN_LIMIT = 256 << 20
MAX_LINE = 8 << 10
_CHUNK = 1 << 20


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def read_log(stream: BinaryIO, name: str) -> tuple[str, list[str]]:
    """The text to search, and notes on what was left out. UserError for binary or empty input."""
    kept: deque[bytes] = deque()
    size = total = 0
    while total < SCAN_LIMIT:
        chunk = stream.read(min(_CHUNK, SCAN_LIMIT - total))
        if not chunk:
            break
        total += len(chunk)
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= WINDOW:
            size -= len(kept.popleft())
    more = total >= SCAN_LIMIT and bool(stream.read(1))
    data = b"".join(kept)[-WINDOW:]
    if not data.strip():
        raise UserError(f"{name}: the log is empty; give the output that ended in the error")
    sample = data[-65536:]
    if sample.count(0) > len(sample) // 100:
        raise UserError(
            f"{name}: this is binary data, not a log; give the text output of the failing command"
        )
    notes = []
    if more:
        notes.append(f"stopped reading {name} after {_mib(SCAN_LIMIT)}; searched its last {_mib(len(data))}")
    elif total > len(data):
        notes.append(f"{name} is {_mib(total)}: searched its last {_mib(len(data))}, where errors end up")
    text, cut = _short_lines(data.decode("utf-8", errors="replace"))
    if cut:
        notes.append(f"{cut} line(s) over {MAX_LINE} characters were searched at their start and end only")
    return text, notes


def _short_lines(text: str) -> tuple[str, int]:
    if len(text) <= MAX_LINE or all(len(line) <= MAX_LINE for line in text.split("\n")):
        return text, 0
    half = MAX_LINE // 2
    lines, cut = [], 0
    for line in text.split("\n"):
        if len(line) > MAX_LINE:
            line = line[:half] + " ... " + line[-half:]
            cut += 1
        lines.append(line)
    return "\n".join(lines), cut
