#!/usr/bin/env bash
# Bootstrap a Debian bookworm base image from the Debian mirror, for machines that reach no
# image registry (this CI machine): mmdebstrap builds a minimal root filesystem with
# bookworm's Python (3.11), and `podman import` makes it the local image
# localhost/drop-base:bookworm, which `make image BASE=...` builds the Containerfile on.
# Idempotent: does nothing when the image is already there.
#
#   scripts/build-base-image.sh [IMAGE]     (default localhost/drop-base:bookworm)
set -euo pipefail

image="${1:-localhost/drop-base:bookworm}"
engine="${ENGINE:-podman}"

if "$engine" image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "bootstrapping $image with mmdebstrap (a minute or so)"
# minbase: only Essential and apt; the image needs no more than Python with venv and pip
# (the Containerfile builds drop's wheel and its venv with them) and CA certificates,
# with this machine's own CAs added: where a TLS-inspecting proxy stands between the
# machine and PyPI (as on this CI machine), pip in the build must trust it too.
mmdebstrap --quiet --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  --aptopt='Apt::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  --customize-hook='[ ! -d /usr/local/share/ca-certificates ] || cp -r /usr/local/share/ca-certificates/. "$1"/usr/local/share/ca-certificates/' \
  --customize-hook='chroot "$1" update-ca-certificates >/dev/null 2>&1' \
  bookworm "$work/rootfs.tar"
# python:3.11-slim's own settings, so the Containerfile sees the same on either base.
"$engine" import --quiet \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  "$work/rootfs.tar" "$image" >/dev/null
echo "built $image"
