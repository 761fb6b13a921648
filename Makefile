# lvseg: the three commands of the README, and a few more.
VENV ?= .venv
PY := $(VENV)/bin/python
# pytest's workers: the tests are CPU-bound and the CI machine has 2 cores.
export OMP_NUM_THREADS ?= 1

.PHONY: setup test test-fast demo lint bench

setup:  ## build .venv with torch, mmcv (compiled ops), mmengine, mmseg, timm and lvseg
	VENV=$(VENV) bash tools/setup_env.sh

test:  ## the whole suite, slow end-to-end tests included (what CI runs)
	$(PY) -m pytest tests -ra --durations=15

test-fast:  ## the suite without the slow end-to-end tests
	$(PY) -m pytest tests -ra -m "not slow"

demo:  ## synthetic data -> train a small LV-ViT UperNet on the CPU -> test, print mIoU, write pictures
	bash tools/demo.sh

lint:
	$(PY) -m ruff check --line-length 120 --select E,F,W,I,B --ignore B905 lvseg tools tests bench configs

bench:  ## the benchmarks in their short mode
	for b in bench/*.py; do $(PY) $$b --short || exit 1; done
