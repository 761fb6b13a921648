#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [tools/train.py arguments...]
exec "$(dirname "$0")/torchrun.sh" train.py "$2" "$1" "${@:3}"
