# Every entry point a user types. Targets bootstrap .venv from a clean clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Prefer a python3.13 that really runs (a pyenv shim may exist and fail), so
# tests match the Lambda runtime; fall back to the machine's python3 (3.11+).
PYTHON ?= $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The security scanners live in their own venv: checkov pins boto3/botocore to
# versions that conflict with aws-sam-cli's (requirements-scan.txt).
SCAN_VENV := .venv-scan
SCAN_BIN := $(SCAN_VENV)/bin
SCAN_STAMP := $(SCAN_VENV)/.installed
# Mutation testing too: mutmut 3 needs a newer click than aws-sam-cli allows.
MUTATE_VENV := .venv-mutate
MUTATE_BIN := $(MUTATE_VENV)/bin
MUTATE_STAMP := $(MUTATE_VENV)/.installed

.PHONY: help install test lint scan format run token revoke bench build deploy destroy fuzz soak mutate \
	mutate-semantic deploy-authorizer destroy-authorizer package \
	tenant-add tenant-suspend tenant-resume tenant-delete tenants \
	build-AuthorizerFunction build-GreeterFunction build-SignOutFunction \
	build-ConnectionsFunction build-HangUpFunction

help:
	@echo "make install   create .venv with pinned runtime and dev dependencies"
	@echo "make test      run the whole test suite (bootstraps .venv)"
	@echo "make lint      ruff (lint + format check), mypy and the security scan"
	@echo "make format    ruff format, then ruff check --fix"
	@echo "make scan      checkov over template.yaml and its variants, bandit over the Python"
	@echo "make run       the offline stack: local Cognito + local HTTP API (API=rest: the REST variant;"
	@echo "               API=websocket: the WebSocket API;"
	@echo "               TEMPLATE=examples/http-api.yaml: a template that names the authorizer by ARN)"
	@echo "make token     print a fresh token for the demo user (TOKEN_USE=access for an access token)"
	@echo "make revoke    USER=<username>: sign the user out everywhere and revoke their tokens (OFFLINE=1: make run's)"
	@echo "make tenants   the tenant registry, as the authorizer reads it (OFFLINE=1: make run's)"
	@echo "make tenant-add TENANT=<id> POOL_ID=<pool> CLIENTS=<ids>: register a tenant's pool"
	@echo "make tenant-suspend TENANT=<id>  its tokens are denied; make tenant-resume undoes it"
	@echo "make tenant-resume TENANT=<id>   the suspended tenant active again"
	@echo "make tenant-delete TENANT=<id>   the tenant removed: its tokens are a stranger's"
	@echo "make bench     performance table"
	@echo "make fuzz      long property-based fuzz of the authorizer (fresh random examples)"
	@echo "make soak      30,000 mixed requests through the offline stack (about a minute)"
	@echo "make mutate    mutation testing of authorizer/, greeter/, shared/ (slow: see CONTRIBUTING.md)"
	@echo "make mutate-semantic  only the hand-written semantic mutants"
	@echo "make build     sam build (arm64 artifacts)"
	@echo "make deploy    settings checked, then sam build + sam deploy (API=rest: template-rest.yaml, its own stack)"
	@echo "make deploy-authorizer  the authorizer application alone, settings checked first (attach it by ARN)"
	@echo "make destroy-authorizer sam delete of that stack"
	@echo "make package   the authorizer application packaged for sam publish (PACKAGE_BUCKET=...)"
	@echo "make destroy   sam delete"

install: $(STAMP)

$(STAMP): requirements-dev.txt constraints-dev.txt authorizer/requirements.txt greeter/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: need python3.13 or python3 (3.11+) on PATH" >&2; exit 1; }
	@echo "using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	@touch $(STAMP)

# The whole suite in parallel (pytest-xdist). Four workers on two cores: much of
# its time is spent waiting on subprocesses, local servers and timeouts. Each
# test file runs in one worker (loadfile), so a module's fixtures (an offline
# stack, a sam build) start once; files are handed out in collection order, the
# heavy deploy and e2e files first, the many small unit files filling in last.
# TEST_WORKERS=0: one process. No -n in pyproject.toml's addopts: mutmut and
# tests/mutation/semantic.py run pytest themselves, in one process each.
TEST_WORKERS ?= 4
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(MAKE) --no-print-directory scan

$(SCAN_STAMP): requirements-scan.txt constraints-scan.txt
	@test -n "$(PYTHON)" || { echo "error: need python3.13 or python3 (3.11+) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-scan.txt -c constraints-scan.txt
	@touch $(SCAN_STAMP)

# Template hardening: every checkov finding is fixed or skipped in template.yaml
# with a one-line reason. bandit skips, as ruff's config does: B105 ("token" is
# this product's vocabulary, e.g. token_use == "id"); in local/ (offline tooling,
# never deployed) also B101 (asserts that narrow types), B404/B603 (it runs the
# functions in worker subprocesses it builds itself), B106 (the offline botocore
# session's dummy "offline" credentials) and B506 (local/cfn.py's yaml.load
# takes a SafeLoader subclass).
scan: $(STAMP) $(SCAN_STAMP)
	$(BIN)/python -m tests.deploy.scan --checkov $(SCAN_BIN)/checkov
	$(SCAN_BIN)/bandit -q -r authorizer greeter shared scripts -s B105
	$(SCAN_BIN)/bandit -q -r local -s B101,B105,B106,B404,B506,B603

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The offline stack: local Cognito on 127.0.0.1:$(COGNITO_PORT), the HTTP API
# read from template.yaml on 127.0.0.1:$(API_PORT) and the functions' metrics
# on 127.0.0.1:$(METRICS_PORT), until Ctrl-C.
#   make run API_PORT=3010 COGNITO_PORT=9230 METRICS_PORT=3011 RUN_PARAMS="TokenUse=access AuthorizerCacheTtlSeconds=0"
#   make token                 fresh id token for the demo user (last line of output)
#   TOKEN_USE=access make token  an access token instead
#   make run POOLS=2            two trusted local pools (UserPools) and one untrusted pool
#   make run TENANTS=3          three tenants in the tenant registry, each a pool, and one
#                              pool registered nowhere (make token TENANT=acme, POOL=untrusted)
#   make token POOL=2           a token from the second pool (POOL=untrusted: one that is denied)
#   make run API=rest          the REST API variant (template-rest.yaml) instead
#   make run API=websocket RUN_PARAMS="Revocation=true"   the WebSocket API (template-websocket.yaml);
#                              its connections management API on 127.0.0.1:$(CONNECTIONS_PORT)
#   make run TEMPLATE=examples/http-api.yaml   a template that names the authorizer by ARN
#                              (AuthorizerArn): the authorizer application runs beside it
API_PORT ?= 3000
COGNITO_PORT ?= 9229
METRICS_PORT ?= 3001
CONNECTIONS_PORT ?= 3002
# API=http (default): template.yaml, an HTTP API. API=rest: template-rest.yaml, a
# REST API, deployed as its own stack (samconfig.toml's [rest] environment).
# API=websocket: template-websocket.yaml, a WebSocket API ([websocket] environment).
API ?= http
ifeq ($(API),rest)
API_TEMPLATE := template-rest.yaml
CONFIG_ENV := rest
SAM_CONFIG_ENV := --config-env rest
else ifeq ($(API),websocket)
API_TEMPLATE := template-websocket.yaml
CONFIG_ENV := websocket
SAM_CONFIG_ENV := --config-env websocket
else ifeq ($(API),http)
API_TEMPLATE := $(or $(TEMPLATE),template.yaml)
CONFIG_ENV := default
SAM_CONFIG_ENV :=
else
$(error API must be http, rest or websocket, not '$(API)')
endif
run: $(STAMP)
	@$(BIN)/python -m local run --template $(API_TEMPLATE) \
		--api-port $(API_PORT) --cognito-port $(COGNITO_PORT) \
		--pools $(or $(POOLS),1) --tenants $(or $(TENANTS),0) \
		--metrics-port $(METRICS_PORT) --connections-port $(CONNECTIONS_PORT) \
		$(if $(RUN_PARAMS),--parameter-overrides "$(RUN_PARAMS)")

token: $(STAMP)
	@$(BIN)/python -m local token --token-use "$(or $(TOKEN_USE),id)" --pool "$(or $(POOL),1)" \
		$(if $(TENANT),--tenant "$(TENANT)")

# Incident response (Revocation=true): Cognito signs the user out everywhere
# (AdminUserGlobalSignOut) and the revocation list denies every token of theirs
# issued so far. See scripts/revoke.py for the permissions it needs.
#   make revoke USER=brian                the deployed stack (samconfig.toml's; STACK=, REGION=, API=rest)
#   make revoke USER=brian POOL_ID=us-east-1_AbC TABLE=<table>   without reading the stack
#   make revoke USER=brian OFFLINE=1      the stack `make run RUN_PARAMS="Revocation=true"` serves
# USER must be given on the command line: the shell's own $$USER is never used.
revoke: $(STAMP)
	@test "$(origin USER)" = "command line" || { echo "error: name the user: make revoke USER=<username>" >&2; exit 2; }
	@$(BIN)/python -m scripts.revoke --user "$$USER" \
		$(if $(OFFLINE),--offline,--config-env $(CONFIG_ENV)) \
		$(if $(STACK),--stack "$(STACK)") $(if $(REGION),--region "$(REGION)") \
		$(if $(POOL_ID),--user-pool-id "$(POOL_ID)") $(if $(TABLE),--table "$(TABLE)")

# The tenant registry (TenantRegistry=true): a pool per tenant, added without a redeploy.
# See scripts/tenants.py for the permissions each needs.
#   make tenant-add TENANT=acme POOL_ID=eu-west-1_AbC CLIENTS=abc123[,def456] \
#        [TOKEN_USE=access] [REPLICAS=us-west-2] [ATTRS="plan=gold region=eu"]
#   make tenant-suspend TENANT=acme     its tokens are denied (tenant_suspended)
#   make tenant-resume TENANT=acme      active again
#   make tenant-delete TENANT=acme      its tokens are an unknown issuer's
#   make tenants                        the registry as the authorizer reads it
# Against the deployed stack (STACK=, REGION=, TABLE=, API=rest), or OFFLINE=1: make run's.
TENANT_TOOL = $(BIN)/python -m scripts.tenants \
	$(if $(OFFLINE),--offline,--config-env $(CONFIG_ENV)) \
	$(if $(STACK),--stack "$(STACK)") $(if $(REGION),--region "$(REGION)") \
	$(if $(TABLE),--table "$(TABLE)")
tenant-add: $(STAMP)
	@$(TENANT_TOOL) add --tenant "$(TENANT)" --user-pool-id "$(POOL_ID)" --clients "$(CLIENTS)" \
		--token-use "$(or $(TOKEN_USE),any)" --replicas "$(REPLICAS)" --attributes "$(ATTRS)"
tenant-suspend tenant-resume tenant-delete: $(STAMP)
	@$(TENANT_TOOL) $(patsubst tenant-%,%,$@) --tenant "$(TENANT)"
tenants: $(STAMP)
	@$(TENANT_TOOL) list

# ---------------------------------------------------------------------------
# Deploy: sam build / deploy / delete with the pinned SAM CLI in .venv.
#   make deploy                         deploy with samconfig.toml's defaults
#   make deploy GUIDED=1                first deploy: answer sam's prompts (saved to samconfig.toml)
#   make deploy PARAMS="UserPoolId=us-east-1_AbC AppClientIds=abc123"   existing user pool
#   make deploy REGION=eu-west-1        another region (also for destroy)
#   make destroy                        delete the stack (asks first)
#   make deploy API=rest                the REST API variant (template-rest.yaml), its own stack
#   make deploy-authorizer PARAMS="UserPoolId=... AppClientIds=... InvokingApis=..."
#                                       the authorizer application alone (authorizer/template.yaml)
#   make package PACKAGE_BUCKET=my-bucket   the application packaged for `sam publish`
SAM := $(BIN)/sam
# Our default is no telemetry; export SAM_CLI_TELEMETRY=1 to opt in.
SAM_ENV := SAM_CLI_TELEMETRY=$${SAM_CLI_TELEMETRY:-0}
SAM_REGION := $(if $(REGION),--region $(REGION))

# PARAMS reaches the artifact build so scripts/bake_jwks.py can find UserPoolId,
# and scripts/sam_deploy.py; exported as given, so quotes in it need no escaping.
export PARAMS
SAM_BUILD = $(SAM_ENV) $(SAM) build $(SAM_CONFIG_ENV) $(SAM_REGION)
build: $(STAMP)
	$(SAM_BUILD)

# Before anything is built: the parameters (PARAMS, else samconfig.toml's) checked
# against the template's constraints and rules, and each function's environment
# read by its own cold start's configuration loader (local/preflight.py). A mistake
# stops here with the rule's or the cold start's message, and never reaches AWS.
# GUIDED=1: sam asks for the parameters afterwards, so there is nothing to check yet.
#   $(call check_settings,<samconfig.toml environment>)
check_settings = $(if $(GUIDED),@echo "GUIDED=1: the parameters sam asks for are checked by CloudFormation's rules and the cold start only",\
	$(BIN)/python -m local check --config-env $(1))

# scripts/sam_deploy.py passes PARAMS (else samconfig.toml's overrides) on to
# sam deploy, with the digest that makes a settings-only change publish a new
# version for the SnapStart alias.
deploy: $(STAMP)
	$(call check_settings,$(CONFIG_ENV))
	$(SAM_BUILD)
	$(SAM_ENV) $(BIN)/python scripts/sam_deploy.py .aws-sam/build -- \
		$(SAM) deploy $(SAM_CONFIG_ENV) $(SAM_REGION) $(if $(GUIDED),--guided) $(DEPLOY_ARGS)

destroy: $(STAMP)
	$(SAM_ENV) $(SAM) delete $(SAM_CONFIG_ENV) $(SAM_REGION) $(DESTROY_ARGS)

# The authorizer application alone (samconfig.toml's [authorizer] environment: its
# template, its own stack), deployed as make deploy deploys the demo. The SAM CLI
# looks for samconfig.toml beside the template (authorizer/): named here, it is
# the repository's ("=": ROOT is set further down).
SAM_AUTHORIZER = --config-file "$(ROOT)/samconfig.toml" --config-env authorizer
deploy-authorizer: $(STAMP)
	$(call check_settings,authorizer)
	$(SAM_ENV) $(SAM) build $(SAM_AUTHORIZER) $(SAM_REGION)
	$(SAM_ENV) $(BIN)/python scripts/sam_deploy.py .aws-sam/build -- \
		$(SAM) deploy $(SAM_AUTHORIZER) $(SAM_REGION) $(if $(GUIDED),--guided) $(DEPLOY_ARGS)

destroy-authorizer: $(STAMP)
	$(SAM_ENV) $(SAM) delete $(SAM_AUTHORIZER) $(SAM_REGION) $(DESTROY_ARGS)

# What `sam publish` takes: the application built, its code, readme page and LICENSE
# uploaded to PACKAGE_BUCKET (which the Serverless Application Repository must be
# allowed to read; see docs/your-api.md, "Publish to SAR") and the template rewritten
# to name them there: $(PACKAGE_DIR)/packaged-authorizer.yaml.
PACKAGE_DIR ?= .aws-sam/package
package: $(STAMP)
	@test -n "$(PACKAGE_BUCKET)" || { echo "error: set PACKAGE_BUCKET to an S3 bucket of yours" >&2; exit 1; }
	$(SAM_ENV) $(SAM) build $(SAM_AUTHORIZER) $(SAM_REGION) --build-dir "$(PACKAGE_DIR)/build"
	$(SAM_ENV) $(SAM) package --template-file "$(PACKAGE_DIR)/build/template.yaml" \
		--s3-bucket "$(PACKAGE_BUCKET)" --s3-prefix cognito-jwt-lambda-authorizer \
		--output-template-file "$(PACKAGE_DIR)/packaged-authorizer.yaml" $(SAM_AUTHORIZER) $(SAM_REGION)
	@echo "packaged: $(PACKAGE_DIR)/packaged-authorizer.yaml"
	@echo "publish it: $(SAM) publish --template $(PACKAGE_DIR)/packaged-authorizer.yaml$(if $(REGION), --region $(REGION))"

# ---------------------------------------------------------------------------
# Lambda artifacts. `sam build` (BuildMethod: makefile) runs build-<LogicalId>
# with ARTIFACTS_DIR set, through the Makefile of the function's CodeUri, its
# package folder (authorizer/Makefile, greeter/Makefile include this one), in
# that folder or a scratch copy of it: never the root with its .venv. Every
# path is taken from ROOT, the directory of this Makefile, wherever make runs.
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# The .venv's Python when there is one (a clean clone via `make build` has it):
# its pip only downloads here, and it writes the bytecode, which takes a
# CPython 3.13 (the .venv is one whenever this machine has one; see PYTHON).
LAMBDA_PYTHON := $(if $(wildcard $(ROOT)/$(BIN)/python),$(ROOT)/$(BIN)/python,python3)
LAMBDA_PIP := $(LAMBDA_PYTHON) -m pip
# Lambda python3.13 on arm64 is Amazon Linux 2023 (glibc 2.34): wheels only,
# for aarch64 and CPython 3.13, whatever this machine's OS, CPU or Python.
# Versions are the tested ones (constraints-dev.txt); the machine's own pip
# configuration (mirrors, extra constraints) still applies.
LAMBDA_PIP_FLAGS := --disable-pip-version-check --no-input --quiet --no-compile \
	--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
	--platform manylinux_2_34_aarch64 --implementation cp --python-version 3.13 \
	--only-binary=:all: -c $(ROOT)/constraints-dev.txt

# $(call lambda_artifact,<package dir>[,<requirements>]): the package, shared/, its
# runtime requirements (those of the second argument instead: /dev/null for none),
# and nothing else (no caches, no scripts, no requirements files, no Makefile, no
# template: authorizer/template.yaml is the application that deploys it).
define lambda_artifact
	@test -n "$(ARTIFACTS_DIR)" || { echo "error: ARTIFACTS_DIR is not set; run 'make build' (sam build)" >&2; exit 1; }
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -R "$(ROOT)/$(1)" "$(ROOT)/shared" "$(ARTIFACTS_DIR)/"
	@if grep -qvE '^[[:space:]]*(#|$$)' "$(or $(2),$(ROOT)/$(1)/requirements.txt)"; then \
		echo "$(LAMBDA_PIP) install -r $(1)/requirements.txt --target ARTIFACTS_DIR (aarch64, cp313)"; \
		$(LAMBDA_PIP) install $(LAMBDA_PIP_FLAGS) -r "$(ROOT)/$(1)/requirements.txt" \
			--target "$(ARTIFACTS_DIR)" || exit 1; \
	fi
	rm -rf "$(ARTIFACTS_DIR)/bin" "$(ARTIFACTS_DIR)/$(1)/requirements.txt" "$(ARTIFACTS_DIR)/$(1)/template.yaml" \
		"$(ARTIFACTS_DIR)/$(1)/Makefile"
	@# Test suites some wheels ship inside their package (certifi/tests): never imported.
	rm -rf "$(ARTIFACTS_DIR)"/*/tests "$(ARTIFACTS_DIR)"/*/test
	find "$(ARTIFACTS_DIR)" -depth \( -name __pycache__ -o -name '*.pyc' \) -exec rm -rf {} +
	@# Bytecode for python3.13, checked against its source by hash: a cold start loads it
	@# instead of compiling every module (see scripts/compile_bytecode.py).
	$(LAMBDA_PYTHON) $(ROOT)/scripts/compile_bytecode.py "$(ARTIFACTS_DIR)"
endef

build-AuthorizerFunction:
	$(call lambda_artifact,authorizer)
	@# The pool's current key set, when the pool exists and answers (best effort):
	@# a cold start then verifies without a network call. See scripts/bake_jwks.py.
	$(LAMBDA_PYTHON) $(ROOT)/scripts/bake_jwks.py "$(ARTIFACTS_DIR)/authorizer"

build-GreeterFunction:
	$(call lambda_artifact,greeter)

# The sign-out function (Revocation=true) writes the authorizer's revocation list
# with the authorizer's own item format: authorizer/ and shared/, but none of the
# authorizer's wheels (it never imports PyJWT; boto3 is the Lambda runtime's).
build-SignOutFunction:
	$(call lambda_artifact,authorizer,/dev/null)

# The WebSocket connections and hang-up functions (ApiType=websocket, Revocation=true):
# the same artifact as the sign-out function's, for the same reason.
build-ConnectionsFunction build-HangUpFunction:
	$(call lambda_artifact,authorizer,/dev/null)

# Performance: ratios measured in one run; see bench/run.py.
bench: $(STAMP)
	@$(BIN)/python bench/run.py $(BENCH_ARGS)

# Hardening. make test runs both in short form; these are the long runs.
#   make fuzz FUZZ_FACTOR=100     more examples per fuzz test (default 25x the make-test budget)
#   make soak SOAK_ARGS="--requests 50000 --seconds 85"
fuzz: $(STAMP)
	FUZZ_PROFILE=fuzz-long FUZZ_FACTOR=$${FUZZ_FACTOR:-25} $(BIN)/python -m pytest -q \
		tests/security/test_fuzz_handler.py

soak: $(STAMP)
	$(BIN)/python -m tests.soak.run $(SOAK_ARGS)

# Mutation testing: mutmut (pyproject.toml, [tool.mutmut]) plants small bugs in
# authorizer/, greeter/ and shared/ one at a time and runs the fast tests that
# reach each; then the score, and every survivor not triaged as equivalent in
# tests/mutation/triage.toml. A fresh run each time (the code and the tests
# move together). Not part of make test; how long it takes: CONTRIBUTING.md.
#   make mutate MUTATE_CHILDREN=4        more parallel workers
#   .venv-mutate/bin/mutmut show <name>  the diff of one mutant afterwards
MUTATE_CHILDREN ?= 2
mutate: $(MUTATE_STAMP) $(STAMP)
	rm -rf mutants
	@echo "mutmut run: progress in $(MUTATE_VENV)/last-run.log"
	@$(MUTATE_BIN)/mutmut run --max-children $(MUTATE_CHILDREN) > $(MUTATE_VENV)/last-run.log 2>&1 \
		|| { tail -c 4000 $(MUTATE_VENV)/last-run.log; exit 1; }
	$(BIN)/python -m tests.mutation.semantic --jobs $(MUTATE_CHILDREN)
	$(MUTATE_BIN)/python -m tests.mutation.report

# The semantic mutants alone (tests/mutation/semantic.toml).
mutate-semantic: $(STAMP)
	$(BIN)/python -m tests.mutation.semantic --jobs $(MUTATE_CHILDREN)
	$(BIN)/python -m tests.mutation.report --semantic-only

$(MUTATE_STAMP): requirements-mutate.txt constraints-mutate.txt authorizer/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: need python3.13 or python3 (3.11+) on PATH" >&2; exit 1; }
	$(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-mutate.txt -c constraints-mutate.txt
	@touch $(MUTATE_STAMP)
