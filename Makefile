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

.PHONY: help venv assets browser unleash stop test run bench bench-rollback bench-optin bench-reader bench-page bench-idle bench-events soak clean

help:
	@echo "make venv     create $(VENV) and install the project with its dev extras (when pyproject.toml changed)"
	@echo "make unleash  start the private PostgreSQL and the real Unleash server; prints the env lines"
	@echo "make stop     stop them again (data and tokens stay in .run/)"
	@echo "make browser  make sure Chromium is there for the browser tests (as root: installs Debian's chromium)"
	@echo "make test     run the tests against the running stack, then the database-touching ones again on"
	@echo "              PostgreSQL (PYTEST_ARGS='-k ...' to narrow, PG_PASS= to skip the second pass)"
	@echo "make run      set up, start Unleash, apply and sync the demo plan, serve the planner on :8000 and the"
	@echo "              example intranet (pages behind the flags) on :8001"
	@echo "make bench    the sync benchmark (200 features x 10 cohorts) against the running Unleash, with the"
	@echo "              write counts of a phase moved, held, resumed, started and rolled back"
	@echo "make bench-rollback   a lead's roll back to the client API no longer granting (10 runs)"
	@echo "make bench-optin / bench-reader / bench-page / bench-idle   2,000 opt-ins under load; the flag reader;"
	@echo "              the plan page; an idle planner's CPU beside a large synced plan"
	@echo "make bench-events  10,000 KPI events in batches of 1,000 from the platform, posted twice"
	@echo "make soak     30 minutes of leads, pilot users and the platform at once, then database = Unleash = plan"
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
		if ! $(PYTHON) -c 'import ensurepip, venv; ensurepip.version()' >/dev/null 2>&1; then \
			echo "error: $(PYTHON) ($$($(PYTHON) --version 2>&1)) has no venv/ensurepip, needed to create $(VENV); Debian/Ubuntu: apt-get install $$($(PYTHON) -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])')" >&2; \
			exit 1; \
		fi; \
		echo "creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

unleash: venv
	@$(DEVSTACK) up

# htmx and any other browser code the pages load, pinned in web/assets/package-lock.json
ASSETS_STAMP := web/assets/node_modules/.package-lock.json
assets: $(ASSETS_STAMP)
$(ASSETS_STAMP): web/assets/package-lock.json | $(VENV_STAMP)
	@$(PY) scripts/webassets.py

# Debian's Chromium for tests/browser: Playwright drives it (executable_path), it never downloads a
# browser, so `playwright install` is not used. PLANNER_CHROMIUM names another binary. Quiet when present.
browser:
	@chromium="$${PLANNER_CHROMIUM:-/usr/bin/chromium}"; \
	if [ -x "$$chromium" ]; then exit 0; fi; \
	if [ -n "$${PLANNER_CHROMIUM:-}" ]; then \
		echo "error: PLANNER_CHROMIUM=$$PLANNER_CHROMIUM is not an executable Chromium (unset it to use /usr/bin/chromium)" >&2; \
		exit 1; \
	fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests (apt-get; once per machine)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null || { \
			echo "error: apt-get install chromium failed; see the output above" >&2; exit 1; }; \
		[ -x "$$chromium" ] || { echo "error: the chromium package did not provide $$chromium" >&2; exit 1; }; \
		echo "installed $$("$$chromium" --version 2>/dev/null || echo chromium)"; \
	else \
		echo "error: the browser tests (tests/browser) need Chromium at $$chromium, and it is not installed." >&2; \
		echo "  Debian/Ubuntu, as root:" >&2; \
		echo "    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium" >&2; \
		echo "  (with sudo: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium)" >&2; \
		echo "  or point PLANNER_CHROMIUM at a Chromium binary: make PLANNER_CHROMIUM=/path/to/chromium test" >&2; \
		exit 1; \
	fi

stop:
	@if [ -x $(PY) ]; then $(DEVSTACK) down; else python3 scripts/devstack.py down; fi

# The second pass runs the database-touching tests again on the private PostgreSQL (PLANNER_TEST_DB): the web
# app, the CLI, opt-ins and their pusher, and the store. Tests that compare both databases in one run do so in the first pass.
PG_PASS ?= tests/web tests/integration/test_cli.py tests/integration/test_optin.py tests/integration/test_optin_batch.py \
	tests/integration/test_optin_push.py tests/integration/test_store.py
test: venv assets browser
	@$(DEVSTACK) up >/dev/null  # quiet: the env lines hold the stack's secrets
	$(WITH_STACK_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)
	@if [ -n "$(strip $(PG_PASS))" ]; then echo "second pass, on PostgreSQL: $(PG_PASS)"; \
		$(WITH_STACK_ENV) PLANNER_TEST_DB=postgresql $(VENV)/bin/pytest $(PG_PASS) $(PYTEST_ARGS); fi

# The product with a real Unleash, the embedded SQLite database (./planner.db) and the demo plan.
DEMO_PLAN := examples/intranet-rollout.yaml
run: venv assets
	@$(DEVSTACK) up >/dev/null  # the stack's env lines hold secrets: `make unleash` shows them
	@$(WITH_STACK_ENV) set -e; export PLANNER_DEV_LOGIN=true; \
	$(VENV)/bin/planner db upgrade; \
	$(VENV)/bin/planner plan apply $(DEMO_PLAN) --actor demo; \
	$(VENV)/bin/planner sync intranet-rollout --actor demo; \
	export PLATFORM_PLANNER_URL=http://127.0.0.1:8000 PLATFORM_PLAN_CACHE=.run/intranet-plan.json; \
	PLATFORM_PLANNER_TOKEN=$$($(VENV)/bin/planner token create "intranet-demo-$$(date +%s)" --actor demo 2>/dev/null); \
	export PLATFORM_PLANNER_TOKEN; \
	$(VENV)/bin/uvicorn examples.platform.app:create_app --factory --host 127.0.0.1 --port 8001 \
		--log-level warning & platform=$$!; trap 'kill $$platform 2>/dev/null' EXIT INT TERM; \
	echo "planner:  http://127.0.0.1:8000 (development sign-in)  API docs: /docs"; \
	echo "intranet: http://127.0.0.1:8001 (the example platform, pages behind the flags)  Ctrl-C stops both"; \
	$(VENV)/bin/planner serve --host 127.0.0.1 --port 8000

bench: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/sync_bench.py

bench-rollback: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/rollback_bench.py

bench-reader: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/reader_bench.py $(BENCH_ARGS)

bench-optin: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/optin_bench.py $(BENCH_ARGS)

# 10,000 KPI events in batches of 1,000 from the platform, twice (the second time each counts once)
bench-events: venv
	@$(PY) bench/events_bench.py $(BENCH_ARGS)

bench-idle: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/idle_bench.py $(BENCH_ARGS)

# 30 minutes of mixed traffic, then the consistency check (BENCH_ARGS="--minutes 2" for a short one)
soak: venv
	@$(DEVSTACK) up >/dev/null
	@$(WITH_STACK_ENV) $(PY) bench/soak.py $(BENCH_ARGS)

bench-page: venv assets
	@$(PY) bench/plan_page_bench.py

clean:
	@if [ -d .run ]; then $(if $(wildcard $(PY)),$(DEVSTACK),python3 scripts/devstack.py) down --purge; fi
	rm -rf unleash/node_modules web/assets/node_modules .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
