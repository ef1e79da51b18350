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

.PHONY: help install test lint format run token bench build deploy destroy

help:
	@echo "make install   create .venv with pinned runtime and dev dependencies"
	@echo "make test      run the whole test suite (bootstraps .venv)"
	@echo "make lint      ruff (lint + format check) and mypy"
	@echo "make run       the offline stack: local Cognito + local HTTP API"
	@echo "make token     print a fresh token for the demo user (TOKEN_USE=access for an access token)"
	@echo "make bench     performance table"
	@echo "make build     sam build (arm64 artifacts)"
	@echo "make deploy    sam build + sam deploy"
	@echo "make destroy   sam delete"

install: $(STAMP)

$(STAMP): requirements-dev.txt constraints-dev.txt authorizer/requirements.txt greeter/requirements.txt
	@test -n "$(PYTHON)" || { echo "error: need python3.13 or python3 (3.11+) on PATH" >&2; exit 1; }
	@echo "using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints-dev.txt
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

run: $(STAMP)
	@echo "the offline stack is coming (issue 4)"; exit 1

token: $(STAMP)
	@echo "make token comes with the offline stack (issue 4)"; exit 1
