"""`doctor explain` reads any input in bounded memory and time, and says what it left out."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from loradoc.compat import load_matrix
from loradoc.doctor import log_input
from loradoc.doctor.log_input import MAX_LINE, WINDOW, read_log
from loradoc.errors import UserError

ERROR = "RuntimeError: CUDA driver version is insufficient for CUDA runtime version\n"


def explain_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loradoc", "doctor", "explain", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_dev_zero_is_refused_as_binary_without_reading_it_all() -> None:
    out = explain_cli("/dev/zero")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "binary data, not a log" in out.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "the log is empty"), (b"\n \n", "the log is empty"), (b"\x00\x01\x02" * 5000, "binary data")],
)
def test_empty_and_binary_files_get_one_line(tmp_path: Path, content: bytes, words: str) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(content)
    out = explain_cli(str(log))
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


def test_missing_file_and_folder(tmp_path: Path) -> None:
    assert "log file not found" in explain_cli(str(tmp_path / "nope.log")).stderr
    assert "is a folder" in explain_cli(str(tmp_path)).stderr


def test_a_long_log_keeps_its_end_where_the_error_is() -> None:
    body = b"noise line\n" * ((WINDOW // 11) + 1000) + ERROR.encode()
    text, notes = read_log(io.BytesIO(body), "big.log")
    assert text.endswith(ERROR) and len(text) <= WINDOW
    assert notes and "searched its last 8 MiB" in notes[0]


def test_an_endless_stream_stops_at_the_scan_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_input, "SCAN_LIMIT", 4 << 20)

    class Endless(io.RawIOBase):
        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            b[:] = b"y" * len(b)
            return len(b)

    text, notes = read_log(Endless(), "pipe")  # type: ignore[arg-type]
    assert "stopped reading pipe after 4 MiB" in notes[0] and len(text) <= 4 << 20


def test_a_huge_single_line_is_searched_at_its_ends() -> None:
    line = "x" * (10 << 20) + " " + ERROR
    text, notes = read_log(io.BytesIO(line.encode()), "one-line.log")
    assert len(text) < 2 * MAX_LINE and ERROR.strip() in text
    assert any("searched at their start and end only" in n for n in notes)


def test_no_pattern_has_an_unbounded_lazy_run_within_a_line() -> None:
    """`[^\\n]*? with X` restarts at every position of a line: quadratic. Bounded runs are linear."""
    unbounded = re.compile(r"\[\^\\n\][*+]\?")
    bad = [
        (e.id, text)
        for e in load_matrix().errors
        for text in (*e.pattern_texts, *e.context_texts, *e.unless_texts)
        if unbounded.search(text)
    ]
    assert bad == []


# Entries whose first search begins with a character class or an alternation (no literal for re's
# fast scan): each costs tens of milliseconds on the 8 MiB window. Known, to be rewritten; no more.
SCANNED_WITHOUT_A_LITERAL = {
    "conda-cpu-build-of-torch",
    "conda-libstdcxx-too-old",
    "container-driver-library-mismatch",
    "cuda-build-pinned-on-macos",
    "cuda-home-is-a-path-list",
    "cuda-library-of-another-major-missing",
    "cudnn-major-missing",
    "deepspeed-imports-torch-six",
    "deepspeed-mpi-discovery",
    "deepspeed-op-not-built",
    "extension-built-for-other-torch",
    "flashinfer-kernel-package-drift",
    "httpx-too-new-for-httpcore-pin",
    "hub-1-removed-download-keywords",
    "invalid-device-ordinal",
    "multi-gpu-hang",
    "no-kernel-image",
    "no-torch-wheel-for-32bit-python",
    "nvml-driver-library-mismatch",
    "nvrtc-of-another-major-missing",
    "opencv-needs-gl-libraries",
    "quantization-kernel-mma-needs-newer-gpu",
    "rust-package-built-from-sdist",
    "stack-name-outside-its-release",
    "torch-local-tag-without-its-index",
    "torch-older-than-package",
    "torch-wheel-for-another-python",
    "torchvision-ops-for-another-torch",
    "transformers-newer-than-its-importer",
    "transformers-unknown-model-type",
    "wandb-key-prompt",
    "wsl-cuda-library-load",
    "xformers-active-no-kernel",
}


def _starts_with_a_literal(text: str) -> bool:
    try:  # the stdlib's own parse of the regex (sre_parse before Python 3.11)
        from re import _constants as constants
        from re import _parser as parser
    except ImportError:  # pragma: no cover
        import sre_constants as constants  # type: ignore[no-redef]
        import sre_parse as parser  # type: ignore[no-redef]

    items = list(parser.parse(text))
    while items and items[0][0] == constants.SUBPATTERN and items[0][1][0] is None:  # (?:...) around it
        items = list(items[0][1][3])
    return bool(items) and items[0][0] == constants.LITERAL


def test_every_entry_starts_its_search_with_a_literal() -> None:
    """The first context (checked before anything else), or every pattern of an entry without one,
    starts with literal text, which re scans for fast; an alternation first scans at every position
    (0.5 s of the bench's 8 MiB window for five entries, before their contexts got a literal)."""
    slow = {
        e.id
        for e in load_matrix().errors
        if (e.context_texts and not _starts_with_a_literal(e.context_texts[0]))
        or (not e.context_texts and not all(_starts_with_a_literal(t) for t in e.pattern_texts))
    }
    assert slow - SCANNED_WITHOUT_A_LITERAL == set(), (
        "put a literal context first (or a literal at the pattern's start)"
    )
    assert SCANNED_WITHOUT_A_LITERAL - slow == set(), "rewritten: take it off the list"


def test_stdin_is_read_the_same_way() -> None:
    out = explain_cli("-", stdin=ERROR.encode())
    assert "driver-too-old-for-torch-cuda" in out.stdout


def test_read_log_raises_user_errors_only() -> None:
    with pytest.raises(UserError):
        read_log(io.BytesIO(b""), "empty")
