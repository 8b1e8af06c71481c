#!/usr/bin/env bash
# Property-based API testing with schemathesis against the API's own OpenAPI
# document (GET /openapi.json) of a running roost-api.
#
# Usage: scripts/schemathesis.sh [BASE_URL]
#   BASE_URL (or ROOST_ST_BASE_URL), default http://127.0.0.1:8080
#
# Installs a pinned schemathesis into .roost/tools/schemathesis-venv (reused while it
# holds that version), registers two fresh users (one only for POST /v1/auth/logout, which
# revokes its token), creates a client application as admin,
# then runs every operation except the WebSocket route with the right credentials
# (the document's security schemes: bearer = user token, admin = ROOST_ADMIN_TOKEN,
# api_key = X-Api-Key), a fixed seed and a bounded number of examples, and keeps testing
# an operation after its first failure (every distinct failure is listed). Fails (exit 1)
# on any 5xx, undocumented status code, content-type or response-schema mismatch; exit 2
# when it cannot set up (API unreachable, registration refused).
#
# Registration is throttled per client address (ROOST_REGISTER_MAX_PER_IP per window) and
# a run uses that allowance up, so a second run within the window needs a fresh stack or
# an API started with a higher limit.
#
# Environment (all optional):
#   ROOST_ST_BASE_URL      API base URL (the argument wins)
#   ROOST_ADMIN_TOKEN      admin bearer token (default: the development value)
#   ROOST_ST_MAX_EXAMPLES  test cases per operation and phase (default 100, about 1 min on 2 cores)
#   ROOST_ST_SEED          random seed (default 20261129)
#   ROOST_ST_WORKERS       concurrent schemathesis workers (default 1: reproducible order)
#   ROOST_ST_PHASES        phases to run (default examples,coverage,fuzzing,stateful)
#   ROOST_ST_REPORT_DIR    where the JUnit and NDJSON reports go (default .roost/schemathesis)
#   ROOST_ST_EXTRA_ARGS    extra arguments for `schemathesis run` (word-split)
set -euo pipefail
shopt -s inherit_errexit

readonly ST_VERSION=4.32.5
readonly CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
readonly PASSWORD='Sch3ma-thesis!'

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly VENV="$REPO/.roost/tools/schemathesis-venv"

BASE_URL="${1:-${ROOST_ST_BASE_URL:-http://127.0.0.1:8080}}"
BASE_URL="${BASE_URL%/}"
MAX_EXAMPLES="${ROOST_ST_MAX_EXAMPLES:-100}"
SEED="${ROOST_ST_SEED:-20261129}"
WORKERS="${ROOST_ST_WORKERS:-1}"
PHASES="${ROOST_ST_PHASES:-examples,coverage,fuzzing,stateful}"
REPORT_DIR="${ROOST_ST_REPORT_DIR:-$REPO/.roost/schemathesis}"
export ROOST_ADMIN_TOKEN="${ROOST_ADMIN_TOKEN:-roost-dev-admin-token}"

log() { printf '[schemathesis] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 2
}

[[ "$MAX_EXAMPLES" =~ ^[1-9][0-9]*$ ]] || die "ROOST_ST_MAX_EXAMPLES must be a positive integer (got '$MAX_EXAMPLES')"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "ROOST_ST_SEED must be numeric (got '$SEED')"
[[ "$WORKERS" =~ ^[1-9][0-9]*$ ]] || die "ROOST_ST_WORKERS must be a positive integer (got '$WORKERS')"
command -v curl >/dev/null 2>&1 || die "curl not found"
command -v python3 >/dev/null 2>&1 || die "python3 not found"

# ------------------------------------------------------------------ install --
venv_version() {
  "$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}

make_venv() {
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if python3 -m venv "$VENV" >/dev/null 2>&1; then return 0; fi
  # Debian ships venv/ensurepip separately.
  rm -rf "$VENV"
  log "python3 -m venv failed; installing python3-venv"
  "$REPO/scripts/install-deps.sh" python3-venv
  python3 -m venv "$VENV" || die "python3 -m venv still fails after installing python3-venv"
}

if [[ "$(venv_version)" == "$ST_VERSION" ]]; then
  log "reusing schemathesis $ST_VERSION in $VENV"
else
  log "installing schemathesis $ST_VERSION into $VENV"
  make_venv
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION" >&2 ||
    die "pip install schemathesis==$ST_VERSION failed"
  [[ "$(venv_version)" == "$ST_VERSION" ]] || die "schemathesis $ST_VERSION did not install"
fi
readonly PY="$VENV/bin/python"

# ------------------------------------------------------------ credentials --
WORK="$(mktemp -d)"
readonly WORK
# shellcheck disable=SC2317 # invoked from the EXIT trap
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

# POST JSON, print the response body; die unless the status is the expected one.
post_json() {
  local path="$1" body="$2" expect="$3"
  shift 3
  local status
  status="$(curl -sS -o "$WORK/body" -w '%{http_code}' -X POST "$BASE_URL$path" \
    -H 'content-type: application/json' "$@" --data "$body")" ||
    die "POST $path: cannot reach $BASE_URL"
  if [[ "$status" == 429 ]]; then
    die "POST $path answered 429: $(head -c 300 "$WORK/body")
  (registrations are throttled per client address, ROOST_REGISTER_MAX_PER_IP per window, and a
  run uses the allowance up: wait, run the API with a higher limit, or use a fresh stack)"
  fi
  [[ "$status" == "$expect" ]] || die "POST $path answered $status (expected $expect): $(head -c 500 "$WORK/body")"
  cat "$WORK/body"
}

json_field() { "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

random_hex() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }

register() {
  local name
  name="st_$(random_hex)"
  local body
  body="$(post_json /v1/auth/register "{\"username\": \"$name\", \"password\": \"$PASSWORD\"}" 201)"
  json_field access_token <<<"$body"
}

log "waiting for $BASE_URL/openapi.json"
for ((i = 0; i < 60; i++)); do
  curl -fsS -o /dev/null "$BASE_URL/openapi.json" 2>/dev/null && break
  [[ "$i" -lt 59 ]] || die "$BASE_URL/openapi.json not reachable after 60 s"
  sleep 1
done

ROOST_ST_USER_TOKEN="$(register)"
# POST /v1/auth/logout revokes the token it is given: it gets a user of its own.
ROOST_ST_LOGOUT_TOKEN="$(register)"
# Application names are never reused: a fresh one per run.
APP_NAME="st-app-$(random_hex)"
app="$(post_json /v1/admin/applications "{\"name\": \"$APP_NAME\"}" 201 \
  -H "authorization: Bearer $ROOST_ADMIN_TOKEN")"
ROOST_ST_API_KEY="$(json_field api_key <<<"$app")"
export ROOST_ST_USER_TOKEN ROOST_ST_LOGOUT_TOKEN ROOST_ST_API_KEY
log "registered two users, created application $APP_NAME"

# Credentials per security scheme of the document (components.securitySchemes);
# ${VAR} is expanded by schemathesis, so no secret is on a command line.
cat >"$WORK/schemathesis.toml" <<'EOF'
[auth.openapi.bearer]
bearer = "${ROOST_ST_USER_TOKEN}"

[auth.openapi.admin]
bearer = "${ROOST_ADMIN_TOKEN}"

[auth.openapi.api_key]
api_key = "${ROOST_ST_API_KEY}"

[[operations]]
include-path = "/v1/auth/logout"
headers = { Authorization = "Bearer ${ROOST_ST_LOGOUT_TOKEN}" }

# Free-form JSON bodies (a JSON Schema) need more examples to reach their corners (a NUL
# in a key once made PostgreSQL refuse the document with a 500).
[[operations]]
include-path-regex = "^/v1/admin/event-types/"
include-method = "PUT"
generation = { max-examples = 400 }
EOF

# ---------------------------------------------------------------------- run --
mkdir -p "$REPORT_DIR"
REPORT_DIR="$(cd "$REPORT_DIR" && pwd)"
args=(
  run "$BASE_URL/openapi.json"
  --url "$BASE_URL"
  --checks "$CHECKS"
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --workers "$WORKERS"
  --continue-on-failure
  --generation-database none
  --request-timeout 10
  --exclude-path /v1/notifications/stream
  --report "junit,ndjson"
  --report-dir "$REPORT_DIR"
)
if [[ -n "${ROOST_ST_EXTRA_ARGS:-}" ]]; then
  read -r -a extra <<<"$ROOST_ST_EXTRA_ARGS"
  args+=("${extra[@]}")
fi

log "schemathesis ${args[*]}"
started=$SECONDS
status=0
# Run from the scratch directory: no stray .hypothesis/ or schemathesis.toml lookups.
(cd "$WORK" && "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" "${args[@]}") || status=$?
log "finished in $((SECONDS - started)) s with status $status; reports in $REPORT_DIR"

# The fixture user's token must have survived (a revoked token turns the rest into 401s).
me="$(curl -sS -o /dev/null -w '%{http_code}' "$BASE_URL/v1/me" -H "authorization: Bearer $ROOST_ST_USER_TOKEN" || true)"
if [[ "$me" != 200 ]]; then
  log "warning: GET /v1/me with the test user's token now answers $me (token revoked or API down): results after that are not meaningful"
  [[ "$status" -ne 0 ]] || status=1
fi
exit "$status"
