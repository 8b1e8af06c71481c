#!/usr/bin/env bash
# Offline checks of k8s/ (no cluster, no network, a few seconds): `bash -n` and shellcheck
# (scripts/k8s-tools.sh installs it) on the scripts, then k8s/tests/check.py (the catalogue,
# the values files and their keys against the pinned charts' key lists in
# k8s/tests/upstream-keys, the README's versions table, and k8s/bootstrap.sh run against stub
# helm and kubectl). Python with PyYAML from .roost/tools/k8s-venv (scripts/k8s-tools.sh makes it) or,
# failing that, the system python3 if it has PyYAML.
#
# Usage: k8s/tests/check.sh            (from anywhere; exits non-zero on any failure)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"

log() { printf '[k8s-check] %s\n' "$*" >&2; }

scripts=(k8s/bootstrap.sh k8s/tests/check.sh k8s/tests/stubs/helm k8s/tests/stubs/kubectl)
status=0
for script in "${scripts[@]}"; do
  bash -n "$script" || {
    log "bash -n $script: syntax error"
    status=1
  }
done
log "bash -n: ${scripts[*]}"
if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck "${scripts[@]}"; then
    log "shellcheck: clean"
  else
    log "shellcheck: findings above"
    status=1
  fi
else
  log "shellcheck not found: run scripts/k8s-tools.sh (it installs it with apt-get)"
  status=1
fi

py="$REPO/.roost/tools/k8s-venv/bin/python"
if [[ ! -x "$py" ]]; then
  if python3 -c 'import yaml' 2>/dev/null; then
    py=python3
  else
    log "no Python with PyYAML: making .roost/tools/k8s-venv with scripts/k8s-tools.sh"
    scripts/k8s-tools.sh >/dev/null
  fi
fi
"$py" k8s/tests/check.py "$@" || status=1

if [[ "$status" -eq 0 ]]; then
  log "k8s/: every check passed"
else
  log "k8s/: FAILED"
fi
exit "$status"
