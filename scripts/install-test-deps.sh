#!/usr/bin/env bash
# System packages the end-to-end tests drive: Debian's Chromium (for Playwright, which
# cannot download its own browser here), nginx, systemd-analyze (checks the units in
# ops/systemd), curl (the `curl -T` tests) and clamd (the malware-scanning tests, which
# start a clamd of their own on a signature database they write). Installs only what is
# missing.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || missing+=(clamav-daemon)
# pg_dump and pg_restore, for the tests of drop-ops backup and restore.
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
fonts=$(fc-list 2>/dev/null | wc -l || echo 0)
[ "$fonts" -gt 0 ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's clamav-daemon pulls in clamav-freshclam, and on a machine with an init system
# both services start on install: freshclam would fetch signatures from the network and
# the system clamd would load them into about a gigabyte of memory. The tests need
# neither (they run their own clamd), so stop and disable both whenever they are there.
if [ -x /usr/sbin/clamd ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if [ -d /run/systemd/system ]; then
    for unit in clamav-daemon clamav-freshclam; do
      if systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl is-active --quiet "$unit" 2>/dev/null; then
        $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
      fi
    done
  else
    for service in clamav-daemon clamav-freshclam; do
      if [ -x "/etc/init.d/$service" ] && "/etc/init.d/$service" status >/dev/null 2>&1; then
        $SUDO "/etc/init.d/$service" stop >/dev/null 2>&1 || true
      fi
    done
  fi
fi
