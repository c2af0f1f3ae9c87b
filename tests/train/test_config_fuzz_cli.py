"""Fuzzing the whole `loradoc train` command line: generated documents (with nested dataset
entries, also under test_datasets) written to a file, plus generated override words (including
overrides of nested keys) through ``loradoc.cli.main``: every run ends in exit 0, 1 or 2 with
error lines (click's own "Error:" for a bad flag value), never a traceback or another exception."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from config_cli_helpers import CPU
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_config_fuzz import WORDS, dataset, documents, values

from loradoc.cli import main
from loradoc.config.load import config_from_dict, parse_overrides
from loradoc.errors import UserError

FUZZ_CLI = settings(
    max_examples=int(os.environ.get("LORADOC_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# override words: real keys (with dashes or underscores, with = or a separate value), values
# that are YAML (lists, mappings, nested dataset entries), junk
_KEYS = [
    "learning_rate",
    "lora-r",
    "datasets",
    "test_datasets",
    "sample_packing",
    "val_set_size",
    "num-processes",
    "resume_from_checkpoint",
    "output_dir",
    "lerning_rate",
    "datasets.0.path",
    "x",
]
_VALUES = st.sampled_from(
    [
        *WORDS,
        "1e-4",
        "-1",
        "0",
        "[a, b]",
        "{path: x}",
        "[{path: d.jsonl, type: alpaca}]",
        "[{path: d, type: alpaca, roles: {user: [a]}}]",
        "[{path: 3}]",
        "'",
        "{",
        "!!python/none",
        "~",
        "true",
    ]
) | st.text(max_size=10)


@st.composite
def override_words(draw: Any) -> list[str]:
    words: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(_KEYS))
        if draw(st.booleans()):
            words.append(f"--{key}={draw(_VALUES)}")
        else:
            words += [f"--{key}", draw(_VALUES)]
    if draw(st.booleans()):
        words.append(draw(st.sampled_from(["--sample_packing", "--", "stray", "--dry-run"])))
    return words


nested_documents = st.builds(
    lambda doc, tests: {**doc, **({"test_datasets": tests} if tests is not None else {})},
    documents,
    st.none() | st.lists(dataset, max_size=2) | values,
)


@FUZZ_CLI
@given(nested_documents, override_words())
def test_documents_with_overrides_give_a_config_or_a_user_error(
    doc: dict[str, Any], words: list[str]
) -> None:
    try:
        config_from_dict(doc, overrides=parse_overrides(words), echo=False)
    except UserError as exc:
        assert exc.message


@FUZZ_CLI
@given(nested_documents, override_words())
def test_the_train_command_never_shows_a_traceback(doc: dict[str, Any], words: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        code: Any = None
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["train", str(path), "--dry-run", "--from", str(CPU), *words])
            except SystemExit as exc:
                code = exc.code
        assert code in (0, 1, 2), (code, err.getvalue()[-2000:])
        assert "Traceback" not in err.getvalue()
        if code == 2:  # our one-line errors, or click's usage error for a bad flag value
            assert [line for line in err.getvalue().splitlines() if line.lower().startswith("error:")]
