#!/usr/bin/env bash
# Usage: GPUS=16 tools/slurm_train.sh PARTITION JOB_NAME CONFIG [tools/train.py arguments...]
exec "$(dirname "$0")/slurm_run.sh" train.py "$@"
