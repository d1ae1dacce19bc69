#!/usr/bin/env bash
# What `make image` and tests/test_image.py need on this machine: Debian's podman, runc,
# and mmdebstrap (scripts/build-base-image.sh bootstraps the base image with it, since no
# image registry can be reached here), plus a containers.conf drop-in. Idempotent: installs
# only what is missing and rewrites the drop-in only when it differs.
#
# Why the drop-in: measured on this machine, Debian's default runtime (crun) fails on
# rlimits and on the hybrid cgroup hierarchy, and containers cannot get a network
# namespace of their own. runc with no default ulimits, cgroupfs and the host's network
# namespace works. A machine where podman already works needs none of it.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

conf_dir=/etc/containers/containers.conf.d
conf="$conf_dir/50-drop-ci.conf"
wanted='# Written by drop'"'"'s scripts/install-image-deps.sh: what podman needs on this machine.
[containers]
default_ulimits = []
netns = "host"

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
'
if [ "$(cat "$conf" 2>/dev/null)" != "$(printf '%s' "$wanted")" ]; then
  echo "writing $conf"
  $SUDO mkdir -p "$conf_dir"
  printf '%s' "$wanted" | $SUDO tee "$conf" >/dev/null
fi
