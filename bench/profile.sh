#!/usr/bin/env bash
# Profile one gunicorn worker with py-spy while wrk drives one measure of the benchmark.
#
#   bench/profile.sh MEASURE [BACKEND] [FORMAT] [--cpu-only]
#   bench/profile.sh download_1k pg              # raw stacks + a summary, in bench/results/
#   bench/profile.sh not_found_uncached sqlite speedscope
#
# MEASURE: download_16m, download_1k, not_found_uncached, not_found_cached, upload_1k,
# upload_16m. BACKEND: sqlite, pg (PostgreSQL + Redis, the default) or bare. FORMAT: raw
# (the default; summarised on screen), speedscope (open in speedscope.app) or flamegraph
# (an SVG). py-spy records wall-clock time (waits on the database included) unless
# --cpu-only. BENCH_SECONDS sets how long wrk runs (default 5; py-spy records all but 2 s).
set -euo pipefail
cd "$(dirname "$0")/.."
measure=${1:?usage: bench/profile.sh MEASURE [sqlite|pg|bare] [raw|speedscope|flamegraph]}
exec .venv/bin/python -m bench.run --profile "$measure" --backend "${2:-pg}" --format "${3:-raw}" \
  "${@:4}"
