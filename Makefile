# The README's two commands: `make run` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
# The first interpreter that actually runs and is 3.11 or newer (pyenv shims may exist but fail).
PYTHON ?= $(shell for c in python3 python3.13 python3.12 python3.11; do \
	  $$c -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { command -v $$c; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# Test processes (pytest-xdist): one per core. Each test module runs whole in one process, so
# its module-scoped servers start once; modules are handed out in the order tests/conftest.py
# puts them (the slow system tests first). PYTEST_WORKERS=0 runs everything in this process.
PYTEST_WORKERS ?= logical
XDIST = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: run test test-quick lint bench clean-venv system-deps

run: $(VENV)/.run-installed
	$(BIN)/python scripts/run_store.py

test: $(VENV)/.dev-installed system-deps
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The inner loop: SQLite only, no browser journeys, no several-hosts test. `make test` runs everything.
test-quick: $(VENV)/.dev-installed
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest $(XDIST) -m "not browser and not multihost" $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

system-deps:
	@bash scripts/install_system_deps.sh

$(VENV)/bin/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3, python3.11, ...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + ")")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: requirements.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.run-installed

clean-venv:
	rm -rf $(VENV)
