#!/usr/bin/env bash
# Usage: GPUS=8 tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]
exec "$(dirname "$0")/slurm_run.sh" test.py "$@"
