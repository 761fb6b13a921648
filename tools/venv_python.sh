# Sourced by tools/torchrun.sh and tools/slurm_run.sh in the repository root: sets PYTHON to the interpreter that
# runs lvseg's tools, $VENV/bin/python where it exists (VENV: default .venv, the one 'make setup' builds; a relative
# path is taken from the repository root), else PYTHON (default python from the PATH), as tools/gpu_check.sh does.
# Stops with one line and status 2 where that interpreter cannot import torch.
VENV=${VENV:-.venv}
if [ -x "$VENV/bin/python" ]; then PYTHON=$VENV/bin/python; else PYTHON=${PYTHON:-python}; fi
"$PYTHON" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null || {
  echo "$(basename "$0"): $PYTHON ($(command -v "$PYTHON" || echo 'not found')) cannot import torch: run" \
    "'make setup VENV=$VENV' or activate lvseg's environment" >&2
  exit 2
}
