# Two commands for a fresh clone: `make run` and `make test`. Both install into ./.venv
# (the CPU build of torch first, so no multi-GB CUDA build is pulled in), then run.
VENV    := .venv
PY      := $(VENV)/bin/python
PIP     := $(PY) -m pip
STAMP   := $(VENV)/.aptrank-installed
DATASET ?= scifact

# Datasets are found through APTRANK_DATA; default to the shared copies beside this checkout.
ifneq ($(wildcard ../shared/data),)
export APTRANK_DATA ?= $(abspath ../shared/data)
endif
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: install run test test-quick lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[all,dev]"
	touch $(STAMP)

run: install
	$(VENV)/bin/aptrank run $(DATASET)

test: install
	$(VENV)/bin/pytest -q

test-quick: install
	$(VENV)/bin/pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy src/aptrank

bench: install
	$(PY) benchmarks/foundation.py

clean:
	rm -rf $(VENV) runs .pytest_cache
