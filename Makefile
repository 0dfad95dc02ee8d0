# The commands developers and CI share. `make up` and `make test` install what they need on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080
STATE_DIR ?= .cep
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install browser alertmanager oidc-provider prometheus up test test-slow test-chaos lint format protos protos-check deploy-check bench bench-nab clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the product and the test tools

browser: ## Debian's chromium for the browser tests (tests/ui), installed where it is missing
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

alertmanager: ## Debian's prometheus-alertmanager and amtool (the Alertmanager oracle tests), installed where missing
	@command -v prometheus-alertmanager >/dev/null && command -v amtool >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-alertmanager)

OIDC_PROVIDER := tests/support/oidc/node_modules/.package-lock.json

oidc-provider: $(OIDC_PROVIDER) ## the test OpenID provider (npm oidc-provider, pinned in tests/support/oidc/package-lock.json)

$(OIDC_PROVIDER): tests/support/oidc/package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --prefix tests/support/oidc --no-audit --no-fund --loglevel=error
	touch $@

prometheus: ## Debian's prometheus (the remote_write end-to-end test, tests/e2e), installed where missing
	@command -v prometheus >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus)

up: $(STAMP) ## run the whole stack (nats-server, services, Ray, SQLite); the UI URL is printed
	$(BIN)/cep up --port $(PORT) --state-dir $(STATE_DIR)

test: $(STAMP) browser alertmanager oidc-provider prometheus ## the test suite (under 10 minutes): unit, component and end-to-end against `cep up`
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-slow: $(STAMP) browser alertmanager oidc-provider prometheus ## the long tests (also run by CI)
	$(BIN)/pytest -q -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-chaos: $(STAMP) browser ## fault injection against the real stack (also run by CI)
	$(BIN)/pytest -q -m chaos $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: $(STAMP) protos-check deploy-check ## ruff, formatting, mypy, generated code and deployment files
	$(BIN)/ruff check services tests protos
	$(BIN)/ruff format --check services tests protos
	$(BIN)/mypy services

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix services tests protos
	$(BIN)/ruff format services tests protos

protos: $(STAMP) ## regenerate services/common/pb from protos/
	$(BIN)/python protos/generate.py

protos-check: $(STAMP) ## fail when services/common/pb differs from what protos/ generates
	@tmp=$$(mktemp -d) && $(BIN)/python protos/generate.py $$tmp/pb && \
	  diff -r -x __pycache__ $$tmp/pb services/common/pb && rm -rf $$tmp && echo "generated code is up to date"

deploy-check: $(STAMP) ## validate compose.yaml, the Dockerfile and the Kubernetes kustomizations offline
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(BIN)/hadolint Dockerfile
	$(BIN)/python -m tests.deploy.manifests k8s/base k8s/overlays/example

bench: $(STAMP) ## the pipeline against the Bytewax peer and the limits, and the refit cost (bench/results/latest.json)
	$(BIN)/python -m bench.pipeline
	$(BIN)/python bench/refit_hot_path.py
	$(BIN)/python bench/muting_cost.py
	$(BIN)/python bench/routing_cost.py

bench-nab: $(STAMP) ## every anomaly method over the whole NAB corpus, scored next to the published scoreboard
	$(BIN)/python bench/nab.py

clean: ## remove the virtualenv, caches and the default state dir
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(STATE_DIR)
