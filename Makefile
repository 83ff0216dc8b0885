# Cruddur Messaging - every step a fresh machine needs is here; nothing is assumed installed but python3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install lint validate build test unit integration clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): requirements-dev.txt layers/shared/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## create .venv with everything the project needs

validate: $(INSTALLED) ## sam validate --lint (offline)
	$(BIN)/sam validate --lint --template template.yaml

build: $(INSTALLED) ## sam build, no container
	$(BIN)/sam build --template template.yaml --cached

unit: $(INSTALLED) ## fast unit tests (moto in-process)
	$(PY) -m pytest tests/unit

integration: $(INSTALLED) ## integration tests (embedded PostgreSQL, moto server, local stack)
	$(PY) -m pytest tests/integration

test: validate build ## everything CI runs: lint, build, all tests
	$(PY) -m pytest tests

clean: ## remove build output and local state
	rm -rf .aws-sam .local .pytest_cache
