# The two commands in the README do all the setup: `make signoff` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= cpu-default
MODEL ?= all-minilm-l6-v2
PROVIDER ?= cpu
REPORTS ?= reports

.PHONY: venv signoff test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[cpu,export,dev]"
	touch $(STAMP)

venv: $(STAMP)

## The main job: the acceptance suite on the embedded default model; exits non-zero unless signed off.
signoff: $(STAMP)
	$(BIN)/python -m pytest acceptance --accept-profile $(PROFILE) --model $(MODEL) --provider $(PROVIDER) \
		--reports-dir $(REPORTS) --require-signoff $(PYTEST_ARGS)

## The project's own tests.
test: $(STAMP)
	$(BIN)/python -m pytest tests -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m runtime.bench --model $(MODEL) --out $(REPORTS)/bench.json

clean:
	rm -rf $(REPORTS) .pytest_cache .hypothesis
