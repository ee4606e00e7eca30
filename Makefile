# Agora: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
ARGS ?=

.PHONY: help install run test test-unit bench lint docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

install: ## install everything that is missing (virtualenv, services, embedded servers, nginx, prometheus)
	@bash scripts/bootstrap.sh

run: install ## start the whole platform locally with demo data; Ctrl-C stops it (ARGS="--free-ports --no-demo")
	@$(PY) -m agora_devservers.stack $(ARGS)

test: install ## install what is missing, then run every test (unit, integration, e2e) and the deploy checks
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: that is a failure here"; exit 1; fi; \
	  exit $$rc
	@if [ -x deploy/check.sh ]; then bash deploy/check.sh; fi

test-unit: install ## only the tests that need no server
	@$(PY) -m pytest -m "not e2e" -k "unit" $(PYTEST_ARGS)

bench: install ## run every benchmark and print one table
	@$(PY) bench/run_all.py

docs: install ## regenerate docs/events.md (who publishes and who consumes each event type) from the code
	@$(PY) -m agora_devservers.event_table

lint: install ## ruff over libs, services, tests and benches
	@$(VENV)/bin/ruff check libs services tests bench

clean: ## remove run data and caches
	rm -rf .run .pytest_cache
