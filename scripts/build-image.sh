#!/usr/bin/env bash
# Build the container image (Containerfile) tagged drop:latest; `make image` runs this.
#
# The base is python:3.11-slim from the registry. Where no registry answers (this CI
# machine), or with IMAGE_BASE=local, it is a Debian bookworm base bootstrapped from the
# Debian mirror (scripts/build-base-image.sh); IMAGE_BASE=<image> names any other base.
# ENGINE=docker builds with docker instead of podman; IMAGE_TAG=<name> tags it otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

engine="${ENGINE:-podman}"
tag="${IMAGE_TAG:-drop:latest}"
registry_base=docker.io/library/python:3.11-slim
local_base=localhost/drop-base:bookworm
base="${IMAGE_BASE:-}"

if [ "$base" = local ]; then
  base=$local_base
elif [ -z "$base" ]; then
  base=$registry_base
  if ! "$engine" image inspect "$base" >/dev/null 2>&1 \
    && ! "$engine" pull --quiet "$base" >/dev/null 2>&1; then
    echo "no registry answers for $base: building on $local_base"
    base=$local_base
  fi
fi
if [ "$base" = "$local_base" ]; then
  ENGINE="$engine" bash scripts/build-base-image.sh "$local_base"
fi

# podman writes OCI images by default, and the OCI format has no HEALTHCHECK.
format=()
[ "$engine" = podman ] && format=(--format docker)
"$engine" build "${format[@]}" --build-arg "BASE=$base" --tag "$tag" --file Containerfile .
