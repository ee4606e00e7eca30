# Agora: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (each starts its own embedded servers; the e2e tests share one worker)
TEST_WORKERS ?= 2
ARGS ?=

.PHONY: help install run test test-fast bench lint lock docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

install: ## install what is missing: Debian packages, then .venv from requirements/dev.lock (log: .run/install.log)
	@bash scripts/bootstrap.sh

run: install ## start the whole platform locally with demo data; Ctrl-C stops it (ARGS="--free-ports --no-demo")
	@$(PY) -m agora_devservers.stack $(ARGS)

test: install ## install what is missing, then run every test (unit, integration, e2e) and the deploy checks
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	  exit $$rc
	@if [ -x deploy/check.sh ]; then bash deploy/check.sh; fi

test-fast: install ## the unit and service-layer tests (no server; under a minute)
	@$(PY) -m pytest -q --durations=5 libs/agora_common/tests/unit services/*/tests/unit tests/docs $(PYTEST_ARGS)

bench: install ## run every benchmark and print one table
	@$(PY) bench/run_all.py

docs: install ## regenerate docs/events.md (event types: publishers, consumers) and docs/configuration.md (AGORA_*)
	@$(PY) -m agora_devservers.event_table
	@$(PY) -m agora_devservers.config_table

lint: ## ruff (rules in pyproject.toml) over the whole repository and mypy over libs and services; needs no root
	@AGORA_PYTHON_ONLY=1 bash scripts/bootstrap.sh >/dev/null
	@$(VENV)/bin/ruff check libs services tests bench deploy
	@$(VENV)/bin/mypy libs/agora_common/agora_common libs/agora_devservers/agora_devservers \
	  $(filter-out %.egg-info,$(wildcard services/*/agora_*))

lock: ## recompile requirements/*.lock from the pyproject.toml files and requirements/dev.in (UPGRADE=1: newest)
	@UPGRADE=$(UPGRADE) bash scripts/lock.sh

clean: ## remove run data and caches
	rm -rf .run .pytest_cache
