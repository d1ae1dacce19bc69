#!/usr/bin/env bash
# Regenerate requirements.lock (`make lock`): every package a deployment installs, each at one
# version with its sha256 hashes, resolved from pyproject.toml's runtime dependencies only (no
# extras) for CPython 3.11 on Linux. tests/test_lock.py checks it against pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

{
  cat <<'HEADER'
# The deployment lock: drop's runtime dependencies (no extras) for CPython 3.11 on Linux,
# each pinned with its hashes. Install with
#   pip install --require-hashes -r requirements.lock && pip install --no-deps <drop wheel>
# Regenerate with `make lock` (scripts/lock.sh) after changing pyproject.toml's dependencies;
# tests/test_lock.py fails while the two disagree.
#
# Made by `uv pip compile --generate-hashes` rather than pip-tools: uv is already the tool
# that resolves the floors (scripts/test-lowest.sh), it compiles for a target Python and
# platform whatever the machine runs, and it does not depend on pip's internals, which pip-tools
# breaks on with new pip releases. The file itself is plain pip requirements syntax.
HEADER
  .venv/bin/uv pip compile pyproject.toml --quiet --no-header --generate-hashes \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "requirements.lock: $(grep -c '^[a-z0-9]' requirements.lock) packages"
