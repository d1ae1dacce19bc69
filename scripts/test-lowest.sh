#!/usr/bin/env bash
# The floors in pyproject.toml, tested: .venv-lowest gets every direct dependency (runtime and
# the [test] extra) at the lowest version pyproject.toml allows, and the tests below run on it.
# `make test` runs this after the main suite, which tests the newest versions.
#
# uv resolves the floors (`--resolution lowest-direct`: direct dependencies at their lowest,
# the rest at their newest compatible), from pyproject.toml itself, so no second list of floors
# can drift; pip has no such mode. scripts/check_floors.py then fails if any direct dependency
# did not land exactly on its floor. Idempotent: the venv is rebuilt only when pyproject.toml
# changes, and `uv pip sync` makes it hold exactly the resolved set.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-lowest
UV=.venv/bin/uv # installed by `make setup` (the [test] extra)
export UV_PYTHON_DOWNLOADS=never # the machine's python3.11, never a downloaded one
if [ ! -x $UV ]; then
  echo "error: $UV is missing: run make setup (uv comes with the [test] extra)" >&2
  exit 1
fi

# The tests that run on the floors: in-process tests (falcon.testing clients, the CLI through
# Typer's runner, Huey inline), on SQLite and on PostgreSQL + Redis, chosen so each direct
# dependency's use in drop/ is exercised: Falcon (API, pages, operator sessions), peewee +
# psycopg2 (both backends, prepared statements, group commit), Redis (Lua limits, breaker),
# Huey (tasks), Jinja2 + MarkupSafe + segno (share page, QR code), Typer
# (drop-ops), boto3 (the S3 parametrisations, on SeaweedFS) and prometheus-client. Three
# live tests boot gunicorn with drop's worker class (drop/serving.py), which reaches into
# gunicorn's internals: test_metrics.py's two (with the Huey consumer), and the RSS test,
# which also needs the worker to stop promptly on SIGTERM (it did not before gunicorn 27).
TESTS=(
  tests/drops/test_api_upload.py
  tests/drops/test_api_download.py
  tests/drops/test_page_share.py
  tests/ops/test_ops_audit.py
  tests/cli/test_cli_tokens.py
  tests/drops/test_task_results.py
  tests/protection/test_limits.py
  tests/runtime/test_breaker.py
  tests/db/test_statements.py
  tests/db/test_group_commit.py
  tests/web/test_health.py
  tests/web/test_metrics.py
  tests/test_live_server.py::test_a_16_mib_upload_grows_the_worker_peak_rss_by_less_than_8_mib
  tests/web/test_openapi.py
  tests/test_lock.py
)

stamp=$VENV/.installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  test -x $VENV/bin/python || $UV venv --quiet --python "${PYTHON:-python3.11}" $VENV
  $UV pip compile --quiet --python $VENV/bin/python --resolution lowest-direct \
    --extra test pyproject.toml -o $VENV/requirements.txt
  $UV pip sync --quiet --python $VENV/bin/python $VENV/requirements.txt
  $UV pip install --quiet --python $VENV/bin/python --no-deps -e .
  touch "$stamp"
fi

$VENV/bin/python scripts/check_floors.py
$VENV/bin/pytest -p no:cacheprovider "$@" "${TESTS[@]}"
