#!/usr/bin/env bash
# The container image check of `make test`: builds the Dockerfile's `runtime-prebuilt` target
# with buildah from locally made base images (no registry is reachable here), then runs the
# image as the cluster will: read-only root filesystem, no capabilities, non-root, against the
# running test stack: `roost-api migrate`, `serve` until /readyz is 200, `roost-ingest` until
# an event sent through the API is stored, then both stop on SIGTERM within the grace period.
#
# Usage: scripts/image.sh [--from-source]  (after `scripts/stack.sh up test`; reads .roost/test/env)
#   --from-source: build the default `runtime` target instead, compiling inside the image as
#   `docker build .` does, on a stand-in for rust:1.95-bookworm (the local Debian base with gcc
#   and the host's Rust toolchain mounted read-only for the build); minutes, not in `make test`.
# Needs root (scripts/install-deps.sh installs buildah, podman, runc and debootstrap when missing).
# Caches under .roost/tools/containers (base images, storage); the check's own files under
# .roost/test/image.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[image] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

readonly TOOLS="$REPO/.roost/tools/containers"
readonly STATE="$REPO/.roost/test/image"
readonly IMAGE=localhost/roost:ci
readonly DEBIAN_BASE=localhost/roost-debian:bookworm
readonly RUNTIME_BASE=localhost/roost-runtime:cc
readonly GRACE=30
readonly API_ADDR=127.0.0.1:55580
readonly BUILDER_BASE=localhost/roost-builder:bookworm
FROM_SOURCE=0
case "${1:-}" in
"") ;;
--from-source) FROM_SOURCE=1 ;;
*) die "unknown argument ${1}; usage: scripts/image.sh [--from-source]" ;;
esac
mkdir -p "$TOOLS" "$STATE"

# ------------------------------------------------------------------ tools --
missing=()
for tool in buildah podman runc debootstrap; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  scripts/install-deps.sh "${missing[@]}"
fi

# What this sandbox needs (../shared/K8S-TOOLING.md): runc with cgroupfs, the host network,
# ulimits within the host's, storage and temporary files in the project's cache.
mkdir -p "$TOOLS/conf" "$TOOLS/storage" "$TOOLS/tmp"
cat >"$TOOLS/conf/containers.conf" <<EOF
[containers]
netns = "host"
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
cat >"$TOOLS/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$TOOLS/storage/graph"
runroot = "$TOOLS/storage/run"
EOF
export CONTAINERS_CONF="$TOOLS/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$TOOLS/conf/storage.conf"
export TMPDIR="$TOOLS/tmp"

# ------------------------------------------------------------ base images --
# Stand-ins for the Dockerfile's public bases: Debian bookworm (minbase) and, for the runtime,
# what distroless `cc` holds: glibc, libgcc, the CA bundle, a `nonroot` user, no shell.
if ! podman image exists "$DEBIAN_BASE"; then
  if [[ ! -s "$TOOLS/debian-bookworm.tar" ]]; then
    log "debootstrap --variant=minbase bookworm (once; cached in $TOOLS)"
    rm -rf "$TOOLS/rootfs"
    debootstrap --variant=minbase bookworm "$TOOLS/rootfs" >"$TOOLS/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see $TOOLS/debootstrap.log"
    tar -C "$TOOLS/rootfs" -cf "$TOOLS/debian-bookworm.tar" .
    rm -rf "$TOOLS/rootfs"
  fi
  podman import --quiet "$TOOLS/debian-bookworm.tar" "$DEBIAN_BASE" >/dev/null
fi
if ! podman image exists "$RUNTIME_BASE"; then
  log "making the runtime base (distroless cc stand-in)"
  runtime="$TOOLS/runtime-rootfs"
  rm -rf "$runtime" "$TOOLS/debian-rootfs"
  mkdir -p "$TOOLS/debian-rootfs" "$runtime"/{lib/x86_64-linux-gnu,lib64,etc/ssl/certs,tmp,home/nonroot}
  tar -C "$TOOLS/debian-rootfs" -xf "$TOOLS/debian-bookworm.tar"
  # Bookworm has a merged /usr: the libraries live in /usr/lib.
  libs="$TOOLS/debian-rootfs/usr/lib/x86_64-linux-gnu"
  for lib in libc.so.6 libm.so.6 libgcc_s.so.1; do
    cp -L "$libs/$lib" "$runtime/lib/x86_64-linux-gnu/"
  done
  cp -L "$libs/ld-linux-x86-64.so.2" "$runtime/lib64/"
  cp /etc/ssl/certs/ca-certificates.crt "$runtime/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$runtime/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$runtime/etc/group"
  chmod 1777 "$runtime/tmp"
  chown 65532:65532 "$runtime/home/nonroot"
  tar -C "$runtime" -c . | podman import --quiet - "$RUNTIME_BASE" >/dev/null
  rm -rf "$runtime" "$TOOLS/debian-rootfs"
fi

# ------------------------------------------------------------------ build --
if [[ "$FROM_SOURCE" == 1 ]]; then
  # rust:*-bookworm keeps its toolchain in /usr/local/{cargo,rustup}: the host's is mounted
  # there (read-only) for each RUN, the cargo registry and target cache mounts stay writable;
  # so is the host's CA bundle (this network's proxy), at build time only, never in the image.
  if ! podman image exists "$BUILDER_BASE"; then
    log "making the builder base (rust:1.95-bookworm stand-in: gcc, libc6-dev, CA bundle)"
    printf 'FROM %s\nRUN apt-get update -q && apt-get install -y -q --no-install-recommends gcc libc6-dev ca-certificates && rm -rf /var/lib/apt/lists/*\nENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n' \
      "$DEBIAN_BASE" >"$TOOLS/Builderfile"
    buildah bud --quiet --layers --force-rm -f "$TOOLS/Builderfile" -t "$BUILDER_BASE" "$TOOLS" >/dev/null
  fi
  rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
  cargo_bin="$(dirname "$(command -v cargo)")"
  started=$SECONDS
  log "buildah bud (the default target: compiled in the image; minutes when cold)"
  buildah bud --quiet --layers --force-rm -f "$REPO/Dockerfile" \
    --build-arg RUST_IMAGE="$BUILDER_BASE" --build-arg RUNTIME_IMAGE="$RUNTIME_BASE" \
    -v "$rustup_home:/usr/local/rustup:ro" -v "$cargo_bin:/usr/local/cargo/bin:ro" \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -t "$IMAGE" "$REPO" >/dev/null
  log "built from source in $((SECONDS - started)) s"
  what="release binaries, stripped"
else
  log "building roost-api and roost-ingest (debug; CI packages what it built)"
  cargo build --quiet --bin roost-api --bin roost-ingest
  BIN="${CARGO_TARGET_DIR:-$REPO/target}/debug"
  rm -rf "$STATE/context"
  mkdir -p "$STATE/context/bin"
  cp "$BIN/roost-api" "$BIN/roost-ingest" "$STATE/context/bin/"
  strip --strip-debug "$STATE/context/bin/roost-api" "$STATE/context/bin/roost-ingest"
  log "buildah bud --target runtime-prebuilt"
  buildah bud --quiet --layers --force-rm -f "$REPO/Dockerfile" --target runtime-prebuilt \
    --build-arg BIN_DIR=bin --build-arg RUNTIME_IMAGE="$RUNTIME_BASE" -t "$IMAGE" \
    "$STATE/context" >/dev/null
  what="debug binaries, debug info stripped"
fi
size="$(podman image inspect "$IMAGE" --format '{{.Size}}')"
log "image $IMAGE: $((size / 1024 / 1024)) MiB ($what)"
[[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" == 65532:65532 ]] ||
  die "the image does not run as the non-root user 65532"

# -------------------------------------------------------------------- run --
# shellcheck source=/dev/null
source "$REPO/.roost/test/env"
base="${DATABASE_URL%/*}"
PSQL="$(command -v psql || true)"
if [[ -z "$PSQL" ]]; then
  for candidate in /usr/lib/postgresql/*/bin/psql; do PSQL="$candidate"; done
fi
"$PSQL" "$base/postgres" -X -q -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS roost_image" -c "CREATE DATABASE roost_image" >/dev/null

readonly ADMIN=image-check-admin-token
run=(podman run --read-only --cap-drop ALL --security-opt no-new-privileges
  --user 65532:65532 --network host
  -e "ROOST_DATABASE_URL=$base/roost_image" -e "ROOST_REDIS_URL=$ROOST_REDIS_URL"
  -e ROOST_JWT_SECRET=image-check-jwt-secret-0123456789abcdef -e "ROOST_ADMIN_TOKEN=$ADMIN"
  -e "ROOST_HTTP_ADDR=$API_ADDR" -e ROOST_METRICS_ADDR=127.0.0.1:55581
  -e ROOST_INGEST_METRICS_ADDR=127.0.0.1:55582 -e "ROOST_REDIS_KEY_PREFIX=image:$$:"
  -e ROOST_SHUTDOWN_DELAY_SECONDS=2)
containers=(roost-image-api roost-image-ingest)
# shellcheck disable=SC2317 # invoked from the EXIT trap
cleanup() { podman rm -f "${containers[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

"${run[@]}" --rm "$IMAGE" migrate >"$STATE/migrate.log" 2>&1 || die "migrate failed: $(tail -3 "$STATE/migrate.log")"
"${run[@]}" -d --name roost-image-api "$IMAGE" serve >/dev/null
"${run[@]}" -d --name roost-image-ingest --entrypoint /usr/local/bin/roost-ingest "$IMAGE" >/dev/null

wait_for() { # wait_for <what> <seconds> <command...>
  local what="$1" seconds="$2"
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  podman logs roost-image-api 2>&1 | tail -5 >&2 || true
  die "$what within ${seconds} s"
}
wait_for "/readyz did not answer 200" 20 curl -fsS "http://$API_ADDR/readyz"
wait_for "the worker was not ready" 20 curl -fsS http://127.0.0.1:55582/readyz

key="$(curl -fsS -X POST "http://$API_ADDR/v1/admin/applications" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d '{"name": "image-check"}' |
  sed -E 's/.*"api_key":"([^"]+)".*/\1/')"
curl -fsS -o /dev/null -X POST "http://$API_ADDR/v1/events" -H "x-api-key: $key" \
  -H 'content-type: application/json' \
  -d '{"session_id": "2f1e4c52-8a57-4a43-9a6b-6f1f6f9b9c10", "category": "image", "name": "check",
       "data": {"n": 1}, "timestamp": "2026-11-23T10:00:00Z"}'
stored() {
  curl -fsS "http://$API_ADDR/v1/admin/events?application=image-check" \
    -H "authorization: Bearer $ADMIN" | grep -q '"name":"check"'
}
wait_for "the worker in the image did not store the event" 20 stored

started=$SECONDS
podman stop --time "$GRACE" "${containers[@]}" >/dev/null
took=$((SECONDS - started))
for name in "${containers[@]}"; do
  code="$(podman inspect "$name" --format '{{.State.ExitCode}}')"
  [[ "$code" == 0 ]] || die "$name exited $code on SIGTERM: $(podman logs "$name" 2>&1 | tail -3)"
done
((took < GRACE)) || die "stopping took ${took} s, not within the ${GRACE} s grace period"
log "ok: migrate, /readyz 200, an event stored by the worker, both stopped on SIGTERM in ${took} s (exit 0)"
