# The two commands a newcomer needs:  make run  and  make test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test test-lowest lock services lint bench bench-deps bench-profile bench-charts bench-scale bench-round-trips bench-ab

# Python packages into .venv and front-end assets into node_modules; each step
# re-runs only when its manifest changes.
setup: $(VENV)/.installed node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Serve on 127.0.0.1:8000 on the embedded default: SQLite, local disk, worker beside it.
run: setup
	$(BIN)/drop-ops migrate
	$(BIN)/drop-ops serve --with-worker

# The whole suite, on SQLite and on real PostgreSQL + Redis (started here if down), then the
# in-process tests on the lowest allowed versions (skipped when PYTEST_ARGS picks tests).
test: setup services
	$(BIN)/pytest $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,bash scripts/test-lowest.sh)

# pyproject.toml's floors, tested: a .venv-lowest at the floors runs the in-process tests.
test-lowest: setup services
	bash scripts/test-lowest.sh

# Regenerate requirements.lock, the hashed deployment lock, from pyproject.toml.
lock: setup
	bash scripts/lock.sh

services:
	bash scripts/install-test-deps.sh
	bash scripts/test-services.sh

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# drop against a bare WSGI app and nginx on this machine (README: Benchmarks); about 6 minutes.
bench: setup bench-deps
	$(BIN)/python -m bench.run

# What one wait on another server (a Redis round trip) costs a gunicorn worker (README: Benchmarks).
bench-round-trips: setup bench-deps
	$(BIN)/python -m bench.round_trips

# Two revisions side by side on SQLite, wrk alternating: make bench-ab BEFORE=main~1 AFTER=main
bench-ab: setup bench-deps
	$(BIN)/python -m bench.ab $(or $(BEFORE),HEAD~1) $(or $(AFTER),HEAD) --measure $(or $(MEASURE),download_1k)

# Sweep, stats, dashboard and downloads at 1,000,000 drops on PostgreSQL (README: Benchmarks).
bench-scale: setup
	bash scripts/test-services.sh
	$(BIN)/python -m bench.scale

# py-spy on one worker during one measure: make bench-profile MEASURE=download_1k BACKEND=pg
bench-profile: setup bench-deps
	bash bench/profile.sh $(or $(MEASURE),download_1k) $(or $(BACKEND),pg) $(or $(FORMAT),raw)

# The dashboard charts' data query with 1,000,000 drops, on PostgreSQL (README: Benchmarks).
bench-charts: setup
	bash scripts/test-services.sh
	$(BIN)/python -m bench.charts

bench-deps:
	bash scripts/install-bench-deps.sh
	bash scripts/test-services.sh
