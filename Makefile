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
.PHONY: help install up test test-slow test-chaos lint format protos protos-check deploy-check bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the product and the test tools

up: $(STAMP) ## run the whole stack (nats-server, services, Ray, SQLite); the UI URL is printed
	$(BIN)/cep up --port $(PORT) --state-dir $(STATE_DIR)

test: $(STAMP) ## the test suite (under 10 minutes): unit, component and end-to-end against `cep up`
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-slow: $(STAMP) ## the long tests (also run by CI)
	$(BIN)/pytest -q -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-chaos: $(STAMP) ## fault injection against the real stack (also run by CI)
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

deploy-check: $(STAMP) ## validate compose.yaml and the Kubernetes manifests offline
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(BIN)/kubernetes-validate --strict --quiet $$(ls k8s/*.yaml | grep -v kustomization)

bench: $(STAMP) ## benchmarks side by side with the peer and the limit
	@if ls bench/*.py >/dev/null 2>&1; then for b in bench/*.py; do $(BIN)/python $$b || exit 1; done; \
	  else echo "no benchmarks yet"; fi

clean: ## remove the virtualenv, caches and the default state dir
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(STATE_DIR)
