#!/usr/bin/env bash
# Usage: tools/dist_pretrain.sh CONFIG GPUS [tools/pretrain.py arguments...]
exec "$(dirname "$0")/torchrun.sh" pretrain.py "$2" "$1" "${@:3}"
