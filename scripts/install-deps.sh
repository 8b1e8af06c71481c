#!/usr/bin/env bash
# The one place the project's scripts install system packages: installs the given Debian
# packages that are not installed yet, with apt-get (`update` first, once), without starting
# the services they ship (a temporary policy-rc.d), keeping existing configuration files.
# `postgresql` comes without the default `main` cluster (the stack makes its own).
# Needs root when something is missing; says what to run otherwise.
#
# Usage: scripts/install-deps.sh PACKAGE...   (e.g. scripts/install-deps.sh wrk curl)
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for package in "$@"; do
  installed "$package" || missing+=("$package")
done
((${#missing[@]})) || exit 0

[[ "$(id -u)" -eq 0 ]] || die "missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"

apt_install() {
  DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1 \
    apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >&2
}

# Keep apt from starting the packages' own services (no systemd here, but the sysv init
# scripts would still be run by invoke-rc.d).
readonly POLICY_RCD=/usr/sbin/policy-rc.d
if [[ ! -e "$POLICY_RCD" ]]; then
  printf '#!/bin/sh\n# temporary, created by roost scripts/install-deps.sh\nexit 101\n' >"$POLICY_RCD"
  chmod 0755 "$POLICY_RCD"
  trap 'rm -f "$POLICY_RCD"' EXIT
fi

log "installing ${missing[*]} (apt-get update first)"
DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
for package in "${missing[@]}"; do
  if [[ "$package" == postgresql ]]; then
    # Stop the package from creating (and starting) a default 'main' cluster.
    cc=/etc/postgresql-common/createcluster.conf
    [[ -e "$cc" ]] || apt_install postgresql-common
    if [[ -f "$cc" ]] && ! grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=' "$cc"; then
      printf '\n# added by roost scripts/install-deps.sh\ncreate_main_cluster = false\n' >>"$cc"
    fi
  fi
done
apt_install "${missing[@]}"
