#!/usr/bin/env bash
# `make test`: fresh private stack (profile "test"), fmt check, clippy, tests.
# Extra args go to the test runner: scripts/test.sh -- some_filter
# ROOST_TEST_KEEP_STACK=1 keeps the stack running after the run (debugging).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[test] %s\n' "$*" >&2; }

[[ "${1:-}" == "--" ]] && shift

# Only invoked from the EXIT trap.
# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT
  if [[ "${ROOST_TEST_KEEP_STACK:-0}" == 1 ]]; then
    log "ROOST_TEST_KEEP_STACK=1: leaving test stack running (stop: scripts/stack.sh down test --purge)"
  else
    scripts/stack.sh down test --purge || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/stack.sh down test --purge
scripts/stack.sh up test
# shellcheck source=/dev/null
source "$REPO/.roost/test/env"
export DATABASE_URL ROOST_DATABASE_URL ROOST_REDIS_URL
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

# rustup's default profile ships rustfmt and clippy; a minimal profile may not.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    log "installing the $component component"
    rustup component add "$component"
  fi
done

log "cargo fmt --all --check"
cargo fmt --all --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The served API against its own OpenAPI document (schemathesis); first, so the test runner's
# summary stays the last thing printed.
status=0
log "scripts/api-contract.sh (schemathesis against /openapi.json)"
scripts/api-contract.sh || status=$?
log "scripts/image.sh (the container image, built with buildah and run read-only as non-root)"
scripts/image.sh || status=$?
log "scripts/k8s-check.sh (charts/roost with Helm 3 and 4, k8s/ add-ons, kind/Tilt/Skaffold; offline)"
scripts/k8s-check.sh || status=$?

if cargo nextest --version >/dev/null 2>&1; then
  log "cargo nextest run --workspace --no-fail-fast $*"
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  log "cargo test --workspace --no-fail-fast $*"
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
exit "$status"
