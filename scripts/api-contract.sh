#!/usr/bin/env bash
# The API contract check of `make test`: runs the real roost-api and roost-ingest (debug
# builds) against their own database on the running test stack, then scripts/schemathesis.sh
# against the served /openapi.json: a fixed seed, a bounded number of examples, failing on any
# 5xx and any status-code, content-type or response-schema mismatch.
#
# Usage: scripts/api-contract.sh  (after `scripts/stack.sh up test`; reads .roost/test/env)
# Environment: ROOST_ST_MAX_EXAMPLES, ROOST_ST_SEED, ... (see schemathesis.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[api-contract] %s\n' "$*" >&2; }

# shellcheck source=/dev/null
source "$REPO/.roost/test/env"
STATE="$REPO/.roost/test/api-contract"
mkdir -p "$STATE"

readonly DB=roost_api_contract
readonly API_ADDR=127.0.0.1:55490
base="${DATABASE_URL%/*}"
PSQL="$(command -v psql || true)"
if [[ -z "$PSQL" ]]; then
  for candidate in /usr/lib/postgresql/*/bin/psql; do PSQL="$candidate"; done
fi
[[ -x "$PSQL" ]] || {
  log "psql not found (scripts/stack.sh installs PostgreSQL)"
  exit 2
}
"$PSQL" "$base/postgres" -X -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null

export ROOST_DATABASE_URL="$base/$DB"
export ROOST_REDIS_URL
export ROOST_REDIS_KEY_PREFIX="api-contract:$$:"
export ROOST_JWT_SECRET=api-contract-jwt-secret-0123456789abcdef
export ROOST_ADMIN_TOKEN=api-contract-admin-token
export ROOST_HTTP_ADDR="$API_ADDR"
export ROOST_METRICS_ADDR=127.0.0.1:55491
export ROOST_INGEST_METRICS_ADDR=127.0.0.1:55492
# Every registration comes from this one address.
export ROOST_REGISTER_MAX_PER_IP=1000000
export ROOST_LOGIN_MAX_FAILURES_PER_IP=1000000
export RUST_LOG=warn
export ROOST_SHUTDOWN_DELAY_SECONDS=0

log "building roost-api and roost-ingest"
cargo build --quiet --bin roost-api --bin roost-ingest
BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"
"$BIN/roost-api" migrate >"$STATE/api.log" 2>&1

pids=()
# shellcheck disable=SC2317 # invoked from the EXIT trap
stop() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop EXIT

"$BIN/roost-api" serve >>"$STATE/api.log" 2>&1 &
pids+=($!)
"$BIN/roost-ingest" >"$STATE/ingest.log" 2>&1 &
pids+=($!)

status=0
ROOST_ST_MAX_EXAMPLES="${ROOST_ST_MAX_EXAMPLES:-100}" ROOST_ST_REPORT_DIR="$STATE/report" \
  scripts/schemathesis.sh "http://$API_ADDR" || status=$?
if [[ "$status" -ne 0 ]]; then
  log "failed (status $status); the API's log is $STATE/api.log, the reports are in $STATE/report"
  # The server side of every failure: its error lines.
  grep -h '"level":"ERROR"' "$STATE/api.log" | tail -n 20 >&2 || true
fi
exit "$status"
