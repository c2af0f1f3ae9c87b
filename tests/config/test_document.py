"""Reading a config file: a huge file is refused without being read whole; keys that are not
names (``null:``, ``true:``, ``12:``) are reported with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from loradoc.config import document
from loradoc.config.document import MAX_BYTES, read_config_document
from loradoc.config.load import load_config
from loradoc.config.problems import ConfigError

GOOD = "base_model: org/model\nadapter: lora\ndatasets:\n  - path: org/data\n    type: alpaca\n"


def test_a_200_mb_config_is_refused_unread(tmp_path: Path) -> None:
    """Sized before it is read: the peak of Python allocations stays far below the file's size."""
    import tracemalloc

    path = tmp_path / "huge.yml"
    with path.open("wb") as fh:  # sparse: 200 MB long, nothing written
        fh.truncate(200 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as err:
            read_config_document(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (
        str(err.value)
        == f"{path}: the config is {200 << 20} bytes; a training config is under {MAX_BYTES} bytes"
    )
    assert peak < 2 * MAX_BYTES, peak


def test_a_config_just_over_the_limit_and_one_at_it(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(ConfigError, match=rf"the config is {MAX_BYTES + 1} bytes"):
        read_config_document(path)
    path.write_bytes(b"#" * (MAX_BYTES - 1) + b"\n")
    assert read_config_document(path)[0] is None


def test_an_endless_device_is_read_at_most_max_bytes() -> None:
    """A file whose size is unknown (a device or pipe: st_size 0) is read up to MAX_BYTES + 1.

    Run in a child limited to 1 GiB of address space: a reader that read the whole "file"
    would fail there, not take the machine's memory."""
    import resource
    import subprocess
    import sys

    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    code = (
        "from pathlib import Path\n"
        "from loradoc.config.document import read_config_document\n"
        "from loradoc.config.problems import ConfigError\n"
        "try:\n"
        "    read_config_document(Path('/dev/zero'))\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (
        proc.stdout.strip()
        == f"/dev/zero: the config is more than {MAX_BYTES} bytes; a training config is under {MAX_BYTES} bytes"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("null: 3\n", "line 6: key 'null' is not a name; keys are words like base_model"),
        ("~: 3\n", "line 6: key 'null' is not a name; keys are words like base_model"),
        ("true: 3\n", "line 6: key true is not a name; keys are words like base_model"),
        ("12: 3\n", "line 6: key 12 is not a name; keys are words like base_model"),
    ],
)
def test_a_key_that_is_not_a_name_has_its_line(tmp_path: Path, text: str, line: str) -> None:
    path = tmp_path / "cfg.yml"
    path.write_text(GOOD + text)
    with pytest.raises(ConfigError) as err:
        load_config(path, echo=False)
    assert str(err.value) == f"{path}: {line}"


def test_a_null_key_inside_a_dataset_entry(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yml"
    path.write_text(GOOD + "    null: 1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, echo=False)
    assert str(err.value) == f"{path}: line 6: datasets[0]: key 'null' is not a name"


def test_keys_that_are_not_names_are_not_duplicates(tmp_path: Path) -> None:
    """``12:`` is recorded under its text and its value: that is one key, not a key given twice."""
    _, _, duplicates = document.parse_config_text("12: 1\nnull: 2\ntrue: 3\n")
    assert duplicates == []
