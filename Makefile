# Mailbridge: `make run` starts the whole system on the embedded default; `make test` runs every test.
SHELL := /bin/bash
UV := $(shell scripts/bootstrap-uv)
MEMBERS := libs/common libs/testkit services/config-api services/fetcher services/sender services/oauth-broker launcher
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test sync lint typecheck pytest

sync:
	$(UV) sync --locked --all-packages

run: sync
	$(UV) run --no-sync mailbridge run

lint: sync
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

# One mypy run per workspace member: each has its own `tests` package.
typecheck: sync
	@set -e; for member in $(MEMBERS); do \
	  echo "mypy $$member"; \
	  $(UV) run --no-sync mypy $$member; \
	done
	@# One run per tests/ folder: each may have its own conftest.py, which mypy would see as one module.
	@set -e; for folder in tests/*/; do echo "mypy $$folder"; $(UV) run --no-sync mypy $$folder; done
	$(UV) run --no-sync mypy bench
	$(UV) run --no-sync mypy deploy/healthcheck.py

# pytest-xdist: a worker per core, each with its own NATS, databases (on the run's one private
# PostgreSQL cluster) and mail servers; an xdist_group runs on one worker (the heavy end-to-end
# suites, tests/e2e/e2e_system.HEAVY). Serially: `make test PYTEST_ARGS=`.
PYTEST_ARGS ?= -n auto --dist loadgroup
pytest: sync
	$(UV) run --no-sync pytest $(PYTEST_ARGS)

test: lint typecheck pytest
