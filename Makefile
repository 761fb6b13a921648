# lvseg: the three commands of the README, and a few more.
VENV ?= .venv
PY := $(VENV)/bin/python
# One thread per process: pytest runs one worker per core (pytest-xdist), and the tools the tests start add more.
export OMP_NUM_THREADS ?= 1
# Cores, counted so that OMP_NUM_THREADS does not shrink the count (GNU nproc honours it).
JOBS ?= $(shell getconf _NPROCESSORS_ONLN)
# make wheelhouse: the CPython of the GPU nodes it is for (the folder: WHEELHOUSE, default wheelhouse/cpXY).
PYTHON_VERSION ?= 3.12

.PHONY: setup test test-fast demo lint bench wheelhouse gpu-check

setup:  ## build .venv with torch, mmcv (compiled ops), mmengine, mmseg, timm and lvseg (offline: WHEELHOUSE=DIR TORCH_PACKAGES=system)
	VENV=$(VENV) bash tools/setup_env.sh

$(PY):  # a clone without the environment: build it first
	@echo "make: $(PY) does not exist yet: running 'make setup' first"
	$(MAKE) setup

wheelhouse: | $(PY)  ## everything lvseg needs beyond torch/torchvision, for CPython $(PYTHON_VERSION), in one folder (needs the index)
	$(PY) tools/wheelhouse.py build $(or $(WHEELHOUSE),wheelhouse/cp$(subst .,,$(PYTHON_VERSION))) \
		--python-version $(PYTHON_VERSION) $(if $(HAVE),--have $(HAVE))

gpu-check:  ## on a CUDA node: offline set-up if needed, the CUDA tests, the benchmarks, bf16 runs, a report (DRY_RUN=1: CPU)
	VENV=$(VENV) bash tools/gpu_check.sh

test: | $(PY)  ## the whole suite, slow end-to-end tests included (what CI runs), one worker per core
	$(PY) -m pytest tests -ra --durations=15 -n $(JOBS) --dist loadfile --no-loadscope-reorder

test-fast: | $(PY)  ## the suite without the slow end-to-end tests
	$(PY) -m pytest tests -ra -m "not slow" -n $(JOBS) --dist loadfile --no-loadscope-reorder

demo: | $(PY)  ## synthetic data -> train a small LV-ViT UperNet on the CPU -> test, print mIoU, write pictures
	bash tools/demo.sh

lint: | $(PY)  ## ruff, with the settings of pyproject.toml
	$(PY) -m ruff check lvseg tools tests bench configs

bench: | $(PY)  ## the benchmarks in their short mode
	for b in bench/*.py; do $(PY) $$b --short || exit 1; done
