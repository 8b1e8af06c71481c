#!/usr/bin/env bash
# Offline checks of the Kubernetes delivery (no cluster needed; tools from scripts/k8s-tools.sh):
# 1. charts/roost: the generated values.schema.json and README table are current; then, for
#    every values profile in charts/roost/ci/*-values.yaml: `helm lint --strict` with Helm 4
#    and Helm 3; `helm template` (namespace `roost`) with both, which must render the same
#    objects; custom resources against ../shared/crd-schemas; every core object through
#    `kubernetes-validate --strict` at Kubernetes 1.35; the chart's behaviour tests
#    (charts/roost/tests/behaviour.py); checkov with zero failed checks apart from the justified
#    skips in charts/roost/ci/checkov.yaml;
# 2. k8s/ (the add-ons and the dev-cluster bootstrap): k8s/tests/check.sh;
# 3. the dev loop: kind-config.yaml, Tiltfile and skaffold.yaml (scripts/dev-loop-check.py).
#
# Usage: scripts/k8s-check.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

log() { printf '[k8s] %s\n' "$*" >&2; }

readonly CHART=charts/roost
readonly KUBERNETES=1.35.0
readonly OUT="$REPO/.roost/chart"
# The CRDs' JSON schemas (CNPG, Prometheus Operator, Gateway API, KEDA) beside the project.
readonly CRD_SCHEMAS="${ROOST_CRD_SCHEMAS:-$REPO/../shared/crd-schemas}"
PATH="$(scripts/k8s-tools.sh):$PATH"
export PATH
readonly PY="$REPO/.roost/tools/k8s-venv/bin/python"

rm -rf "$OUT"
mkdir -p "$OUT"
status=0

# values.schema.json and the README's parameter table are generated from the annotated
# values.yaml: regenerate them aside and compare.
log "values.schema.json and README.md parameters are current"
mkdir -p "$OUT/generated"
cp "$CHART/values.yaml" "$CHART/README.md" "$OUT/generated/"
readme-generator -v "$OUT/generated/values.yaml" -r "$OUT/generated/README.md" \
  -s "$OUT/generated/values.schema.json" >"$OUT/generated/log.txt" 2>&1 || {
  cat "$OUT/generated/log.txt" >&2
  status=1
}
for file in README.md values.schema.json; do
  if ! cmp -s "$OUT/generated/$file" "$CHART/$file"; then
    log "charts/roost/$file is stale: run readme-generator -v charts/roost/values.yaml -r charts/roost/README.md -s charts/roost/values.schema.json (PATH from scripts/k8s-tools.sh)"
    diff -u "$CHART/$file" "$OUT/generated/$file" | head -n 20 >&2 || true
    status=1
  fi
done

for values in "$CHART"/ci/*-values.yaml; do
  profile="$(basename "$values" -values.yaml)"
  rendered="$OUT/$profile/rendered.yaml"
  mkdir -p "$OUT/$profile"
  log "$profile: helm lint --strict and helm template, with Helm 4 and Helm 3"
  for helm in helm helm3; do
    "$helm" lint --strict --quiet "$CHART" -f "$values" >"$OUT/$profile/lint-$helm.txt" 2>&1 || {
      cat "$OUT/$profile/lint-$helm.txt" >&2
      status=1
      continue 2
    }
  done
  if ! helm template roost "$CHART" --namespace roost -f "$values" >"$rendered" ||
    ! helm3 template roost "$CHART" --namespace roost -f "$values" >"$OUT/$profile/rendered-helm3.yaml"; then
    status=1
    continue
  fi
  if ! cmp -s "$rendered" "$OUT/$profile/rendered-helm3.yaml"; then
    log "$profile: Helm 3 and Helm 4 render different objects"
    diff -u "$OUT/$profile/rendered-helm3.yaml" "$rendered" | head -n 20 >&2 || true
    status=1
  fi
  log "$profile: $(grep -c '^kind:' "$rendered") objects; custom resources against ../shared/crd-schemas"
  "$PY" "$CHART/tests/custom_resources.py" "$rendered" "$OUT/$profile/core.yaml" "$CRD_SCHEMAS" ||
    status=1
  log "$profile: core objects through kubernetes-validate --strict (Kubernetes $KUBERNETES)"
  kubernetes-validate --strict --quiet -k "$KUBERNETES" "$OUT/$profile/core.yaml" || status=1
  "$PY" "$CHART/tests/behaviour.py" "$rendered" "$profile" || status=1
  log "$profile: checkov"
  checkov --skip-download --quiet --compact --framework kubernetes \
    --config-file "$CHART/ci/checkov.yaml" -f "$rendered" >"$OUT/$profile/checkov.txt" 2>&1 || {
    cat "$OUT/$profile/checkov.txt" >&2
    status=1
  }
done

log "k8s/: the add-ons and their bootstrap (k8s/tests/check.sh)"
k8s/tests/check.sh >"$OUT/addons.txt" 2>&1 || {
  cat "$OUT/addons.txt" >&2
  status=1
}
log "dev loop: kind-config.yaml, Tiltfile, skaffold.yaml (scripts/dev-loop-check.py)"
"$PY" scripts/dev-loop-check.py >"$OUT/dev-loop.txt" 2>&1 || {
  cat "$OUT/dev-loop.txt" >&2
  status=1
}
if [[ "$status" -eq 0 ]]; then
  log "every check passed"
else
  log "failed; rendered manifests and reports in $OUT"
fi
exit "$status"
