#!/usr/bin/env bash
# Builds lvseg's Python environment in .venv/: torch, mmcv 2.1.0 with compiled ops (built from its
# sdist, since PyPI has no wheels for it), mmengine, mmsegmentation 1.2.2, timm and lvseg itself.
#
# Idempotent: a second run reuses the venv and the cached mmcv wheel and takes seconds.
# Environment knobs:
#   VENV          where the environment lives                        (default: .venv)
#   PYTHON        the interpreter that creates it                    (default: python3)
#   TORCH_SPEC    the torch requirement(s) to install                (default: torch==2.14.1 torchvision==0.29.1)
#   LVSEG_CACHE   where built mmcv wheels are kept, outside the repo (default: ~/.cache/lvseg)
#   MAX_JOBS      parallel compile jobs for mmcv's ops               (default: number of cores)
#   MMCV_CUDA     1 to build mmcv's CUDA ops, 0 for CPU ops only     (default: 1 when nvcc and a GPU are seen)
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
LVSEG_CACHE=${LVSEG_CACHE:-$HOME/.cache/lvseg}
# GNU nproc honours OMP_NUM_THREADS (the Makefile sets it to 1 for the tests): count the online cores instead.
MAX_JOBS=${MAX_JOBS:-$(getconf _NPROCESSORS_ONLN)}
MMCV_VERSION=2.1.0
# mmcv's setup.py and mmengine 0.10 import pkg_resources (gone in setuptools 81+); torch 2.14 wants >= 77.0.3.
SETUPTOOLS_SPEC='setuptools>=77.0.3,<81'

step() { printf '\n==> [setup] %s\n' "$*"; }
fail() {
  printf '\n!!! [setup] step failed: %s\n!!! %s\n' "$1" "$2" >&2
  exit 1
}

step "1/6 virtual environment in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV" || fail "create venv" "check that '$PYTHON' has the venv module (Debian: apt-get install python3-venv)"
fi
PY="$(cd "$VENV" && pwd)/bin/python"  # absolute: the mmcv build runs in another folder
PIP=("$PY" -m pip --disable-pip-version-check)

step "2/6 build tools ($SETUPTOOLS_SPEC, wheel, ninja)"
"${PIP[@]}" install -q "$SETUPTOOLS_SPEC" wheel ninja ||
  fail "build tools" "pip could not install setuptools/wheel/ninja; check the package index is reachable"

step "3/6 torch ($TORCH_SPEC)"
# shellcheck disable=SC2086  # TORCH_SPEC holds several requirements on purpose
"${PIP[@]}" install -q $TORCH_SPEC ||
  fail "torch" "pip could not install '$TORCH_SPEC'; set TORCH_SPEC to a torch/torchvision pair your index serves"
read -r TORCH_VERSION TORCH_CUDA_OK < <("$PY" -c 'import torch; print(torch.__version__, int(torch.cuda.is_available()))')

step "4/6 mmcv $MMCV_VERSION with compiled ops"
if [ -z "${MMCV_CUDA:-}" ]; then
  if command -v nvcc >/dev/null 2>&1 && [ "$TORCH_CUDA_OK" = 1 ]; then MMCV_CUDA=1; else MMCV_CUDA=0; fi
fi
ops_kind=$([ "$MMCV_CUDA" = 1 ] && echo cuda || echo cpu)
wheel_dir="$LVSEG_CACHE/wheels/mmcv-$MMCV_VERSION/torch-$TORCH_VERSION-$ops_kind-$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  echo "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    echo "no cached wheel in $wheel_dir: building mmcv $MMCV_VERSION ($ops_kind ops, $MAX_JOBS jobs; 15-40 min on 2 cores)"
    build_dir=$(mktemp -d)
    trap 'rm -rf "$build_dir"' EXIT
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build_dir" ||
      fail "mmcv sdist" "could not download the mmcv $MMCV_VERSION sdist from the package index"
    tar -xzf "$build_dir/mmcv-$MMCV_VERSION.tar.gz" -C "$build_dir"
    # torch >= 2.10 headers require C++20; mmcv 2.1.0 hard-codes -std=c++14/17.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$build_dir/mmcv-$MMCV_VERSION/setup.py"
    (cd "$build_dir/mmcv-$MMCV_VERSION" &&
      MMCV_WITH_OPS=1 FORCE_CUDA="$MMCV_CUDA" MAX_JOBS="$MAX_JOBS" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps . -w "$build_dir/dist") ||
      fail "mmcv build" "the compile failed; read the compiler output above (MAX_JOBS=1 helps when memory is short)"
    # Strip debug symbols (83 MB -> 2 MB) before caching; publish the wheel atomically.
    (cd "$build_dir/dist" && mkdir x && cd x && "$PY" -m zipfile -e ../mmcv-*.whl . &&
      find . -name '_ext*.so' -exec strip --strip-debug {} + && rm ../mmcv-*.whl &&
      "$PY" -m wheel pack . -d .. >/dev/null) || echo "(could not strip the wheel; caching it as built)"
    mkdir -p "$wheel_dir"
    whl=$(ls "$build_dir"/dist/mmcv-*.whl)
    cp "$whl" "$wheel_dir/.$(basename "$whl").part" && mv "$wheel_dir/.$(basename "$whl").part" "$wheel_dir/$(basename "$whl")"
  fi
  echo "installing $(ls "$wheel_dir"/mmcv-*.whl)"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl ||
    fail "mmcv install" "the cached wheel in $wheel_dir did not install; delete that folder and run again"
fi

step "5/6 mmengine, mmsegmentation 1.2.2, timm, opencv and lvseg (editable)"
"${PIP[@]}" install -q --no-build-isolation -e ".[tests]" "$SETUPTOOLS_SPEC" ||
  fail "lvseg" "pip could not install lvseg's requirements (setup.py); read pip's message above"

step "6/6 check"
"$PY" - <<'PY' || fail "check" "the environment imports incompletely; run 'make setup' again after reading the traceback"
import mmcv, mmcv.ops, mmengine, mmseg, mmseg.models, timm, torch
import lvseg
from mmseg.registry import MODELS
assert 'LVViT' in MODELS.module_dict, 'lvseg did not register LVViT'
print(f'torch {torch.__version__} | mmcv {mmcv.__version__} (ops) | mmengine {mmengine.__version__} '
      f'| mmseg {mmseg.__version__} | timm {timm.__version__} | lvseg {lvseg.__version__}')
PY
echo "setup done: activate with 'source $VENV/bin/activate'"
