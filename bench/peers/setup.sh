#!/usr/bin/env bash
# Make the peers' virtual environments for `bench/train_throughput.py --peers`:
#   $LORADOC_PEERS/trl      TRL (requirements-trl.txt) on the same torch, transformers, peft, accelerate
#                           and datasets versions as loradoc's environment, so only the trainer differs
#   $LORADOC_PEERS/axolotl  Axolotl (requirements-axolotl.txt) with the HF stack it pins itself, on the same torch
# LORADOC_PEERS defaults to <tempdir>/loradoc-peers; LORADOC_PYTHON (default .venv/bin/python) is loradoc's
# environment, read for the versions to match. torch is pinned by a constraint file in both, so pip keeps the
# build already on disk and never resolves a CUDA torch. Needs the package index; takes ~2 min (TRL) and
# ~6 min (Axolotl, many dependencies). Run again to repair: existing environments are updated in place.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/bench/peers"
LORADOC_PYTHON=${LORADOC_PYTHON:-$ROOT/.venv/bin/python}
PEERS=${LORADOC_PEERS:-$(python3 -c 'import tempfile; print(tempfile.gettempdir())')/loradoc-peers}
only=${1:-all}   # all | trl | axolotl

[ -x "$LORADOC_PYTHON" ] || { echo "error: no loradoc environment at $LORADOC_PYTHON (set LORADOC_PYTHON)" >&2; exit 2; }
mkdir -p "$PEERS"
pins="$PEERS/loradoc-pins.txt"
"$LORADOC_PYTHON" - "$pins" <<'PY'
import sys
from importlib.metadata import version
names = ["torch", "transformers", "peft", "accelerate", "datasets", "tokenizers"]
lines = [f"{n}=={version(n).split('+')[0]}" for n in names]
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
print("loradoc's environment: " + ", ".join(lines))
PY
torch_pin="$PEERS/torch-pin.txt"
grep '^torch==' "$pins" > "$torch_pin"

make_env() {  # name, pip arguments...
  local name=$1; shift
  echo "== $PEERS/$name"
  [ -x "$PEERS/$name/bin/python" ] || python3 -m venv "$PEERS/$name"
  local started=$SECONDS
  "$PEERS/$name/bin/pip" install --disable-pip-version-check -q "$@"
  echo "   installed in $((SECONDS - started)) s: $("$PEERS/$name/bin/python" -m pip list --format=freeze 2>/dev/null \
    | grep -iE '^(torch|transformers|peft|trl|axolotl)==' | tr '\n' ' ')"
}
if [ "$only" = all ] || [ "$only" = trl ]; then
  make_env trl -c "$pins" -r "$HERE/requirements-trl.txt"
fi
if [ "$only" = all ] || [ "$only" = axolotl ]; then
  make_env axolotl -c "$torch_pin" -r "$HERE/requirements-axolotl.txt"
fi
echo "done: .venv/bin/python bench/train_throughput.py --peers   (LORADOC_PEERS=$PEERS)"
