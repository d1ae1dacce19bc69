#!/usr/bin/env bash
# What `make bench` needs beyond the test dependencies: Debian's wrk (the load generator)
# and nginx (the static baseline), and py-spy in .venv (bench/profile.sh). Installs only
# what is missing, so running it again is harmless.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The `bench` extra in pyproject.toml pins py-spy's major version.
if [ ! -x .venv/bin/py-spy ]; then
  echo "installing py-spy into .venv"
  .venv/bin/pip install --quiet -e '.[bench]'
fi
