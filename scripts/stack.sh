#!/usr/bin/env bash
# Private PostgreSQL + Redis for local development and tests.
#
# Usage: scripts/stack.sh up|down|status|env <profile> [--purge]
#   profile: run | test | bench
#   up      install packages if missing, init + start both services (idempotent)
#   down    stop both services (succeeds if not running); --purge also deletes
#           the profile's state directory
#   status  print whether each service is running (exit 0 iff both are running)
#   env     print `export` lines for DATABASE_URL / ROOST_DATABASE_URL / ROOST_REDIS_URL
#
# State lives in $REPO/.roost/<profile>/. Ports (override with ROOST_PG_PORT /
# ROOST_REDIS_PORT): run -> pg 55432, redis 56379; test -> pg 55433, redis 56380;
# bench -> pg 55434, redis 56381.
set -euo pipefail

readonly DB_USER=roost
readonly DB_PASS=roost
readonly DB_NAME=roost
readonly REDIS_PASS=roost
readonly TIMEOUT=30

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO

log() { printf '[stack] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  cat >&2 <<'EOF'
usage: scripts/stack.sh up|down|status|env <run|test|bench> [--purge]
  up      install (if needed), initialise and start PostgreSQL + Redis
  down    stop both; with --purge also delete .roost/<profile>/
  status  show whether each service is running
  env     print export lines for DATABASE_URL, ROOST_DATABASE_URL, ROOST_REDIS_URL
EOF
  exit 2
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# ---------------------------------------------------------------- arguments --
CMD="${1:-}"
[[ $# -gt 0 ]] && shift
PROFILE=""
PURGE=0
for arg in "$@"; do
  case "$arg" in
    --purge) PURGE=1 ;;
    run | test | bench)
      [[ -z "$PROFILE" ]] || usage
      PROFILE="$arg"
      ;;
    *) usage ;;
  esac
done
[[ -n "$CMD" && -n "$PROFILE" ]] || usage
if [[ "$PURGE" -eq 1 && "$CMD" != down ]]; then usage; fi

case "$PROFILE" in
  run)
    PG_PORT="${ROOST_PG_PORT:-55432}"
    REDIS_PORT="${ROOST_REDIS_PORT:-56379}"
    ;;
  test)
    PG_PORT="${ROOST_PG_PORT:-55433}"
    REDIS_PORT="${ROOST_REDIS_PORT:-56380}"
    ;;
  bench)
    PG_PORT="${ROOST_PG_PORT:-55434}"
    REDIS_PORT="${ROOST_REDIS_PORT:-56381}"
    ;;
esac
[[ "$PG_PORT" =~ ^[0-9]+$ ]] || die "ROOST_PG_PORT must be numeric (got '$PG_PORT')"
[[ "$REDIS_PORT" =~ ^[0-9]+$ ]] || die "ROOST_REDIS_PORT must be numeric (got '$REDIS_PORT')"

readonly STATE_ROOT="$REPO/.roost"
readonly PROFILE_DIR="$STATE_ROOT/$PROFILE"
readonly PG_DIR="$PROFILE_DIR/pg"
readonly PG_DATA="$PG_DIR/data"
readonly PG_SOCK="$PG_DIR/run"
readonly PG_LOG="$PG_DIR/postgres.log"
readonly REDIS_DIR="$PROFILE_DIR/redis"
readonly REDIS_CONF="$REDIS_DIR/redis.conf"
readonly REDIS_PID="$REDIS_DIR/redis.pid"
readonly REDIS_LOG="$REDIS_DIR/redis.log"
readonly ENV_FILE="$PROFILE_DIR/env"

env_lines() {
  local db_url="postgres://$DB_USER:$DB_PASS@127.0.0.1:$PG_PORT/$DB_NAME"
  printf 'export DATABASE_URL=%s\n' "$db_url"
  printf 'export ROOST_DATABASE_URL=%s\n' "$db_url"
  printf 'export ROOST_REDIS_URL=%s\n' "redis://:$REDIS_PASS@127.0.0.1:$REDIS_PORT/0"
}

# ---------------------------------------------------------------- packages --
pg_bin_dir() {
  # Prefer the binaries matching an existing data directory, else the newest.
  local ver
  if [[ -f "$PG_DATA/PG_VERSION" ]]; then
    ver="$(cat "$PG_DATA/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$ver/bin/initdb" ]]; then
      printf '%s\n' "/usr/lib/postgresql/$ver/bin"
      return 0
    fi
  fi
  local initdb
  initdb="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)"
  [[ -n "$initdb" ]] || return 1
  dirname "$initdb"
}

have_pg() { pg_bin_dir >/dev/null 2>&1; }
have_redis() { command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; }

install_packages() {
  local need=()
  have_pg || need+=(postgresql)
  have_redis || need+=(redis-server)
  ((${#need[@]})) || return 0
  "$REPO/scripts/install-deps.sh" "${need[@]}"
  have_pg || die "PostgreSQL installation did not provide /usr/lib/postgresql/*/bin/initdb"
  have_redis || die "redis-server / redis-cli still not found after installation"
}

# ---------------------------------------------------------------- postgres --
# Run a PostgreSQL server binary as a user that is allowed to run it.
as_pg() {
  if is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

pg_running() {
  [[ -f "$PG_DATA/PG_VERSION" ]] || return 1
  local bin
  bin="$(pg_bin_dir)" || return 1
  as_pg "$bin/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

pg_psql() {
  local bin
  bin="$(pg_bin_dir)"
  PGPASSWORD="$DB_PASS" "$bin/psql" -X -q -v ON_ERROR_STOP=1 \
    -h "$PG_SOCK" -p "$PG_PORT" -U "$DB_USER" "$@"
}

# Make every ancestor of $1 searchable by the postgres user.
ensure_traversable() {
  local d="$1"
  while [[ "$d" != / && -n "$d" ]]; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      log "granting o+x on $d so the postgres user can reach its data directory"
      chmod o+x "$d"
    fi
    d="$(dirname "$d")"
  done
}

write_pg_conf() {
  local sock_path="$PG_SOCK/.s.PGSQL.$PG_PORT"
  [[ ${#sock_path} -lt 104 ]] || die "unix socket path too long (${#sock_path} chars): $sock_path"
  {
    echo "# generated by scripts/stack.sh on every 'up'; edits are overwritten"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$PG_SOCK'"
    echo "max_connections = 300"
    echo "shared_buffers = 256MB"
    echo "password_encryption = 'scram-sha-256'"
    echo "log_min_duration_statement = -1"
    if [[ "$PROFILE" == test ]]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >"$PG_DATA/roost.conf"
  chmod 0600 "$PG_DATA/roost.conf"
  if is_root; then chown postgres:postgres "$PG_DATA/roost.conf"; fi
}

pg_up() {
  local bin
  bin="$(pg_bin_dir)" || die "PostgreSQL binaries not found"

  mkdir -p "$PG_DIR"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "system user 'postgres' missing (should come with the postgresql package)"
    chown postgres:postgres "$PG_DIR"
    ensure_traversable "$PG_DIR"
  fi
  as_pg mkdir -p "$PG_SOCK"
  chmod 0700 "$PG_DIR"

  if pg_running; then
    log "postgres already running (port $PG_PORT)"
  else
    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
      log "initialising PostgreSQL cluster in $PG_DATA ($("$bin/postgres" --version))"
      local locale=C
      if locale -a 2>/dev/null | grep -Eqi '^c\.utf-?8$'; then locale=C.UTF-8; fi
      local pwfile="$PG_DIR/.pwfile"
      (umask 077 && printf '%s\n' "$DB_PASS" >"$pwfile")
      if is_root; then chown postgres:postgres "$pwfile"; fi
      if ! as_pg "$bin/initdb" -D "$PG_DATA" -U "$DB_USER" --pwfile="$pwfile" \
        -E UTF8 --locale="$locale" --auth=scram-sha-256 --no-instructions >"$PG_DIR/initdb.log" 2>&1; then
        rm -f "$pwfile"
        tail -n 30 "$PG_DIR/initdb.log" >&2 || true
        die "initdb failed (log: $PG_DIR/initdb.log)"
      fi
      rm -f "$pwfile"
      printf "\ninclude_if_exists = 'roost.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
    write_pg_conf
    log "starting postgres on 127.0.0.1:$PG_PORT"
    # Clear a stale pid file left by a crash/kill of a server that is gone now.
    if [[ -f "$PG_DATA/postmaster.pid" ]]; then
      local oldpid
      oldpid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)"
      if [[ -n "$oldpid" ]] && ! kill -0 "$oldpid" 2>/dev/null; then
        rm -f "$PG_DATA/postmaster.pid"
      fi
    fi
    # 9>&-: the daemon must not inherit the profile lock fd.
    if ! as_pg "$bin/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" >/dev/null 2>&1 9>&-; then
      log "postgres failed to start or did not become ready within ${TIMEOUT}s; last lines of $PG_LOG:"
      tail -n 30 "$PG_LOG" >&2 || true
      die "failed to start postgres"
    fi
  fi

  # Wait until connections are accepted, then make sure the database exists.
  local i
  for ((i = 0; i < TIMEOUT * 5; i++)); do
    if pg_psql -d postgres -c 'select 1' >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  if ! pg_psql -d postgres -c 'select 1' >/dev/null; then
    tail -n 30 "$PG_LOG" >&2 || true
    die "postgres is running but does not accept connections as '$DB_USER'"
  fi
  if [[ "$(pg_psql -d postgres -tAc "select 1 from pg_database where datname = '$DB_NAME'")" != 1 ]]; then
    log "creating database $DB_NAME"
    pg_psql -d postgres -c "create database \"$DB_NAME\" owner \"$DB_USER\""
  fi
  log "postgres ready: 127.0.0.1:$PG_PORT"
}

pg_down() {
  if pg_running; then
    local bin
    bin="$(pg_bin_dir)"
    log "stopping postgres (port $PG_PORT)"
    as_pg "$bin/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$TIMEOUT" >/dev/null ||
      die "pg_ctl stop failed; see $PG_LOG"
  else
    log "postgres not running"
  fi
}

# ------------------------------------------------------------------- redis --
redis_pid() {
  [[ -f "$REDIS_PID" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$REDIS_PID")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  grep -q redis "/proc/$pid/comm" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

redis_running() { redis_pid >/dev/null; }

redis_ping() {
  [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -a "$REDIS_PASS" --no-auth-warning ping 2>/dev/null)" == PONG ]]
}

write_redis_conf() {
  cat >"$REDIS_CONF" <<EOF
# generated by scripts/stack.sh on every 'up'; edits are overwritten
bind 127.0.0.1
port $REDIS_PORT
protected-mode yes
requirepass $REDIS_PASS
daemonize yes
supervised no
dir $REDIS_DIR
pidfile $REDIS_PID
logfile $REDIS_LOG
appendonly yes
appendfsync everysec
maxmemory-policy noeviction
EOF
  chmod 0600 "$REDIS_CONF"
}

redis_up() {
  mkdir -p "$REDIS_DIR"
  if redis_running; then
    log "redis already running (port $REDIS_PORT)"
  else
    rm -f "$REDIS_PID"
    write_redis_conf
    log "starting redis on 127.0.0.1:$REDIS_PORT"
    redis-server "$REDIS_CONF" >>"$REDIS_LOG" 2>&1 9>&- || {
      tail -n 30 "$REDIS_LOG" >&2 || true
      die "redis-server failed to start"
    }
  fi
  local i
  for ((i = 0; i < TIMEOUT * 5; i++)); do
    if redis_ping; then
      log "redis ready: 127.0.0.1:$REDIS_PORT"
      return 0
    fi
    sleep 0.2
  done
  log "redis did not answer PING within ${TIMEOUT}s; last lines of $REDIS_LOG:"
  tail -n 30 "$REDIS_LOG" >&2 || true
  die "failed to start redis"
}

redis_down() {
  local pid
  if pid="$(redis_pid)"; then
    log "stopping redis (port $REDIS_PORT, pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < TIMEOUT * 5; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.2
    done
    log "redis did not exit within ${TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  else
    log "redis not running"
  fi
}

# -------------------------------------------------------------- commands --
lock_profile() {
  mkdir -p "$PROFILE_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_ROOT/.$PROFILE.lock"
    flock -w 120 9 || die "timed out waiting for another stack.sh on profile '$PROFILE'"
  fi
}

cmd_up() {
  install_packages
  lock_profile
  pg_up
  redis_up
  env_lines >"$ENV_FILE"
  log "profile '$PROFILE' up; env: $ENV_FILE"
}

cmd_down() {
  if [[ -d "$PROFILE_DIR" ]]; then
    lock_profile
    pg_down
    redis_down
  else
    log "profile '$PROFILE' has no state; nothing to stop"
  fi
  if [[ "$PURGE" -eq 1 && -d "$PROFILE_DIR" ]]; then
    log "purging $PROFILE_DIR"
    rm -rf "$PROFILE_DIR"
  fi
}

cmd_status() {
  local ok=0 pid
  if pg_running; then
    echo "postgres: running (127.0.0.1:$PG_PORT, data $PG_DATA)"
  else
    echo "postgres: stopped"
    ok=1
  fi
  if pid="$(redis_pid)"; then
    echo "redis:    running (127.0.0.1:$REDIS_PORT, pid $pid)"
  else
    echo "redis:    stopped"
    ok=1
  fi
  return "$ok"
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) env_lines ;;
  *) usage ;;
esac
