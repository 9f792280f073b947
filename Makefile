# The two commands in the README do all the setup: `make signoff` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ALLURE_TOOL := tools/allure
NODE_STAMP := $(ALLURE_TOOL)/node_modules/.installed
# NVIDIA ModelOpt (the int8 and fp8 Q/DQ variants) in a venv of its own: its onnx and onnxruntime pins differ.
QUANT_VENV := .venv-quant
QUANT_STAMP := $(QUANT_VENV)/.installed
PROFILE ?= cpu-default
MODEL ?= all-minilm-l6-v2
PROVIDER ?= cpu
# The precision ladder: variants of the model judged by the same quality criteria and measured beside it
# (signoff.md, signoff.json, the dashboard). PRECISION_MODELS= (empty) leaves it out.
PRECISION_MODELS ?= $(if $(filter all-minilm-l6-v2,$(MODEL)),all-minilm-l6-v2-fp16 all-minilm-l6-v2-int8 all-minilm-l6-v2-fp8 all-minilm-l6-v2-bf16,)
REPORTS ?= reports
# One id for every pytest run of one `make signoff`: reports are merged only within one invocation.
EMBED_SIGNOFF_INVOCATION := $(shell date -u +%Y%m%dT%H%M%SZ)-$(shell od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
export EMBED_SIGNOFF_INVOCATION

.PHONY: venv quant-venv signoff test lint test-gpu-build bench clean report browser mutants-doc device-check real-size

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[cpu,export,dev,openvino,bench]"
	touch $(STAMP)

$(NODE_STAMP): $(ALLURE_TOOL)/package.json
	cd $(ALLURE_TOOL) && npm install --no-audit --no-fund --silent
	touch $(NODE_STAMP)

venv: $(STAMP)

## The main job: the acceptance suite on the embedded default model; exits non-zero unless signed off.
signoff: $(STAMP) $(QUANT_STAMP)
	@echo "sign-off: $(MODEL) on $(PROVIDER), profile $(PROFILE)$(if $(BASELINE), against $(BASELINE),)$(if $(PRECISION_MODELS), (then the precision ladder: $(PRECISION_MODELS)),)"
	@$(BIN)/python -m pytest acceptance --accept-profile $(PROFILE) --model $(MODEL) --provider $(PROVIDER) \
		--reports-dir $(REPORTS) --require-signoff $(if $(BASELINE),--baseline $(BASELINE),) $(PYTEST_ARGS); status=$$?; \
	if [ -n "$(PRECISION_MODELS)" ]; then \
		$(BIN)/python -m acceptance.precision_ladder --reports-dir $(REPORTS) --profile $(PROFILE) --provider $(PROVIDER) \
			$(PRECISION_MODELS); fi; \
	echo "completion report: $(REPORTS)/signoff.md   verdict: $(REPORTS)/signoff.json"; \
	echo "dashboard: make report -> $(REPORTS)/allure-report/index.html"; exit $$status

## The project's own tests (the dashboard test needs node_modules and Debian's chromium; it skips without).
test: $(STAMP) $(QUANT_STAMP) $(NODE_STAMP) browser
	$(BIN)/python -m pytest tests -n 2 --dist worksteal $(PYTEST_ARGS)

## ruff with the project's config ([tool.ruff] in pyproject.toml): .ci/run runs it.
lint: $(STAMP)
	$(BIN)/ruff check .

## ModelOpt's venv (QUANT_VENV above): make signoff, make test and make bench need it.
$(QUANT_STAMP): tools/quant/requirements.txt
	@test -x $(QUANT_VENV)/bin/python || $(PY) -m venv $(QUANT_VENV)
	@echo "installing NVIDIA ModelOpt into $(QUANT_VENV) (tools/quant/requirements.txt; torch from this machine's disk)"
	@$(QUANT_VENV)/bin/pip install -q --disable-pip-version-check -r tools/quant/requirements.txt
	@touch $@

quant-venv: $(QUANT_STAMP)

## The session factory against the real onnxruntime-gpu wheel (no GPU needed): its own venv, .venv-gpu.
GPU_VENV := .venv-gpu
ORT_GPU ?= onnxruntime-gpu==1.31.1
$(GPU_VENV)/.installed:
	@test -x $(GPU_VENV)/bin/python || $(PY) -m venv $(GPU_VENV)
	@echo "installing $(ORT_GPU) into $(GPU_VENV) (about 255 MB, kept in pip's cache)"
	@$(GPU_VENV)/bin/pip install -q --disable-pip-version-check "$(ORT_GPU)" numpy tokenizers pytest
	@touch $@

test-gpu-build: $(GPU_VENV)/.installed
	$(GPU_VENV)/bin/python -m pytest tests/test_gpu_build.py --noconftest -p no:cacheprovider -q $(PYTEST_ARGS)

## The whole GPU sign-off in one command (tools/device_check/run.sh; docs/thor.md, "The device check"): builds
## each model where it runs and signs it off under PROFILE, strictly on PROVIDER (default cuda). On a lent GPU
## machine run tools/device_check/run.sh itself; here `make device-check PROVIDER=cpu` rehearses it.
device-check: $(STAMP)
	PY=$(BIN)/python PROVIDER=$(if $(filter command line,$(origin PROVIDER)),$(PROVIDER),cuda) OUT=$(REPORTS)/device-check \
		$(if $(MODELS),MODELS="$(MODELS)",) bash tools/device_check/run.sh

## The decoder of real size on this CPU: Qwen3-Embedding-0.6B's shape with random weights, what scales with
## model size measured (tests/test_real_size.py, outside make test): reports/real-size/figures.json.
real-size: $(STAMP)
	$(BIN)/python -m pytest tests/test_real_size.py -m real_size -p no:cacheprovider -s $(PYTEST_ARGS)

## docs/mutants.md from the meta-test results `make test` leaves in reports/mutants/ (no test rewrites it).
mutants-doc: $(STAMP)
	@$(BIN)/python -m tests.test_mutants

browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the dashboard browser test will skip"; }

## The Allure dashboard from the last acceptance run: reports/allure-report/index.html (SINGLE_FILE=1: one file).
## RUNS="DIR ..." merges several devices' reports dirs into one: reports/fleet/allure-report/index.html.
report: $(NODE_STAMP) $(STAMP)
ifdef RUNS
	$(BIN)/python -m acceptance.fleet $(RUNS) --out $(REPORTS)/fleet $(if $(SINGLE_FILE),--single-file,)
else
	@test -d $(REPORTS)/allure-results || { echo "no $(REPORTS)/allure-results: run make signoff first"; exit 2; }
	cd $(ALLURE_TOOL) && ALLURE_HEADLINE_FILE=$(abspath $(REPORTS))/headline.txt ALLURE_SINGLE_FILE=$(if $(SINGLE_FILE),1,0) \
		ALLURE_OUTPUT=$(abspath $(REPORTS))/allure-report$(if $(SINGLE_FILE),-single,) \
		ALLURE_HISTORY_PATH=$(abspath $(REPORTS))/allure-history.jsonl npx allure generate $(abspath $(REPORTS))/allure-results
	@echo "dashboard: $(REPORTS)/allure-report$(if $(SINGLE_FILE),-single,)/index.html"
endif

bench: $(STAMP) $(QUANT_STAMP)
	$(BIN)/python -m acceptance.bench --model $(MODEL) --out $(REPORTS)/bench.json

clean:
	rm -rf $(REPORTS) .pytest_cache .hypothesis
