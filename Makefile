# Two commands do everything on a fresh machine:
#   make demo   set up .venv if needed, then run the main job on the embedded digits data
#   make test   set up .venv if needed, then lint (ruff) and run the test suite
#   make docs   set up .venv if needed, then build the documentation site (docs/_build/html)
# The virtual environment is rebuilt only when pyproject.toml or this file change.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.neuro-installed
# torch's CPU wheel where no NVIDIA GPU answers; elsewhere pip picks a CUDA build within the range in pyproject.toml
TORCH_CPU ?= torch==2.13.0
# the GPU extra (CuPy with its CUDA toolkit wheels) where nvidia-smi answers: gpu-cuda12 / gpu-cuda13 by the driver's
# CUDA major (scripts/gpu_check.sh --extra), so `pytest -m gpu` runs the GPU tests; GPU_EXTRA=none installs none
GPU_EXTRA ?= auto
# `make gpu-check DRY_RUN=1` prints the steps without running them
DRY_RUN ?=

.PHONY: demo test lint setup clean bench gpu-check docs

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile requirements/peers.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@extra="$(GPU_EXTRA)"; \
	if [ "$$extra" = auto ]; then extra=$$(bash scripts/gpu_check.sh --extra); fi; \
	if [ "$$extra" = none ]; then extra=""; fi; \
	if nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing the CUDA build of torch chosen by pip$${extra:+ and the $$extra extra (CuPy)}"; \
	else \
		echo "no NVIDIA GPU: installing $(TORCH_CPU) (CPU wheel) first"; \
		$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_CPU)"; \
	fi; \
	echo "$(PY) -m pip install -e '.[dev$${extra:+,$$extra}]'"; \
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev$${extra:+,$$extra}]"
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/peers.txt
	$(PY) -m neuro warmup
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m neuro demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP)
	$(VENV)/bin/ruff check .
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

# the documentation site into docs/_build/html (warnings are errors); notebooks are executed and cached in
# docs/_build/.jupyter_cache (NEURO_DOCS_EXECUTE=off builds without executing them, as tests/test_docs_site.py does)
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -b html -W --keep-going docs docs/_build/html
	@echo "open docs/_build/html/index.html"

bench: $(STAMP)
	$(PY) -m benchmarks --quick

# on a GPU machine: its own venv with the GPU extra, pytest -m gpu, compute-sanitizer, GPU benchmarks; see the script
gpu-check:
	bash scripts/gpu_check.sh $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run,)

clean:
	rm -rf $(VENV) build dist *.egg-info
