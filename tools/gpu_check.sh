#!/usr/bin/env bash
# make gpu-check: lvseg's CUDA paths and GPU figures in one command, on a node without network.
#   1. stops at once, with one line, where no CUDA device is visible (unless DRY_RUN=1);
#   2. uses the environment in VENV if it imports lvseg with mmcv's ops, else makes it offline from WHEELHOUSE
#      onto PYTHON's own torch (tools/setup_env.sh with TORCH_PACKAGES=system; mmcv's CPU ops are built once, with
#      every core, and cached in LVSEG_CACHE, so a second check reuses them);
#   3. runs tools/gpu_check.py: the CUDA tests, the benchmarks, 20 bf16 iterations of both tools, and writes
#      report.md and report.json into REPORT_DIR.
# Knobs: DRY_RUN=1 (every step on the CPU at the smallest sizes), VENV (default .venv), PYTHON (the node's
# interpreter with torch, default python3), WHEELHOUSE (default wheelhouse/cpXY for PYTHON's version, if there),
# REPORT_DIR (default work_dirs/gpu_check/<UTC time>), MMCV_CUDA (default 0: CPU ops, the budget's build),
# LIMIT_S (stop starting steps after this many seconds in all and report what ran; default: no limit).
set -euo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=${DRY_RUN:-0}
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
REPORT_DIR=${REPORT_DIR:-work_dirs/gpu_check/$(date -u +%Y%m%d-%H%M%S)}
started=$SECONDS

probe=$([ -x "$VENV/bin/python" ] && echo "$VENV/bin/python" || echo "$PYTHON")
if [ "$DRY_RUN" != 1 ]; then
  "$probe" - <<'PY' || exit 1
import sys
try:
    import torch
except ImportError:
    sys.exit(f'gpu-check: {sys.executable} has no torch: set PYTHON to the interpreter with the node\'s torch')
if not torch.cuda.is_available():
    sys.exit(f'gpu-check: no CUDA device visible to torch {torch.__version__} ({sys.executable}): nothing to '
             'check here; DRY_RUN=1 runs every step on the CPU')
PY
fi

mkdir -p "$REPORT_DIR"
if "$probe" -c 'import lvseg, mmcv.ops, mmseg.models' 2>/dev/null; then
  echo "gpu-check: using the environment of $probe"
  setup_python=$probe
else
  WHEELHOUSE=${WHEELHOUSE:-wheelhouse/cp$("$PYTHON" -c 'import sys; print("%d%d" % sys.version_info[:2])')}
  [ -d "$WHEELHOUSE" ] || {
    echo "gpu-check: no environment in $VENV and no wheelhouse $WHEELHOUSE: make one with 'make wheelhouse' where the package index is reachable, copy it here and pass WHEELHOUSE=DIR"
    exit 1
  }
  echo "gpu-check: setting up $VENV offline from $WHEELHOUSE onto $PYTHON's torch (log: $REPORT_DIR/setup.log)"
  if ! WHEELHOUSE="$WHEELHOUSE" TORCH_PACKAGES=system MMCV_CUDA="${MMCV_CUDA:-0}" VENV="$VENV" PYTHON="$PYTHON" \
    bash tools/setup_env.sh >"$REPORT_DIR/setup.log" 2>&1; then
    grep -h '^error:\|^!!!' "$REPORT_DIR/setup.log" >&2 || tail -5 "$REPORT_DIR/setup.log" >&2
    exit 1
  fi
  grep -h '^built mmcv\|^installing\|^torch ' "$REPORT_DIR/setup.log" | sed 's/^/gpu-check: /'
  setup_python=$VENV/bin/python
fi

exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$setup_python" tools/gpu_check.py "$REPORT_DIR" \
  --setup-seconds $((SECONDS - started)) --limit-seconds "${LIMIT_S:-0}" $([ "$DRY_RUN" = 1 ] && echo --dry-run)
