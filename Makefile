# Two commands do everything on a fresh machine:
#   make demo   set up .venv if needed, then run the main job on the embedded digits data
#   make test   set up .venv if needed, then lint (ruff) and run the test suite
# The virtual environment is rebuilt only when pyproject.toml or this file change.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.neuro-installed
# torch's CPU wheel where no NVIDIA GPU answers; elsewhere pip picks a CUDA build within the range in pyproject.toml
TORCH_CPU ?= torch==2.13.0

.PHONY: demo test lint setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile requirements/peers.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if nvidia-smi -L >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: installing the CUDA build of torch chosen by pip"; \
	else \
		echo "no NVIDIA GPU: installing $(TORCH_CPU) (CPU wheel) first"; \
		$(PY) -m pip install -q --disable-pip-version-check "$(TORCH_CPU)"; \
	fi
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
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

bench: $(STAMP)
	$(PY) -m benchmarks --quick

clean:
	rm -rf $(VENV) build dist *.egg-info
