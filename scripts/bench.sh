#!/usr/bin/env bash
# `make bench`: the SPEC §5 benchmarks against release builds on a private stack (profile
# "bench": pg :55434, redis :56381, api :18080). Seeds the data set once (kept in
# .roost/bench/), runs each scenario with wrk on the same machine, measures the worker's drain
# rate, and writes a report of req/s and latency percentiles to .roost/bench/report.md.
#
# Settings (environment): BENCH_USERS (100000), BENCH_POSTS (1000000), BENCH_SUBS (100),
# BENCH_EVENTS (1000000), BENCH_DURATION (10s per scenario), BENCH_CONNECTIONS (100),
# BENCH_THREADS (2), BENCH_LOGIN_CONNECTIONS (8), BENCH_SCENARIOS (all; space separated),
# BENCH_RESEED=1 (seed again).
set -euo pipefail
# $EPOCHREALTIME and awk write decimal points, whatever the user's locale.
export LC_ALL=C

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

USERS="${BENCH_USERS:-100000}"
POSTS="${BENCH_POSTS:-1000000}"
SUBS="${BENCH_SUBS:-100}"
EVENTS="${BENCH_EVENTS:-1000000}"
DURATION="${BENCH_DURATION:-10s}"
CONNECTIONS="${BENCH_CONNECTIONS:-100}"
THREADS="${BENCH_THREADS:-2}"
# Reads first: the event scenarios leave millions of fresh rows for autovacuum behind them.
SCENARIOS="${BENCH_SCENARIOS:-posts_create me_posts_search subscriptions_posts feed users_page hash_rate login events_single events_batch drain}"
PASSWORD='bench-Password-1'
(( SUBS * 997 < USERS )) || die "BENCH_SUBS * 997 must be below BENCH_USERS (the seed's follow pattern)"

STATE="$REPO/.roost/bench"
API_ADDR=127.0.0.1:18080
API="http://$API_ADDR"
API_METRICS=127.0.0.1:19464
INGEST_METRICS=127.0.0.1:19465
BIN="${CARGO_TARGET_DIR:-$REPO/target}/release"

api_pid=""
ingest_pid=""

# Only invoked from traps.
# shellcheck disable=SC2317
stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# shellcheck disable=SC2317
cleanup() {
  local rc=$?
  trap - EXIT
  stop_pid "$api_pid"
  stop_pid "$ingest_pid"
  scripts/stack.sh down bench || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools --
command -v wrk >/dev/null 2>&1 || scripts/install-deps.sh wrk curl
command -v curl >/dev/null 2>&1 || die "curl is required"

scripts/stack.sh up bench
# shellcheck source=/dev/null
source "$STATE/env"
export DATABASE_URL ROOST_DATABASE_URL ROOST_REDIS_URL
export ROOST_JWT_SECRET=bench-only-jwt-secret-0123456789abcdef0123
export ROOST_ADMIN_TOKEN=bench-admin-token
export ROOST_HTTP_ADDR="$API_ADDR"
export ROOST_METRICS_ADDR="$API_METRICS"
export ROOST_INGEST_METRICS_ADDR="$INGEST_METRICS"
export RUST_LOG="${RUST_LOG:-info}"
# All load comes from one address: the per-address failed-login window (which counts
# attempts in flight) would answer the login storm with 429s.
export ROOST_LOGIN_MAX_FAILURES_PER_IP=100000000
export ROOST_REGISTER_MAX_PER_IP=100000000
# No load balancer: the API stops at once between phases.
export ROOST_SHUTDOWN_DELAY_SECONDS=0
# Tokens outlive any benchmark length.
export ROOST_TOKEN_TTL_SECONDS=86400

log "building release binaries"
cargo build --release --bin roost-api --bin roost-ingest

psql_bench() { psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }

wait_ready() { # wait_ready <url> <pid>: the process we started answers (not a stale one)
  local url="$1" pid="$2" i
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || die "the process behind $url exited (logs in $STATE)"
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "$url did not become ready"
}

start_api() {
  "$BIN/roost-api" serve >>"$STATE/api.log" 2>&1 &
  api_pid=$!
  wait_ready "$API/readyz" "$api_pid"
}

start_ingest() {
  "$BIN/roost-ingest" >>"$STATE/ingest.log" 2>&1 &
  ingest_pid=$!
  wait_ready "http://$INGEST_METRICS/readyz" "$ingest_pid"
}

# The API process's resident memory now and at its peak (MiB), as a result line.
record_memory() { # record_memory <after what>
  [[ -n "$api_pid" && -r "/proc/$api_pid/status" ]] || return 0
  awk -v after="$1" '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 }
    END { printf "{\"scenario\":\"memory\",\"after\":\"%s\",\"rss_mib\":%.1f,\"peak_mib\":%.1f}\n", after, rss / 1024, hwm / 1024 }' \
    "/proc/$api_pid/status" >>"$results"
}

metric() { # metric <addr> <name> — the sum of a counter's series
  curl -fsS "http://$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

"$BIN/roost-api" migrate >>"$STATE/api.log" 2>&1

# ---------------------------------------------------------------- seed --
# The seed's version is part of the marker: a changed seed.sql seeds again.
marker="$STATE/seeded-v2-$USERS-$POSTS-$SUBS"
if [[ "${BENCH_RESEED:-0}" == 1 || ! -f "$marker" ]]; then
  log "seeding: $USERS users × $SUBS subscriptions, $POSTS posts (a few minutes)"
  rm -f "$STATE"/seeded-*
  psql_bench -c "TRUNCATE users, subscriptions, posts, comments, revoked_tokens, outbox,
                 notifications, jobs, events, event_ids, ingest_errors RESTART IDENTITY CASCADE;
                 DELETE FROM applications WHERE name = 'bench';"
  start_api
  curl -fsS -o /dev/null -H 'Content-Type: application/json' \
    -d "{\"username\":\"benchseed\",\"password\":\"$PASSWORD\"}" "$API/v1/auth/register"
  "$BIN/roost-api" create-app bench 2>>"$STATE/api.log" |
    awk '/^api_key:/ { print $2 }' >"$STATE/api_key"
  stop_pid "$api_pid"
  api_pid=""
  psql_bench -v users="$USERS" -v posts="$POSTS" -v subs="$SUBS" -f bench/seed.sql
  touch "$marker"
fi
API_KEY="$(cat "$STATE/api_key")"
[[ -n "$API_KEY" ]] || die "no API key in $STATE/api_key; rerun with BENCH_RESEED=1"

# A run starts from an empty stream (an interrupted run may have left a backlog behind).
redis-cli -u "$ROOST_REDIS_URL" --no-auth-warning FLUSHDB >/dev/null
start_api
# The worker creates this week's event partition at start, before the events go in.
start_ingest
log "resetting the stored events to the $EVENTS seeded ones"
psql_bench -v events="$EVENTS" -f bench/seed-events.sql

log "logging in 100 users for the authenticated scenarios"
tokens="$STATE/tokens"
: >"$tokens"
for ((i = 1; i <= 100; i++)); do
  n=$(((i * 7919) % USERS + 1))
  token="$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"username\":\"user$n\",\"password\":\"$PASSWORD\"}" "$API/v1/auth/login" |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/')"
  [[ "$token" =~ ^[A-Za-z0-9._-]+$ ]] || die "logging in user$n gave no token; rerun with BENCH_RESEED=1"
  printf '%s %d\n' "$token" "$n" >>"$tokens"
done

results="$STATE/results.jsonl"
: >"$results"
record_memory start
export BENCH_TOKENS="$tokens" BENCH_API_KEY="$API_KEY" BENCH_USERS="$USERS" BENCH_SUBS="$SUBS"
export BENCH_PASSWORD="$PASSWORD" BENCH_OUT="$results"

run_wrk() { # run_wrk <scenario> [connections]
  local connections="${2:-$CONNECTIONS}"
  # Start each scenario from a clean checkpoint, not in the middle of the last one's.
  psql_bench -c CHECKPOINT
  log "scenario $1: $connections connections, $THREADS threads, $DURATION"
  BENCH_SCENARIO="$1" wrk -t "$THREADS" -c "$connections" -d "$DURATION" --timeout 10s \
    -s bench/wrk/roost.lua "$API" >"$STATE/wrk-$1.txt"
}

# The event scenarios measure what the API accepts with the worker stopped (in a deployment
# they run on other nodes; here they would share the same 2 cores); `drain` then times the
# worker storing exactly that backlog.
paused_at=""
pause_worker() {
  [[ -n "$ingest_pid" ]] || return 0
  stop_pid "$ingest_pid"
  ingest_pid=""
  paused_at="$(metric "$API_METRICS" roost_events_accepted_total)"
}
resume_worker() { [[ -n "$ingest_pid" ]] || start_ingest; }

drain() {
  local backlog started stored
  if [[ -n "$ingest_pid" ]]; then
    pause_worker
    BENCH_OUT=/dev/null run_wrk events_batch
  fi
  backlog=$(($(metric "$API_METRICS" roost_events_accepted_total) - paused_at))
  log "drain: $backlog events waiting in the stream"
  started="$EPOCHREALTIME"
  start_ingest
  while :; do
    stored="$(metric "$INGEST_METRICS" roost_ingest_events_stored_total)"
    stored=$((stored + $(metric "$INGEST_METRICS" roost_ingest_events_duplicate_total)))
    # A fresh worker process: its counters start at zero.
    if ((stored >= backlog)); then break; fi
    (($(date +%s) - ${started%.*} < 600)) || die "the worker stored $stored of $backlog events in 600 s"
    sleep 0.2
  done
  awk -v events="$backlog" -v from="$started" -v to="$EPOCHREALTIME" \
    'BEGIN { printf "{\"scenario\":\"drain\",\"requests\":0,\"events\":%d,\"seconds\":%.3f}\n", events, to - from }' >>"$results"
}

# The markdown report: one row per scenario with its SPEC §5 target.
report() {
  printf '# Roost benchmark, %s\n\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf 'Machine: %s cores, %s; data: %s users × %s subscriptions, %s posts, %s events.\n' \
    "$(nproc)" "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)" \
    "$USERS" "$SUBS" "$POSTS" "$EVENTS"
  printf 'Load: wrk, %s connections, %s threads, %s per scenario, on the same cores.\n' \
    "$CONNECTIONS" "$THREADS" "$DURATION"
  printf 'Event scenarios run with the worker stopped; drain times it storing their backlog.\n\n'
  printf '| scenario | req/s | events/s | p50 ms | p90 ms | p99 ms | errors | target | met |\n'
  printf '|---|---:|---:|---:|---:|---:|---:|---|---|\n'
  awk '
    function field(name,   m) {
      if (match($0, "\"" name "\":[^,}]*")) {
        m = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
        gsub(/"/, "", m)
        return m
      }
      return ""
    }
    # min[s]: the least rate (req/s, or events/s for the event scenarios); p99[s]: the
    # largest p99 in ms; 0 = no such target.
    BEGIN {
      min["events_single"] = 30000; p99["events_single"] = 10
      min["events_batch"] = 150000
      min["drain"] = 30000
      min["posts_create"] = 3000; p99["posts_create"] = 20
      min["me_posts_search"] = 8000; p99["me_posts_search"] = 20
      min["subscriptions_posts"] = 2000; p99["subscriptions_posts"] = 50
      min["feed"] = 5000; p99["feed"] = 20
      p99["users_page"] = 20
    }
    function target(s,   t) {
      t = ""
      if (min[s]) t = sprintf(">= %d %s", min[s], s ~ /^(events_batch|drain)$/ ? "events/s" : "req/s")
      if (p99[s]) t = t (t ? ", " : "") sprintf("p99 < %d ms", p99[s])
      return t
    }
    function met(s, rate, latency) {
      if (!min[s] && !p99[s]) return ""
      return ((!min[s] || rate >= min[s]) && (!p99[s] || latency < p99[s])) ? "yes" : "**no**"
    }
    {
      s = field("scenario"); secs = field("seconds")
      if (s == "memory") {
        memory = memory sprintf("| %s | %.1f | %.1f |\n", field("after"), field("rss_mib"), field("peak_mib"))
        next
      }
      if (secs <= 0) next
      if (s == "drain") {
        rate = field("events") / secs
        printf "| drain | | %.0f | | | | | %s | %s |\n", rate, target(s), met(s, rate, 0)
        next
      }
      if (s == "hash_rate") {
        raw = field("verifications") / secs
        printf "| hash_rate (%d threads) | %.1f | | | | | | raw argon2id rate of the login pool | |\n", field("workers"), raw
        next
      }
      errors = field("non_2xx") + field("socket_errors")
      # wrk counts answered requests; only the successful ones count as throughput.
      rate = (field("requests") - field("non_2xx")) / secs
      events = (s == "events_batch") ? rate * 100 : (s == "events_single" ? rate : 0)
      if (s == "login" && raw) {
        t = sprintf(">= %.1f req/s (90 %% of hash_rate)", raw * 0.9)
        ok = rate >= raw * 0.9 ? "yes" : "**no**"
      } else {
        t = target(s)
        ok = met(s, events ? events : rate, field("p99_ms") + 0)
      }
      printf "| %s | %.1f | %s | %.2f | %.2f | %.2f | %d | %s | %s |\n", s, rate,
        events ? sprintf("%.0f", events) : "", field("p50_ms"), field("p90_ms"), field("p99_ms"),
        errors, t, ok
    }
    END {
      if (memory) {
        printf "\nroost-api resident memory (the login storm hashes with 19 MiB per argon2id run):\n\n"
        printf "| after | RSS MiB | peak RSS MiB |\n|---|---:|---:|\n%s", memory
      }
    }' "$results"
}

for scenario in $SCENARIOS; do
  case "$scenario" in
    events_single | events_batch)
      pause_worker
      run_wrk "$scenario"
      ;;
    drain) drain ;;
    # Logins queue for the hashing pool (tens per second): a few connections saturate it.
    login)
      resume_worker
      run_wrk login "${BENCH_LOGIN_CONNECTIONS:-8}"
      ;;
    hash_rate)
      log "scenario hash_rate: the hashing pool's raw argon2id verification rate"
      # Log lines share stdout with the result: keep the result only.
      "$BIN/roost-api" hash-rate --seconds 5 2>>"$STATE/api.log" |
        grep '"verifications"' | sed 's/^{/{"scenario":"hash_rate",/' >>"$results"
      ;;
    *)
      resume_worker
      run_wrk "$scenario"
      ;;
  esac
  record_memory "$scenario"
done

report >"$STATE/report.md"
cat "$STATE/report.md"
log "report: $STATE/report.md"
