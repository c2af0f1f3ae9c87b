"""Storage faults: the prepared-data cache deleted or damaged between runs, a full disk under
``output_dir`` (a small tmpfs), and a read-only ``output_dir`` (a read-only mount: root ignores
chmod). After each, the next run (plain, or ``resume_from_checkpoint: true``) must equal the
uninterrupted run. Mounting needs root and a kernel that allows it here: skipped otherwise."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import harness
import pytest

pytestmark = pytest.mark.slow


def _entry(where: Path) -> Path:
    (entry,) = [p for p in (where / "prepared").iterdir() if (p / "meta.json").is_file()]
    return entry


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {
    "cache folder deleted": lambda where: shutil.rmtree(where / "prepared"),
    "meta.json deleted": lambda where: (_entry(where) / "meta.json").unlink(),
    "meta.json truncated": lambda where: _truncate(_entry(where) / "meta.json"),
    "train arrow truncated": lambda where: _truncate(next((_entry(where) / "train").glob("*.arrow"))),
    "eval arrow emptied": lambda where: next((_entry(where) / "eval").glob("*.arrow")).write_bytes(b""),
    "train state.json truncated": lambda where: _truncate(_entry(where) / "train" / "state.json"),
}


# a damaged entry (truncated meta.json / state.json / arrow file) is read through once on reuse and
# prepared again when it does not load (train/data/prepare.py _reuse)
DAMAGE_CASES = sorted(DAMAGE)


@pytest.mark.parametrize("damage", DAMAGE_CASES)
def test_a_damaged_cache_between_a_stop_and_the_resume(
    fault_world: harness.World, where: Path, damage: str
) -> None:
    """SIGTERM after step 3 (a checkpoint), the cache damaged, then resume: equal."""
    cfg = fault_world.config(where)
    fault = harness.loradoc(
        ["train", str(cfg)],
        where,
        pace=harness.PACE,
        trigger=lambda now: harness.markers(where).get("loss3", False),
        sig=signal.SIGTERM,
    )
    assert fault.rc == 143, fault.tail()
    DAMAGE[damage](where)
    outcome = harness.check_recovered(fault_world, where, f"cache: {damage} (after SIGTERM)", fault)
    print("\n" + outcome.line())
    assert outcome.equal and outcome.how == "resume", outcome.line()


# --- mounts ---------------------------------------------------------------------------------------


def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (mount {' '.join(args)}: {proc.stderr.strip() or proc.returncode})")


@pytest.fixture
def mounted(where: Path) -> Iterator[Path]:
    """``where/run`` is a mount point; unmounted after the test."""
    point = where / "run"
    point.mkdir(parents=True)
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.mark.parametrize("size_kib", [96, 320, 640])
def test_a_full_disk_under_output_dir(
    fault_world: harness.World, where: Path, mounted: Path, size_kib: int
) -> None:
    """output_dir on a tmpfs too small for the run (full before, at or after the first checkpoint): the run fails
    without a half-written output; the disk grown, the next run equals the uninterrupted one."""
    _mount(["-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mounted)])
    cfg = fault_world.config(where)
    fault = harness.loradoc(["train", str(cfg)], where)
    assert fault.rc != 0, f"the run fit in {size_kib} KiB: " + fault.tail()
    said = fault.stderr
    _mount(["-o", "remount,size=64m", str(mounted)])
    outcome = harness.check_recovered(fault_world, where, f"disk full at {size_kib} KiB", fault)
    if "No space left on device" not in said:
        outcome.notes.append("the error did not name the full disk")
    if "Traceback" in said:
        outcome.notes.append("the full disk ended the run with a traceback")
    print("\n" + outcome.line())
    assert outcome.equal, outcome.line()
    assert fault.rc == 2 and "Traceback" not in said and "No space left on device" in said, said[-1500:]


def test_a_read_only_output_dir_is_refused_before_anything_heavy(
    fault_world: harness.World, where: Path, mounted: Path
) -> None:
    _mount(["-t", "tmpfs", "-o", "ro,size=64m", "tmpfs", str(mounted)])
    cfg = fault_world.config(where)
    refused = harness.loradoc(["train", str(cfg)], where)
    assert refused.rc not in (0, None), refused.tail()
    assert "not writable" in refused.stderr and "Traceback" not in refused.stderr, refused.tail()
    assert not list(mounted.iterdir())
    _mount(["-o", "remount,rw", str(mounted)])
    outcome = harness.check_recovered(fault_world, where, "read-only output_dir, then writable", refused)
    print("\n" + outcome.line())
    assert outcome.equal and outcome.how == "plain", outcome.line()


def test_a_stopped_run_whose_folder_turned_read_only_resumes_once_writable(
    fault_world: harness.World, where: Path, mounted: Path
) -> None:
    _mount(["-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mounted)])
    cfg = fault_world.config(where)
    fault = harness.loradoc(
        ["train", str(cfg)],
        where,
        pace=harness.PACE,
        trigger=lambda now: harness.markers(where).get("loss5", False),
        sig=signal.SIGTERM,
    )
    assert fault.rc == 143, fault.tail()
    before = {p.relative_to(mounted): p.read_bytes() for p in mounted.rglob("*") if p.is_file()}
    _mount(["-o", "remount,ro", str(mounted)])
    refused = harness.loradoc(["train", str(cfg), "--resume_from_checkpoint", "true"], where)
    assert refused.rc not in (0, None), refused.tail()
    after = {p.relative_to(mounted): p.read_bytes() for p in mounted.rglob("*") if p.is_file()}
    assert after == before
    note = "" if "Traceback" not in refused.stderr else " (the refusal was a traceback)"
    _mount(["-o", "remount,rw", str(mounted)])
    outcome = harness.check_recovered(fault_world, where, "read-only while stopped" + note, fault)
    print("\n" + outcome.line() + "\n" + refused.tail(600))
    assert outcome.equal and outcome.how == "resume", outcome.line()
