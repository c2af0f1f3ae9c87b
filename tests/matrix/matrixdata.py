"""Matrix data for the tests: the shipped matrix cut down to what the local index serves."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
# Nothing listens on port 9 (discard) of the loopback: an index there is unreachable.
UNREACHABLE_TORCH_INDEX = "http://127.0.0.1:9/whl/{variant}"
LINUX = 'platform_system == "Linux" and platform_machine == "x86_64"'


def shipped_matrix_data() -> dict[str, Any]:
    return tomllib.loads((REPO / "compat" / "matrix.toml").read_text(encoding="utf-8"))


def small_matrix_data() -> dict[str, Any]:
    """The shipped matrix cut down to facts the fake index serves."""
    data = copy.deepcopy(shipped_matrix_data())
    data["torch"] = {"2.9": data["torch"]["2.9"]}
    data["torch"]["2.9"]["releases"] = [
        r for r in data["torch"]["2.9"]["releases"] if r["version"] == "2.9.1"
    ]
    xf = data["xformers"]
    xf["release"] = [r for r in xf["release"] if r["version"] in ("0.0.33.post2", "0.0.34")]
    for pin in xf.get("git_pin", []):
        pin.pop("until", None)  # names a release cut from this small matrix
    fa = data["flash_attn"]
    fa["release"] = [dict(r, versions=["2.8.3"]) for r in fa["release"] if "2.8.3" in r["versions"]]
    bnb = data["bitsandbytes"]
    bnb["release"] = [r for r in bnb["release"] if r["versions"] == "==0.48.2"]
    data["hf"] = [
        h
        for h in data["hf"]
        if (h["package"], h["versions"]) in (("transformers", ">=5.21,<5.25"), ("peft", ">=0.18"))
    ]
    return data


def matrix_text_with_xformers(versions: tuple[str, ...]) -> str:
    """The shipped matrix.toml text keeping only these ``[[xformers.release]]`` blocks."""
    blocks: list[list[str]] = [[]]
    for line in (REPO / "compat" / "matrix.toml").read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            blocks.append([])
        blocks[-1].append(line)
    keep = []
    for block in blocks:
        if block and block[0].strip() == "[[xformers.release]]":
            version = next(ln.split("=", 1)[1].strip().strip('"') for ln in block if ln.startswith("version"))
            if version not in versions:
                continue
        if block and block[0].strip() == "[[xformers.git_pin]]":
            block = [ln for ln in block if not ln.startswith("until")]  # may name a cut release
        keep.extend(block)
    return "\n".join(keep) + "\n"
