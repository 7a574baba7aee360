# Developer and CI entry points. `make help` lists them.
# The dev stack (private PostgreSQL + the real Unleash server) is run by scripts/devstack.py.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
DEVSTACK := $(PY) scripts/devstack.py
# Export the env lines of the running stack (UNLEASH_URL, tokens, PLANNER_TEST_DATABASE_URL).
# `set -a; .` rather than `export $$(cat ...)`: the admin token `*:*.…` must not be globbed.
WITH_STACK_ENV := set -a && . ./.run/unleash.env && set +a &&

# The first Python >= 3.11 on PATH; override with `make PYTHON=/path/to/python3.12`.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: help venv unleash stop test run bench clean

help:
	@echo "make venv     create $(VENV) and install the project with its dev extras (when pyproject.toml changed)"
	@echo "make unleash  start the private PostgreSQL and the real Unleash server; prints the env lines"
	@echo "make stop     stop them again (data and tokens stay in .run/)"
	@echo "make test     run the tests against the running stack (PYTEST_ARGS='-k ...' to narrow)"
	@echo "make run      set up, start Unleash, apply and sync the demo plan, serve http://127.0.0.1:8000"
	@echo "make bench    the sync benchmark (200 features x 10 cohorts) against the running Unleash"
	@echo "make clean    stop the stack and delete .run/ (databases, tokens), node_modules and caches"

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@if ! [ -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		if [ -z "$(PYTHON)" ]; then \
			echo "error: Python 3.11 or newer is needed to create $(VENV), and none was found on PATH." >&2; \
			echo "  Install one (Debian/Ubuntu: apt-get install python3.11 python3.11-venv; or pyenv install 3.11)," >&2; \
			echo "  or name it: make PYTHON=/path/to/python3.11 venv" >&2; \
			exit 1; \
		fi; \
		echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

unleash: venv
	@$(DEVSTACK) up

stop:
	@if [ -x $(PY) ]; then $(DEVSTACK) down; else python3 scripts/devstack.py down; fi

test: venv
	@$(DEVSTACK) up >/dev/null  # quiet: the env lines hold the stack's secrets
	$(WITH_STACK_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

# The product with a real Unleash, the embedded SQLite database (./planner.db) and the demo plan.
DEMO_PLAN := examples/intranet-rollout.yaml
run: venv
	@$(DEVSTACK) up >/dev/null  # the stack's env lines hold secrets: `make unleash` shows them
	@$(WITH_STACK_ENV) set -e; \
	$(VENV)/bin/planner db upgrade; \
	$(VENV)/bin/planner plan apply $(DEMO_PLAN) --actor demo; \
	$(VENV)/bin/planner sync intranet-rollout --actor demo; \
	echo "planner: http://127.0.0.1:8000/health  API docs: http://127.0.0.1:8000/docs  (Ctrl-C stops it)"; \
	exec $(VENV)/bin/planner serve --host 127.0.0.1 --port 8000

bench: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/sync_bench.py

clean:
	@if [ -d .run ]; then $(if $(wildcard $(PY)),$(DEVSTACK),python3 scripts/devstack.py) down --purge; fi
	rm -rf unleash/node_modules .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
