# The two commands a newcomer needs:  make run  and  make test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test test-lowest lock services lint vendor wheel docs bench bench-deps bench-profile bench-charts bench-scale bench-round-trips bench-ab

# Python packages into .venv and front-end assets into node_modules; each step
# re-runs only when its manifest changes.
setup: $(VENV)/.installed node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENV)/.installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Copy htmx and tus-js-client, as package-lock.json pins them, into the package
# (drop/assets/vendor/, committed): an install needs no npm. Run after changing package.json.
vendor: node_modules/.installed
	cp node_modules/htmx.org/dist/htmx.min.js drop/assets/vendor/htmx.min.js
	cp node_modules/tus-js-client/dist/tus.min.js drop/assets/vendor/tus/tus.min.js

# The production install's wheel, in dist/ (docs/install.md): everything drop runs with is inside.
wheel: setup
	rm -rf dist
	$(BIN)/pip wheel --no-deps --quiet --wheel-dir dist .
	@ls dist/*.whl

# Serve on 127.0.0.1:8000 on the embedded default: SQLite, local disk, worker beside it.
run: setup
	$(BIN)/drop-ops migrate
	$(BIN)/drop-ops serve --with-worker

# The whole suite, on SQLite and on real PostgreSQL + Redis (started here if down), then the
# in-process tests on the lowest allowed versions (skipped when PYTEST_ARGS picks tests).
# Four processes on two cores: most tests wait on servers, not on the CPU (a run on this
# machine keeps both cores about half busy with three). Work stealing: a process that has
# run out of tests takes some of another's, so no long queue is left to one at the end.
TEST_WORKERS ?= 4
test: setup services lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)
	$(if $(PYTEST_ARGS),,bash scripts/test-lowest.sh)

# pyproject.toml's floors, tested: a .venv-lowest at the floors runs the in-process tests.
test-lowest: setup services
	bash scripts/test-lowest.sh

# Regenerate requirements.lock, the hashed deployment lock, from pyproject.toml.
lock: setup
	bash scripts/lock.sh

services:
	bash scripts/install-test-deps.sh
	bash scripts/install-image-deps.sh
	bash scripts/test-services.sh

# The container image drop:latest (Containerfile), on python:3.11-slim, or on a Debian base
# bootstrapped here where no registry answers (IMAGE_BASE=local forces it; ENGINE=docker).
.PHONY: image
image:
	bash scripts/build-image.sh

# Ruff, and drop's layers and import cycles (import-linter, [tool.importlinter] in pyproject.toml).
lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	$(BIN)/lint-imports

# The docs (docs/), offline, warnings as errors, into docs/_build/html. `make setup`
# installs the [docs] extra with [test]; the stamp installs it too where it was left out.
docs: setup $(VENV)/.docs-installed
	$(BIN)/sphinx-build -E -W --keep-going -n -b html docs docs/_build/html

$(VENV)/.docs-installed: pyproject.toml
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

# drop against a bare WSGI app and nginx on this machine (docs/benchmarks.md); about 6 minutes.
bench: setup bench-deps
	$(BIN)/python -m bench.run

# What one wait on another server (a Redis round trip) costs a gunicorn worker (docs/benchmarks.md).
bench-round-trips: setup bench-deps
	$(BIN)/python -m bench.round_trips

# Two revisions side by side on SQLite, wrk alternating: make bench-ab BEFORE=main~1 AFTER=main
bench-ab: setup bench-deps
	$(BIN)/python -m bench.ab $(or $(BEFORE),HEAD~1) $(or $(AFTER),HEAD) --measure $(or $(MEASURE),download_1k)

# Sweep, stats, dashboard and downloads at 1,000,000 drops on PostgreSQL (docs/benchmarks.md).
bench-scale: setup
	bash scripts/test-services.sh
	$(BIN)/python -m bench.scale

# py-spy on one worker during one measure: make bench-profile MEASURE=download_1k BACKEND=pg
bench-profile: setup bench-deps
	bash bench/profile.sh $(or $(MEASURE),download_1k) $(or $(BACKEND),pg) $(or $(FORMAT),raw)

# The dashboard charts' data query with 1,000,000 drops, on PostgreSQL (docs/benchmarks.md).
bench-charts: setup
	bash scripts/test-services.sh
	$(BIN)/python -m bench.charts

bench-deps:
	bash scripts/install-bench-deps.sh
	bash scripts/test-services.sh
