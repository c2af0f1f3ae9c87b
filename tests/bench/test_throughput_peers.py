"""The peers' plumbing of bench/train_throughput.py: which repeats count, where a peer's Python is,
and the one line a missing environment gets (no training here; the smoke test runs the peers)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import train_throughput  # noqa: E402
from throughput_peers import PEERS, check_tokens, peer_python  # noqa: E402


def test_a_repeat_with_a_mode_off_its_cores_is_disturbed() -> None:
    clean = {"packed": {"cpu_utilisation": 0.97}, "trl_packed": {"cpu_utilisation": 0.91}}
    assert train_throughput.disturbed(clean) == ""
    slow = {**clean, "axolotl_multipack": {"cpu_utilisation": 0.62}}
    assert train_throughput.disturbed(slow) == "axolotl_multipack cpu 0.62"
    assert train_throughput.disturbed({"packed": {}}) == "packed cpu 0.00"  # unmeasured counts as disturbed


def test_every_peer_has_a_target_and_a_runner() -> None:
    assert train_throughput.TARGETS == {
        "naive": 2.5,
        "group_by_length": 1.5,
        "trl_packed": 2.5,
        "axolotl_multipack": 1.8,
    }
    for peer in PEERS.values():
        assert (Path(train_throughput.__file__).parent / "peers" / peer.script).is_file()


def test_a_missing_peer_environment_names_the_setup_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LORADOC_PEERS", str(tmp_path))
    with pytest.raises(SystemExit) as err:
        peer_python("axolotl_multipack", None)
    msg = str(err.value)
    assert str(tmp_path / "axolotl" / "bin" / "python") in msg
    assert "bash bench/peers/setup.sh" in msg and "--axolotl-python" in msg
    assert peer_python("trl_packed", Path(sys.executable)) == Path(sys.executable)


def test_a_stale_token_export_is_a_problem() -> None:
    work = {"examples": 31, "real_tokens": 2633}
    assert check_tokens({"examples": 31, "real_tokens": 2633}, work) == []
    (problem,) = check_tokens({"examples": 30, "real_tokens": 2633}, work)
    assert problem == "peers/tokens.jsonl: examples 30 != 31 in the dataset"
