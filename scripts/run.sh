#!/usr/bin/env bash
# `make run`: start the private dev stack (profile "run"), migrate, and run
# roost-api + roost-ingest in the foreground. Ctrl-C stops everything it started;
# the stack's data is kept in .roost/run/.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[run] %s\n' "$*" >&2; }

api_pid=""
ingest_pid=""
stack_started=0

# Only invoked from the EXIT trap.
# shellcheck disable=SC2317
stop_children() {
  local pid
  for pid in "$api_pid" "$ingest_pid"; do
    if [[ -n "$pid" ]]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  # Give them a bounded grace period, then force.
  local i
  for ((i = 0; i < 100; i++)); do
    local alive=0
    for pid in "$api_pid" "$ingest_pid"; do
      [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    [[ "$alive" -eq 0 ]] && break
    sleep 0.2
  done
  for pid in "$api_pid" "$ingest_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "$api_pid" "$ingest_pid"; do
    if [[ -n "$pid" ]]; then wait "$pid" 2>/dev/null || true; fi
  done
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_children
  if [[ "$stack_started" -eq 1 ]]; then
    scripts/stack.sh down run || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stack_started=1
scripts/stack.sh up run
# shellcheck source=/dev/null
source "$REPO/.roost/run/env"

export ROOST_JWT_SECRET="${ROOST_JWT_SECRET:-dev-only-jwt-secret-change-me-0123456789abcdef}"
export ROOST_ADMIN_TOKEN="${ROOST_ADMIN_TOKEN:-roost-dev-admin-token}"
export ROOST_HTTP_ADDR="${ROOST_HTTP_ADDR:-127.0.0.1:8080}"
export ROOST_METRICS_ADDR="${ROOST_METRICS_ADDR:-127.0.0.1:9464}"
export ROOST_INGEST_METRICS_ADDR="${ROOST_INGEST_METRICS_ADDR:-127.0.0.1:9465}"
export RUST_LOG="${RUST_LOG:-info}"
# No load balancer to wait for locally: Ctrl-C stops at once.
export ROOST_SHUTDOWN_DELAY_SECONDS="${ROOST_SHUTDOWN_DELAY_SECONDS:-0}"

cargo build --bin roost-api --bin roost-ingest
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"

log "running migrations"
"$BIN/roost-api" migrate

"$BIN/roost-api" serve &
api_pid=$!
"$BIN/roost-ingest" &
ingest_pid=$!
log "roost-api (pid $api_pid) on http://$ROOST_HTTP_ADDR, roost-ingest (pid $ingest_pid); Ctrl-C to stop"

# Returns as soon as either child exits (or a trapped signal arrives).
status=0
wait -n "$api_pid" "$ingest_pid" || status=$?
if ! kill -0 "$api_pid" 2>/dev/null; then
  log "roost-api exited (status $status); stopping roost-ingest"
else
  log "roost-ingest exited (status $status); stopping roost-api"
fi
[[ "$status" -ne 0 ]] || status=1
exit "$status"
