#!/usr/bin/env bash
# Installs the platform add-ons of the Roost dev cluster on the CURRENT kubectl context (the kind
# cluster `roost`, context `kind-roost`; read once, then passed to every helm and kubectl call, so
# switching contexts meanwhile cannot redirect the run), in this order, each pinned in
# k8s/addons.conf and configured by k8s/values/<release>.yaml:
#   1. CloudNativePG operator     (cnpg, cnpg-system)        the Roost chart's Cluster needs its CRDs
#   2. kube-prometheus-stack      (monitoring)               before anything that makes ServiceMonitors
#   3. Loki, monolithic           (loki, monitoring)
#   4. the log shipper            (alloy, monitoring; or promtail with --log-shipper promtail)
#   5. [Gateway API CRDs]         (only with --gateway-api)
#   6. Traefik                    (traefik, ingress)         IngressClass `traefik`, hostPorts 80/443
#   7. the `roost` namespace (Pod Security `restricted`, enforced) and the dev Secrets the Roost
#      chart's kind profile expects, created only when missing: roost-secrets, roost-redis.
# Re-running is safe: `helm upgrade --install` converges every release to the pinned version and
# values; the CRDs that charts ship in crds/ (which Helm installs once and never upgrades) are
# applied first from the pinned chart (`helm show crds | kubectl apply --server-side`); existing
# Secrets are never touched. Works with Helm 3 (v3.8 or later) and Helm 4.
#
# Usage: k8s/bootstrap.sh [--log-shipper alloy|promtail] [--skip ID]... [--gateway-api]
#                         [--any-context]
#   --log-shipper S   alloy (default) or promtail (end of life; see k8s/README.md). Only one runs:
#                     installing one uninstalls the other.
#   --skip ID         leave an add-on alone (repeatable): cnpg, kube-prometheus-stack, loki,
#                     alloy, promtail, log-shipper (whichever is selected), gateway-api, traefik,
#                     roost (the namespace and Secrets).
#   --gateway-api     also apply the pinned Gateway API CRDs and let Traefik serve the Gateway API
#                     (k8s/values/traefik-gateway-api.yaml: Gateway `gateway` in `ingress`).
#   --any-context     install on a current context other than kind-roost.
# Environment: ROOST_BOOTSTRAP_TIMEOUT (per release, default 10m).
set -euo pipefail

K8S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly K8S_DIR
readonly CATALOGUE="$K8S_DIR/addons.conf"
readonly VALUES_DIR="$K8S_DIR/values"
readonly EXPECTED_CONTEXT=kind-roost
readonly TIMEOUT="${ROOST_BOOTSTRAP_TIMEOUT:-10m}"
# What the Roost chart's kind profile (charts/roost/ci/kind-dev-values.yaml) expects.
readonly ROOST_NAMESPACE=roost
readonly ROOST_RELEASE=roost
# Add-ons whose chart ships CRDs in crds/ (kube-prometheus-stack: its `crds` subchart; Alloy: its
# `crds` subchart, PodLogs; Traefik): Helm installs those on the first install only, so each run
# applies them from the pinned chart before `helm upgrade`, as the charts' upgrade notes say.
# (Loki's crds/ belong to its rollout-operator subchart, which k8s/values/loki.yaml leaves off.)
# k8s/tests/check.py compares this list with the crds/ directories of the upstream charts.
readonly CRD_CHARTS=" kube-prometheus-stack alloy traefik "

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
usage() { sed -n '/^# Usage:/,/^# Environment:/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

log_shipper=alloy
gateway_api=false
any_context=false
skips=()
while (($# > 0)); do
  case "$1" in
    --log-shipper)
      (($# >= 2)) || die "--log-shipper needs a value: alloy or promtail"
      log_shipper="$2"
      shift 2
      ;;
    --log-shipper=*)
      log_shipper="${1#*=}"
      shift
      ;;
    --skip)
      (($# >= 2)) || die "--skip needs an add-on id"
      skips+=("$2")
      shift 2
      ;;
    --skip=*)
      skips+=("${1#*=}")
      shift
      ;;
    --gateway-api)
      gateway_api=true
      shift
      ;;
    --any-context)
      any_context=true
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown argument: $1"
      ;;
  esac
done
case "$log_shipper" in
  alloy | promtail) ;;
  *) die "--log-shipper must be alloy or promtail, not '$log_shipper'" ;;
esac

# --- the catalogue -------------------------------------------------------------------------------
[[ -r "$CATALOGUE" ]] || die "missing $CATALOGUE"
ids=()
declare -A KIND=() RELEASE=() NAMESPACE=() REPO=() REPO_URL=() CHART=() VERSION=() WHEN=()
while read -r id kind release namespace repo repo_url chart version _app when _confirmed; do
  [[ -z "$id" || "$id" == \#* ]] && continue
  [[ -n "$when" ]] || die "$CATALOGUE: incomplete line for '$id'"
  ids+=("$id")
  KIND[$id]="$kind"
  RELEASE[$id]="$release"
  NAMESPACE[$id]="$namespace"
  REPO[$id]="$repo"
  REPO_URL[$id]="$repo_url"
  CHART[$id]="$chart"
  VERSION[$id]="$version"
  WHEN[$id]="$when"
done <"$CATALOGUE"
((${#ids[@]} > 0)) || die "$CATALOGUE lists no add-on"

for skip in "${skips[@]+"${skips[@]}"}"; do
  [[ "$skip" == log-shipper || "$skip" == roost || -n "${KIND[$skip]+set}" ]] ||
    die "--skip $skip: not an add-on id (${ids[*]} log-shipper roost)"
done

is_skipped() {
  local id="$1" skip
  for skip in "${skips[@]+"${skips[@]}"}"; do
    [[ "$skip" == "$id" ]] && return 0
    if [[ "$skip" == log-shipper ]] && [[ "$id" == alloy || "$id" == promtail ]]; then
      return 0
    fi
  done
  return 1
}

# Whether this run wants the add-on at all.
is_selected() {
  case "${WHEN[$1]}" in
    always) return 0 ;;
    alloy | promtail) [[ "${WHEN[$1]}" == "$log_shipper" ]] ;;
    gateway-api) [[ "$gateway_api" == true ]] ;;
    *) die "$CATALOGUE: '$1' has an unknown 'when': ${WHEN[$1]}" ;;
  esac
}

# --- tools and cluster ---------------------------------------------------------------------------
for tool in helm kubectl; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found on PATH. scripts/k8s-tools.sh installs helm (v4) and kubectl and prints their directory: export PATH=\"\$(scripts/k8s-tools.sh):\$PATH\""
done
command -v openssl >/dev/null 2>&1 || die "openssl not found (it generates the dev Secrets): apt-get install openssl"

context="$(kubectl config current-context 2>/dev/null || true)"
[[ -n "$context" ]] ||
  die "no current kubectl context: create the cluster first (kind create cluster --name roost --config kind-config.yaml)"
if [[ "$context" != "$EXPECTED_CONTEXT" ]]; then
  [[ "$any_context" == true ]] ||
    die "the current context is '$context', not '$EXPECTED_CONTEXT'; switch (kubectl config use-context $EXPECTED_CONTEXT) or pass --any-context"
  log "warning: installing on context '$context' (--any-context)"
fi
# From here on every call names the context read above.
kube() { kubectl --context "$context" "$@"; }
helmc() { helm --kube-context "$context" "$@"; }

# Helm 3 from v3.8 (`helm show crds` and `helm repo update REPO...` need v3.7) or Helm 4.
helm_supported() {
  local version="$1" minor
  [[ "$version" =~ ^v4\. ]] && return 0
  [[ "$version" =~ ^v3\.([0-9]+)\. ]] || return 1
  minor="${BASH_REMATCH[1]}"
  ((10#$minor >= 8))
}
helm_version="$(helmc version --template '{{.Version}}' 2>/dev/null || true)"
helm_supported "$helm_version" ||
  die "Helm 4, or Helm 3 from v3.8, is needed (found '${helm_version:-unknown}')"
log "helm $helm_version"
log "context $context; log shipper $log_shipper; gateway API $gateway_api"

# --- helpers ------------------------------------------------------------------------------------
release_installed() { helmc status "$1" --namespace "$2" >/dev/null 2>&1; }

uninstall_release() {
  local id="$1"
  if release_installed "${RELEASE[$id]}" "${NAMESPACE[$id]}"; then
    log "uninstalling ${RELEASE[$id]} from ${NAMESPACE[$id]} (not the selected log shipper)"
    helmc uninstall "${RELEASE[$id]}" --namespace "${NAMESPACE[$id]}" --wait --timeout "$TIMEOUT"
  fi
}

# The chart's crds/ at the pinned version, applied server-side (the CRDs are too large for a
# client-side apply's last-applied annotation; --force-conflicts takes over the fields Helm set
# when it first installed them). Traefik's README gives this command for upgrades,
# kube-prometheus-stack's UPGRADE.md the equivalent from the operator's release.
apply_chart_crds() {
  local id="$1"
  log "${RELEASE[$id]}: CRDs of ${REPO[$id]}/${CHART[$id]} ${VERSION[$id]} (kubectl apply --server-side)"
  helmc show crds "${REPO[$id]}/${CHART[$id]}" --version "${VERSION[$id]}" |
    kube apply --server-side --force-conflicts -f - >/dev/null
}

install_chart() {
  local id="$1" values="$VALUES_DIR/${RELEASE[$1]}.yaml"
  [[ -r "$values" ]] || die "missing values file $values"
  if [[ "$CRD_CHARTS" == *" $id "* ]]; then
    apply_chart_crds "$id"
  fi
  local args=(upgrade --install "${RELEASE[$id]}" "${REPO[$id]}/${CHART[$id]}"
    --version "${VERSION[$id]}"
    --namespace "${NAMESPACE[$id]}" --create-namespace
    -f "$values")
  if [[ "$id" == traefik && "$gateway_api" == true ]]; then
    args+=(-f "$VALUES_DIR/traefik-gateway-api.yaml")
  fi
  args+=(--wait --timeout "$TIMEOUT")
  log "${RELEASE[$id]}: ${REPO[$id]}/${CHART[$id]} ${VERSION[$id]} into ${NAMESPACE[$id]}"
  helmc "${args[@]}"
}

apply_manifest() {
  local id="$1" url="${REPO_URL[$1]}/${VERSION[$1]}/${CHART[$1]}"
  log "$id: kubectl apply $url"
  # Server-side: the CRDs are too large for the last-applied annotation of a client-side apply.
  kube apply --server-side --force-conflicts -f "$url"
}

# A Secret created from files in a private temporary directory: the values never appear on a
# command line (ps) or in the shell's trace.
secrets_dir=""
cleanup() { [[ -z "$secrets_dir" ]] || rm -rf "$secrets_dir"; }
trap cleanup EXIT
# Interrupted (Ctrl-C, kill, a closed terminal): end through exit, which runs the EXIT trap. Bash
# already runs it when these signals kill it; the traps say so and set the usual exit statuses.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

ensure_secret() {
  local name="$1" key
  shift
  if kube get secret "$name" --namespace "$ROOST_NAMESPACE" -o name >/dev/null 2>&1; then
    log "secret $ROOST_NAMESPACE/$name exists: left as it is"
    return 0
  fi
  local from=()
  for key in "$@"; do
    from+=("--from-file=$key=$secrets_dir/$name/$key")
  done
  log "secret $ROOST_NAMESPACE/$name: created (keys: $*)"
  kube create secret generic "$name" --namespace "$ROOST_NAMESPACE" "${from[@]}" >/dev/null
}

setup_roost_namespace() {
  # The generated values are written to files only this user can read.
  umask 077
  log "namespace $ROOST_NAMESPACE with Pod Security 'restricted' (enforce, audit, warn)"
  kube create namespace "$ROOST_NAMESPACE" --dry-run=client -o yaml | kube apply -f - >/dev/null
  kube label namespace "$ROOST_NAMESPACE" --overwrite \
    pod-security.kubernetes.io/enforce=restricted \
    pod-security.kubernetes.io/enforce-version=latest \
    pod-security.kubernetes.io/audit=restricted \
    pod-security.kubernetes.io/warn=restricted >/dev/null

  secrets_dir="$(mktemp -d)"
  mkdir -p "$secrets_dir/roost-secrets" "$secrets_dir/roost-redis"
  # Hex only: the JWT key is 64 characters (>= 32), the Redis password uses only characters the
  # chart may write into Redis's configuration (letters, digits, '-' and '_').
  local redis_password
  redis_password="$(openssl rand -hex 24)"
  openssl rand -hex 32 | tr -d '\n' >"$secrets_dir/roost-secrets/jwt-secret"
  openssl rand -hex 24 | tr -d '\n' >"$secrets_dir/roost-secrets/admin-token"
  printf '%s' "$redis_password" >"$secrets_dir/roost-redis/password"
  printf 'redis://:%s@%s-redis:6379/0' "$redis_password" "$ROOST_RELEASE" >"$secrets_dir/roost-redis/url"
  ensure_secret roost-secrets jwt-secret admin-token
  ensure_secret roost-redis password url
  rm -rf "$secrets_dir"
  secrets_dir=""
}

# --- repositories --------------------------------------------------------------------------------
declare -A repo_added=()
repos=()
for id in "${ids[@]}"; do
  [[ "${KIND[$id]}" == helm ]] || continue
  is_skipped "$id" && continue
  is_selected "$id" || continue
  [[ -n "${repo_added[${REPO[$id]}]+set}" ]] && continue
  repo_added[${REPO[$id]}]=1
  repos+=("${REPO[$id]}")
  helmc repo add "${REPO[$id]}" "${REPO_URL[$id]}" --force-update >/dev/null
done
if ((${#repos[@]} > 0)); then
  log "helm repo update ${repos[*]}"
  helmc repo update "${repos[@]}" >/dev/null
fi

# --- install, in catalogue order ------------------------------------------------------------------
for id in "${ids[@]}"; do
  if is_skipped "$id"; then
    log "$id: skipped (--skip)"
    continue
  fi
  if ! is_selected "$id"; then
    continue
  fi
  if [[ "$id" == alloy || "$id" == promtail ]]; then
    # One shipper at a time: the other goes first, so logs are not shipped twice meanwhile.
    for other in alloy promtail; do
      [[ "$other" == "$id" || -z "${KIND[$other]+set}" ]] && continue
      is_skipped "$other" || uninstall_release "$other"
    done
  fi
  if [[ "$id" == traefik ]]; then
    # Without that node Traefik stays Pending and `--wait` only gives up after the timeout. (Read
    # into a variable first: a failing kubectl then stops the script with its own error.)
    ingress_nodes="$(kube get nodes -l ingress-ready=true -o name)" ||
      die "could not list the nodes of context '$context' (kubectl's error above)"
    [[ -n "$ingress_nodes" ]] ||
      die "no node is labelled ingress-ready=true: Traefik binds hostPorts 80/443 there (kind-config.yaml labels the control-plane node and maps the host's ports 80/443 to it)"
  fi
  case "${KIND[$id]}" in
    helm) install_chart "$id" ;;
    manifest) apply_manifest "$id" ;;
    *) die "$CATALOGUE: '$id' has an unknown kind: ${KIND[$id]}" ;;
  esac
done

if is_skipped roost; then
  log "roost: skipped (--skip)"
else
  setup_roost_namespace
fi

# --- how to reach things ------------------------------------------------------------------------
kps="${RELEASE[kube-prometheus-stack]}"
mon="${NAMESPACE[kube-prometheus-stack]}"
cat <<EOF

Platform add-ons installed on $context.

Grafana     kubectl --context $context --namespace $mon port-forward svc/$kps-grafana 3000:80
            then http://localhost:3000, user admin, password:
            kubectl --context $context --namespace $mon get secret $kps-grafana -o jsonpath='{.data.admin-password}' | base64 -d; echo
            (data sources Prometheus and Loki; dashboards from ConfigMaps labelled grafana_dashboard)
Prometheus  kubectl --context $context --namespace $mon port-forward svc/$kps-prometheus 9090:9090
            then http://localhost:9090
Loki        kubectl --context $context --namespace ${NAMESPACE[loki]} port-forward svc/${RELEASE[loki]} 3100:3100
            (push/query API; search logs in Grafana > Explore > Loki)
Ingress     IngressClass traefik (default), hostPorts 80/443 on the node labelled ingress-ready=true:
            http://roost.localhost once the Roost chart runs with charts/roost/ci/kind-dev-values.yaml
Roost       namespace $ROOST_NAMESPACE (Pod Security restricted), Secrets roost-secrets and roost-redis.
            Admin token:
            kubectl --context $context --namespace $ROOST_NAMESPACE get secret roost-secrets -o jsonpath='{.data.admin-token}' | base64 -d; echo
EOF
