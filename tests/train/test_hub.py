"""The hub is asked once, quickly: an unreachable hub turns the run offline with one line, instead
of a minute of retries before the error."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from loradoc.config.load import config_from_dict
from loradoc.train.hub import hub_ids, hub_unreachable, settle_hub


def _closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused at once
    return f"http://127.0.0.1:{port}"


def _cfg(tmp_path: Path, **keys: Any) -> Any:
    data = tmp_path / "train.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    doc: dict[str, Any] = {
        "base_model": "Qwen/Qwen2.5-0.5B-Instruct",
        "datasets": [{"path": str(data), "type": "alpaca"}],
        "adapter": "lora",
        "output_dir": str(tmp_path / "out"),
    }
    doc.update(keys)
    return config_from_dict(doc)


def test_hub_ids_are_what_is_not_local(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, datasets=[{"path": "tatsu-lab/alpaca", "type": "alpaca"}])
    assert hub_ids(cfg) == ["Qwen/Qwen2.5-0.5B-Instruct", "tatsu-lab/alpaca"]
    local = tmp_path / "model"
    local.mkdir()
    assert hub_ids(_cfg(tmp_path, base_model=str(local))) == []


def test_an_unreachable_hub_turns_the_run_offline_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", _closed_port())
    said: list[str] = []
    start = time.monotonic()
    assert settle_hub(_cfg(tmp_path), say=said.append) is True
    assert time.monotonic() - start < 5
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["HF_DATASETS_OFFLINE"] == "1"
    assert len(said) == 1 and "cannot be reached" in said[0] and "Qwen/Qwen2.5-0.5B-Instruct" in said[0]
    # already offline: nothing is asked again
    assert settle_hub(_cfg(tmp_path), say=said.append) is False and len(said) == 1


def test_a_hub_that_answers_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(401)  # the hub without a token: an answer all the same
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert hub_unreachable(url) is None
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", url)
        assert settle_hub(_cfg(tmp_path), say=lambda m: None) is False
        assert "HF_HUB_OFFLINE" not in os.environ
    finally:
        server.shutdown()


def test_a_run_without_network_ends_in_seconds_with_one_note(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yml"
    data = tmp_path / "train.jsonl"
    data.write_text('{"instruction": "a", "output": "b"}\n')
    cfg.write_text(
        yaml.safe_dump(
            {
                "base_model": "someone/not-in-this-cache-0.5B",
                "datasets": [{"path": str(data), "type": "alpaca"}],
                "adapter": "lora",
                "output_dir": str(tmp_path / "out"),
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=_closed_port(), HF_HOME=str(tmp_path / "hf"))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "loradoc", "train", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    took = time.monotonic() - start
    assert proc.returncode != 0
    assert "Retrying" not in proc.stderr and "Traceback" not in proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note: the Hugging Face hub")]
    assert len(notes) == 1 and "someone/not-in-this-cache-0.5B" in notes[0]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "base_model" in errors[0]
    assert took < 60, f"{took:.1f} s"
