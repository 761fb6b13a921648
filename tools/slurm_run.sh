#!/usr/bin/env bash
# Run one of lvseg's tools as a Slurm job step with mmengine's slurm launcher.
# Usage: tools/slurm_run.sh TOOL PARTITION JOB_NAME [tool arguments...]
# Environment: GPUS (8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS (""), VENV and PYTHON
# (tools/venv_python.sh).
set -euo pipefail
TOOL=$1
PARTITION=$2
JOB_NAME=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
cd "$(dirname "$0")/.."
. tools/venv_python.sh
# shellcheck disable=SC2086  # SRUN_ARGS may hold several options
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres="gpu:$GPUS_PER_NODE" --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="${CPUS_PER_TASK:-5}" --kill-on-bad-exit=1 \
  ${SRUN_ARGS:-} "$PYTHON" -u "tools/$TOOL" "$@" --launcher slurm
