# lvseg: the three commands of the README, and a few more.
VENV ?= .venv
PY := $(VENV)/bin/python
# One thread per process: pytest runs one worker per core (pytest-xdist), and the tools the tests start add more.
export OMP_NUM_THREADS ?= 1
# Cores, counted so that OMP_NUM_THREADS does not shrink the count (GNU nproc honours it).
JOBS ?= $(shell getconf _NPROCESSORS_ONLN)

.PHONY: setup test test-fast demo lint bench

setup:  ## build .venv with torch, mmcv (compiled ops), mmengine, mmseg, timm and lvseg
	VENV=$(VENV) bash tools/setup_env.sh

$(PY):  # a clone without the environment: build it first
	@echo "make: $(PY) does not exist yet: running 'make setup' first"
	$(MAKE) setup

test: | $(PY)  ## the whole suite, slow end-to-end tests included (what CI runs), one worker per core
	$(PY) -m pytest tests -ra --durations=15 -n $(JOBS) --dist loadfile

test-fast: | $(PY)  ## the suite without the slow end-to-end tests
	$(PY) -m pytest tests -ra -m "not slow" -n $(JOBS) --dist loadfile

demo: | $(PY)  ## synthetic data -> train a small LV-ViT UperNet on the CPU -> test, print mIoU, write pictures
	bash tools/demo.sh

lint: | $(PY)  ## ruff, with the settings of pyproject.toml
	$(PY) -m ruff check lvseg tools tests bench configs

bench: | $(PY)  ## the benchmarks in their short mode
	for b in bench/*.py; do $(PY) $$b --short || exit 1; done
