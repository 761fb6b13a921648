#!/usr/bin/env bash
# Run one of lvseg's tools on NPROC processes of this node (or NNODES nodes) with PyTorch's launcher.
# Usage: tools/torchrun.sh TOOL NPROC [tool arguments...]      e.g. tools/torchrun.sh train.py 8 CONFIG
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500), VENV and PYTHON (tools/venv_python.sh).
set -euo pipefail
TOOL=$1
NPROC=$2
shift 2
cd "$(dirname "$0")/.."
. tools/venv_python.sh
exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" "tools/$TOOL" "$@" --launcher pytorch
