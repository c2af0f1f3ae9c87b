"""diagnose(): ordering, the ok summary, isolation of a failing rule, and robustness on partial
and garbled snapshots (bug reports carry whatever the user pasted)."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace
from typing import Any

from doctor_helpers import SNAPSHOTS, by_code, codes, run, snap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loradoc.compat import load_matrix
from loradoc.doctor.diagnose import diagnose, has_errors
from loradoc.doctor.findings import Finding, Severity
from loradoc.doctor.rules import RULES, Rule
from loradoc.doctor.snapshot import Snapshot

NAMES = sorted(p.stem for p in SNAPSHOTS.glob("*.json"))
CONFIG = SimpleNamespace(
    bf16=True,
    fp16=False,
    tf32="auto",
    flash_attention=True,
    xformers_attention=True,
    sdp_attention=False,
    attn_implementation=None,
    load_in_4bit=True,
    load_in_8bit=False,
    adapter="qlora",
    wandb_project="p",
    wandb_mode=None,
    micro_batch_size=2,
    sample_packing=True,
    num_processes=2,
)
GARBAGE = ["", "x", "0", "999.999.999", "13.9", "sm_99", "2.99.0+cu999", "-1", "None"]


def test_ok_only_when_nothing_is_wrong() -> None:
    findings = run("healthy_a100")
    assert by_code(findings, "ok") and not has_errors(findings)
    bad = run("driver_too_old_cu130")
    assert not by_code(bad, "ok") and has_errors(bad)


def test_default_matrix_is_loaded() -> None:
    assert codes(diagnose(snap("empty"))) == {"ok"}


def test_a_failing_rule_does_not_hide_the_others() -> None:
    def broken(ctx: Any) -> list[Finding]:
        raise KeyError("boom")

    rules = [Rule("test.broken", ("x",), broken), *RULES]
    findings = diagnose(snap("driver_too_old_cu130"), load_matrix(), rules=rules)
    failure = by_code(findings, "internal-rule-error")[0]
    assert (
        failure.severity is Severity.WARNING
        and "test.broken" in failure.message
        and "KeyError" in failure.message
    )
    assert by_code(findings, "driver-too-old-for-torch-cuda")


def test_duplicates_are_merged() -> None:
    def twice(ctx: Any) -> list[Finding]:
        return [Finding("ok", Severity.WARNING, "same"), Finding("ok", Severity.WARNING, "same")]

    findings = diagnose(snap("empty"), load_matrix(), rules=[Rule("t.twice", ("ok",), twice)])
    assert len(findings) == 1


def _mutate(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "schema_version":
                out[k] = v
            elif rng.random() < 0.3:
                continue  # the bug report did not say
            else:
                out[k] = _mutate(v, rng)
        return out
    if isinstance(value, list):
        return [_mutate(v, rng) for v in value if rng.random() > 0.2]
    if isinstance(value, str) and rng.random() < 0.2:
        return rng.choice(GARBAGE)
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1), with_config=st.booleans())
def test_partial_and_garbled_snapshots_never_crash(name: str, seed: int, with_config: bool) -> None:
    data = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    partial = Snapshot.from_dict(_mutate(data, random.Random(seed)))
    findings = diagnose(partial, load_matrix(), CONFIG if with_config else None)
    assert findings
    assert not by_code(findings, "internal-rule-error"), [f.message for f in findings]
    for f in findings:
        assert f.message and "\n" not in f.message
        json.dumps(f.to_dict())  # details stay JSON-serialisable
