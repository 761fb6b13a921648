#!/usr/bin/env bash
# Builds lvseg's Python environment in .venv/: torch, mmcv 2.1.0 with compiled ops (built from its
# sdist, since PyPI has no wheels for it), mmengine, mmsegmentation 1.2.2, timm and lvseg itself.
#
# Idempotent: a second run reuses the venv and the cached mmcv wheel and takes seconds.
# Two ways to get torch and the rest:
#   online (default)             torch from TORCH_PACKAGES, everything else from the package index;
#   offline onto a node's torch  WHEELHOUSE=DIR TORCH_PACKAGES=system: a venv that sees PYTHON's own torch (never
#                                installed or changed here), everything else from DIR only (pip --no-index), a
#                                folder made by 'make wheelhouse' (tools/wheelhouse.py) where the index is reachable.
# Environment knobs:
#   VENV          where the environment lives                        (default: .venv)
#   PYTHON        the interpreter that creates it                    (default: python3)
#   TORCH_PACKAGES    the torch requirement(s) to install, or 'system'   (default: torch==2.14.1 torchvision==0.29.1)
#   WHEELHOUSE    install from this folder only, offline             (default: unset, use the package index)
#   LVSEG_CACHE   where built mmcv wheels are kept, outside the repo (default: ~/.cache/lvseg)
#   MAX_JOBS      parallel compile jobs for mmcv's ops               (default: number of cores)
#   MMCV_CUDA     1 to build mmcv's CUDA ops, 0 for CPU ops only     (default online: 1 when nvcc and a GPU are
#                 seen; offline: 0, lvseg's models call none of mmcv's compiled ops and the CUDA build takes far longer)
set -euo pipefail

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_PACKAGES=${TORCH_PACKAGES:-torch==2.14.1 torchvision==0.29.1}
WHEELHOUSE=${WHEELHOUSE:-}
LVSEG_CACHE=${LVSEG_CACHE:-$HOME/.cache/lvseg}
# GNU nproc honours OMP_NUM_THREADS (the Makefile sets it to 1 for the tests): count the online cores instead.
MAX_JOBS=${MAX_JOBS:-$(getconf _NPROCESSORS_ONLN)}
MMCV_VERSION=2.1.0
# mmcv's setup.py and mmengine 0.10 import pkg_resources (gone in setuptools 81+); torch 2.14 wants >= 77.0.3.
SETUPTOOLS_REQUIREMENT='setuptools>=77.0.3,<81'
TOOLS="$(cd "$(dirname "$0")" && pwd)"

step() { printf '\n==> [setup] %s\n' "$*"; }
fail() {
  printf '\n!!! [setup] step failed: %s\n!!! %s\n' "$1" "$2" >&2
  exit 1
}

if [ -n "$WHEELHOUSE" ]; then
  [ "$TORCH_PACKAGES" = system ] ||
    fail "offline install" "WHEELHOUSE=$WHEELHOUSE installs onto an existing torch: add TORCH_PACKAGES=system (a wheelhouse holds no torch)"
  WHEELHOUSE=$(cd "$WHEELHOUSE" 2>/dev/null && pwd) ||
    fail "offline install" "no wheelhouse folder '$WHEELHOUSE': make one with 'make wheelhouse' where the package index is reachable"
  # pip sees the wheelhouse and nothing else: no index, and none of the find-links, indexes or constraints that
  # pip's configuration files may name.
  export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELHOUSE"
  unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT
fi

step "1/6 virtual environment in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  if [ "$TORCH_PACKAGES" = system ]; then
    # Without ensurepip in the base interpreter (Debian without python3-venv), a venv without pip of its own: the
    # pip it sees (the base's, or PYTHON's through the .pth file below) installs into it.
    "$PYTHON" -m venv --system-site-packages "$VENV" 2>/dev/null ||
      { rm -rf "$VENV" && "$PYTHON" -m venv --system-site-packages --without-pip "$VENV"; } ||
      fail "create venv" "check that '$PYTHON' has the venv module (Debian: apt-get install python3-venv)"
    # When PYTHON is itself a venv (as on nodes whose torch lives in /opt/<x>/.venv), a venv made from it sees the
    # base interpreter's site-packages only: a .pth file adds PYTHON's own, with their .pth files.
    "$PYTHON" - "$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" <<'PY'
import pathlib, site, sys
if sys.prefix != sys.base_prefix:
    lines = [f'import site; site.addsitedir({path!r})\n' for path in site.getsitepackages()]
    pathlib.Path(sys.argv[1], '_lvseg_base_env.pth').write_text(''.join(lines))
PY
  else
    "$PYTHON" -m venv "$VENV" || fail "create venv" "check that '$PYTHON' has the venv module (Debian: apt-get install python3-venv)"
  fi
fi
PY="$(cd "$VENV" && pwd)/bin/python"  # absolute: the mmcv build runs in another folder
PIP=("$PY" -m pip --disable-pip-version-check)

# offline_install WHAT ARGS...: install, without dependencies, the wheels that tools/wheelhouse.py plans from
# WHEELHOUSE for ARGS (requirements, --requires-of DISTS); it names in one line whatever the folder lacks.
offline_install() {
  local what=$1 plan
  shift
  plan=$("$PY" "$TOOLS/wheelhouse.py" plan "$WHEELHOUSE" "$@") ||
    fail "$what" "the wheelhouse lacks what the line above names: make it again ('make wheelhouse', docs/get_started.md#gpu-clusters-without-internet)"
  if [ -n "$plan" ]; then
    local wheels
    mapfile -t wheels <<<"$plan"
    echo "installing from the wheelhouse: $(printf '%s\n' "${wheels[@]##*/}" | sed 's/-py3.*\|-cp3.*//' | tr '\n' ' ')"
    "${PIP[@]}" install -q --no-index --no-deps "${wheels[@]}" || fail "$what" "pip could not install the wheels above"
  fi
}

step "2/6 build tools ($SETUPTOOLS_REQUIREMENT, wheel, ninja)"
if [ -n "$WHEELHOUSE" ]; then
  if ! "$PY" -c 'import packaging.requirements' 2>/dev/null; then  # tools/wheelhouse.py reads requirements with it
    compgen -G "$WHEELHOUSE/packaging-*.whl" >/dev/null || fail "build tools" "the wheelhouse $WHEELHOUSE lacks packaging"
    "${PIP[@]}" install -q --no-index --no-deps "$WHEELHOUSE"/packaging-*.whl || fail "build tools" "packaging did not install"
  fi
  offline_install "build tools" "$SETUPTOOLS_REQUIREMENT" wheel ninja
else
  "${PIP[@]}" install -q "$SETUPTOOLS_REQUIREMENT" wheel ninja ||
    fail "build tools" "pip could not install setuptools/wheel/ninja; check the package index is reachable"
fi

CONSTRAINTS=()
if [ "$TORCH_PACKAGES" = system ]; then
  step "3/6 torch: the one $PYTHON has (TORCH_PACKAGES=system: never installed or changed here)"
else
  step "3/6 torch ($TORCH_PACKAGES)"
  # shellcheck disable=SC2086  # TORCH_PACKAGES holds several requirements on purpose
  "${PIP[@]}" install -q $TORCH_PACKAGES ||
    fail "torch" "pip could not install '$TORCH_PACKAGES'; set TORCH_PACKAGES to a torch/torchvision pair your index serves"
fi
versions=$("$PY" -c 'import torch, torchvision; print(torch.__version__, torchvision.__version__, int(torch.cuda.is_available()))' 2>/dev/null) ||
  fail "torch" "$VENV does not import torch and torchvision: with TORCH_PACKAGES=system, set PYTHON to the interpreter that has them (and remove $VENV if it was made from another)"
read -r TORCH_VERSION TORCHVISION_VERSION TORCH_CUDA_OK <<<"$versions"
echo "torch $TORCH_VERSION, torchvision $TORCHVISION_VERSION, CUDA available: $([ "$TORCH_CUDA_OK" = 1 ] && echo yes || echo no)"
if [ "$TORCH_PACKAGES" = system ]; then  # online, pip resolves lvseg's requirements: it must keep this torch
  printf 'torch==%s\ntorchvision==%s\n' "$TORCH_VERSION" "$TORCHVISION_VERSION" >"$VENV/torch-constraints.txt"
  CONSTRAINTS=(-c "$VENV/torch-constraints.txt")
fi

step "4/6 mmcv $MMCV_VERSION with compiled ops"
if [ -z "${MMCV_CUDA:-}" ] && [ -n "$WHEELHOUSE" ]; then
  MMCV_CUDA=0
elif [ -z "${MMCV_CUDA:-}" ]; then
  if command -v nvcc >/dev/null 2>&1 && [ "$TORCH_CUDA_OK" = 1 ]; then MMCV_CUDA=1; else MMCV_CUDA=0; fi
fi
ops_kind=$([ "$MMCV_CUDA" = 1 ] && echo cuda || echo cpu)
wheel_dir="$LVSEG_CACHE/wheels/mmcv-$MMCV_VERSION/torch-$TORCH_VERSION-$ops_kind-$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
if "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; then
  echo "mmcv $MMCV_VERSION with ops already installed"
else
  if ! ls "$wheel_dir"/mmcv-*.whl >/dev/null 2>&1; then
    echo "no cached wheel in $wheel_dir: building mmcv $MMCV_VERSION ($ops_kind ops, $MAX_JOBS jobs; CPU ops: 15-40 min on 2 cores)"
    started=$SECONDS
    build_dir=$(mktemp -d)
    trap 'rm -rf "$build_dir"' EXIT
    if [ -n "$WHEELHOUSE" ]; then
      cp "$WHEELHOUSE/mmcv-$MMCV_VERSION.tar.gz" "$build_dir/" 2>/dev/null ||
        fail "mmcv sdist" "the wheelhouse $WHEELHOUSE lacks mmcv-$MMCV_VERSION.tar.gz"
    else
      "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$MMCV_VERSION" -d "$build_dir" ||
        fail "mmcv sdist" "could not download the mmcv $MMCV_VERSION sdist from the package index"
    fi
    tar -xzf "$build_dir/mmcv-$MMCV_VERSION.tar.gz" -C "$build_dir"
    # torch >= 2.10 headers require C++20; mmcv 2.1.0 hard-codes -std=c++14/17.
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$build_dir/mmcv-$MMCV_VERSION/setup.py"
    # CUDA ops are compiled for TORCH_CUDA_ARCH_LIST, by default for the GPUs this machine sees. mmcv's setup.py
    # compiles them whenever torch sees a GPU, whatever FORCE_CUDA says: for CPU ops, the build sees none.
    hide_gpus=()
    [ "$MMCV_CUDA" = 1 ] || hide_gpus=(CUDA_VISIBLE_DEVICES=)
    (cd "$build_dir/mmcv-$MMCV_VERSION" &&
      env "${hide_gpus[@]}" MMCV_WITH_OPS=1 FORCE_CUDA="$MMCV_CUDA" MAX_JOBS="$MAX_JOBS" \
        "${PIP[@]}" wheel -q --no-build-isolation --no-deps . -w "$build_dir/dist") ||
      fail "mmcv build" "the compile failed; read the compiler output above (MAX_JOBS=1 helps when memory is short)"
    # Strip debug symbols (83 MB -> 2 MB) before caching; publish the wheel atomically.
    (cd "$build_dir/dist" && mkdir x && cd x && "$PY" -m zipfile -e ../mmcv-*.whl . &&
      find . -name '_ext*.so' -exec strip --strip-debug {} + && rm ../mmcv-*.whl &&
      "$PY" -m wheel pack . -d .. >/dev/null) || echo "(could not strip the wheel; caching it as built)"
    mkdir -p "$wheel_dir"
    whl=$(ls "$build_dir"/dist/mmcv-*.whl)
    cp "$whl" "$wheel_dir/.$(basename "$whl").part" && mv "$wheel_dir/.$(basename "$whl").part" "$wheel_dir/$(basename "$whl")"
    echo "built mmcv $MMCV_VERSION ($ops_kind ops) in $((SECONDS - started)) s with $MAX_JOBS jobs"
  fi
  echo "installing $(ls "$wheel_dir"/mmcv-*.whl)"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-*.whl ||
    fail "mmcv install" "the cached wheel in $wheel_dir did not install; delete that folder and run again"
fi

if [ -n "$WHEELHOUSE" ]; then
  step "5/6 lvseg (editable) and its requirements from $WHEELHOUSE"
  "${PIP[@]}" install -q --no-deps --no-build-isolation --use-pep517 -e . || fail "lvseg" "pip could not install lvseg from $(pwd)"
  offline_install "lvseg's requirements" pytest --requires-of lvseg mmcv
else
  step "5/6 mmengine, mmsegmentation 1.2.2, timm, opencv, onnxruntime and lvseg (editable)"
  "${PIP[@]}" install -q --no-build-isolation "${CONSTRAINTS[@]}" -e ".[tests,deploy]" "$SETUPTOOLS_REQUIREMENT" ||
    fail "lvseg" "pip could not install lvseg's requirements (setup.py); read pip's message above"
fi

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
