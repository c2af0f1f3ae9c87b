#!/usr/bin/env bash
# One-shot GPU proof on a machine with no network: install loradoc from this working tree, then run
# bench/gpu_check.py, which writes $OUT/gpu_check.json (or ./gpu_check.json) and prints a summary.
#
#   bash bench/gpu_check.sh [gpu_check.py options]     # e.g. --budget 420, --cpu-dry-run
#
# - Wheels in bench/wheels/*.whl (optional, carried with the tree, <= 64 MiB) are installed first,
#   each on its own, offline and without dependencies; one that fails is reported and skipped.
# - loradoc: `pip install --no-deps --no-build-isolation --no-index -e .` when setuptools (>= 77,
#   for pyproject's license string) and wheel are importable; otherwise gpu_check.py stages
#   src/loradoc (its compat_data included) into a temp folder and runs from there.
# - Nothing here needs the network, and no missing optional package stops the run.
# - GPU_CHECK_TIMEOUT (default 480 s) stops the run from outside as well; gpu_check.py keeps to
#   --budget (450 s by default) on its own.
# - The exit status is gpu_check.py's: 0 when no step failed, 1 when one did; the report is
#   written either way (after every step, so even a killed run leaves one).
set -u
cd "$(dirname "$0")/.." || exit 2
PY="${PYTHON:-python}"
log() { echo "[gpu_check.sh] $*"; }

if ! command -v "$PY" >/dev/null 2>&1; then
    PY=python3
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_INDEX=1

notes=()
shopt -s nullglob
wheels=(bench/wheels/*.whl)
shopt -u nullglob
for whl in "${wheels[@]}"; do
    if "$PY" -m pip install --no-index --no-deps --quiet "$whl" >/dev/null 2>&1; then
        log "installed $whl"
        notes+=("wheel $(basename "$whl"): installed")
    else
        log "could not install $whl (skipped)"
        notes+=("wheel $(basename "$whl"): failed")
    fi
done

setuptools_ok=$("$PY" - <<'EOF' 2>/dev/null
import setuptools, wheel  # noqa: F401
major = int(setuptools.__version__.split(".")[0])
print("yes" if major >= 77 else f"setuptools {setuptools.__version__} < 77")
EOF
)
if [ "$setuptools_ok" = "yes" ]; then
    if "$PY" -m pip install --no-deps --no-build-isolation --no-index --quiet -e . >/tmp/gpu_check_pip.log 2>&1; then
        log "loradoc installed (editable, offline)"
        notes+=("loradoc: pip install -e . ok")
    else
        log "pip install -e . failed; gpu_check.py will stage the tree instead (tail of the log below)"
        tail -n 5 /tmp/gpu_check_pip.log
        notes+=("loradoc: pip install -e . failed: $(tail -n 1 /tmp/gpu_check_pip.log | cut -c1-200)")
    fi
else
    log "setuptools/wheel not usable (${setuptools_ok:-not importable}); gpu_check.py will stage the tree"
    notes+=("loradoc: not installed (${setuptools_ok:-setuptools/wheel not importable}); staged")
fi

note=""
for n in ${notes[@]+"${notes[@]}"}; do note="${note:+$note; }$n"; done
# A hard stop 8 minutes in (GPU_CHECK_TIMEOUT): SIGTERM lets the script record the step it was in
# and write the report; SIGKILL 20 s later if a C call (a kernel, a compile) does not return.
limit="${GPU_CHECK_TIMEOUT:-480}"
if command -v timeout >/dev/null 2>&1; then
    exec timeout --signal=TERM --kill-after=20 "$limit" "$PY" bench/gpu_check.py --install-note "$note" "$@"
fi
exec "$PY" bench/gpu_check.py --install-note "$note" "$@"
