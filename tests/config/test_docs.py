"""docs/config.md's key tables are generated from the declarations and must be up to date."""

from __future__ import annotations

from loradoc.config import docs


def test_the_key_tables_in_docs_config_md_are_current() -> None:
    assert docs.main(["--check"]) == 0, "run: python -m loradoc.config.docs"


def test_a_new_key_appears_in_the_generated_table() -> None:
    table = docs.sections()["keys"]
    assert "| `peft_use_rslora` | bool | `false` |" in table
    assert '| `bf16` | bool \\| "auto" | `auto` |' in table
    assert "`peft_use_rslora`" not in docs.sections()["unsupported-keys"]
