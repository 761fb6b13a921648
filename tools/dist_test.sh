#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments...]
exec "$(dirname "$0")/torchrun.sh" test.py "$3" "$1" "$2" "${@:4}"
