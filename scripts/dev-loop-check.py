#!/usr/bin/env python3
"""Offline checks of the dev-loop files: kind-config.yaml, the Tiltfile and skaffold.yaml.

Neither kind, Tilt nor Skaffold can run here (no Docker engine, no cluster), so:

- kind-config.yaml: against a JSON schema of kind's documented `Cluster` fields
  (kind.x-k8s.io/v1alpha4; unknown fields refused, as kind refuses them), then: cluster name
  `roost`; exactly one node labelled ingress-ready=true (the labels a node gets from its `labels`
  field and its kubeadm node-labels patches are both counted; the label must come from
  `labels`, kind's own field since v0.11.0) whose port mappings publish 80 and 443 (TCP) for
  Traefik's hostPorts.
- skaffold.yaml: against Skaffold's published v4beta14 JSON schema (from ../shared/config-schemas,
  ROOST_CONFIG_SCHEMAS or --schemas; without it a loud WARNING, a failure when CI is set), then
  for the base config and each profile (dev and prod must exist), with the profile applied as
  Skaffold applies it: the effective config against the schema again, the artifact `roost`
  (Docker target `runtime` present in the Dockerfile), push off except for prod, chartPath and
  every valuesFiles entry present, and `helm template` with exactly the values Skaffold would pass
  (setValues, setValueTemplates expanded for a sample built image, valuesFiles): it renders, the
  workloads get the built image, dev pins kind-roost with Traefik and debug logs, prod runs
  migrations as a hook Job and forwards no ports, every forwarded Service port exists.
- Tiltfile: executed by starlark-pyo3 against recording stubs of the Tilt builtins
  (scripts/dev-loop/tilt_stubs.py; `helm()` runs the real `helm template` as Tilt would), then:
  kind-roost allowed (and another context refused before any add-on is installed), one
  docker_build of `roost` with target `runtime` whose context, Dockerfile and `only` paths exist
  and cover what the build reads (workspace manifests and members, SQL embedded by
  include_str!/sqlx::migrate!), helm() on charts/roost with existing values files, its output
  given to k8s_yaml() with no Helm hook left (Tilt would apply it as a plain object), the
  resources Tilt would assemble (scripts/dev-loop/tilt_model.py): every k8s_resource name and
  object exists, nothing is left "uncategorized", k8s/bootstrap.sh runs in a resource everything
  else waits for (resource_deps), port forwards for the API (8080), Grafana (3000 -> 80) and
  Prometheus (9090), no local port twice; `--log-shipper promtail` and `--gateway-api` reach the
  bootstrap (and --gateway-api only when given).

Usage: .roost/tools/k8s-venv/bin/python scripts/dev-loop-check.py [--schemas DIR]
Exits 1 when a check fails. Tools (helm v4, the venv) come from scripts/k8s-tools.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True  # no __pycache__ beside the helpers in the work tree
sys.path.insert(0, str(REPO / "scripts" / "dev-loop"))

import skaffold_model  # noqa: E402
import tilt_model  # noqa: E402
import tilt_stubs  # noqa: E402
import starlark  # noqa: E402

# Facts shared with k8s/ (bootstrap, Traefik, kube-prometheus-stack) and the chart.
CLUSTER = "roost"
KIND_CONTEXT = "kind-roost"
RELEASE = "roost"
NAMESPACE = "roost"
CHART = "charts/roost"
DEV_VALUES = "charts/roost/ci/kind-dev-values.yaml"
PROD_VALUES = "charts/roost/ci/production-values.yaml"
IMAGE = "roost"
TARGET = "runtime"
BOOTSTRAP = "k8s/bootstrap.sh"
INGRESS_LABEL = ("ingress-ready", "true")
INGRESS_PORTS = (80, 443)
INGRESS_HOST = "roost.localhost"
INGRESS_CLASS = "traefik"
API_WORKLOAD = "roost-api"
API_PORT = 8080
# name: (namespace, Service, service port, local port)
MONITORING_FORWARDS = {
    "Grafana": ("monitoring", "kube-prometheus-stack-grafana", 80, 3000),
    "Prometheus": ("monitoring", "kube-prometheus-stack-prometheus", 9090, 9090),
}
SKAFFOLD_SCHEMA = "skaffold_v4beta14.json"
SKAFFOLD_API_VERSION = "skaffold/v4beta14"
SKAFFOLD_PROFILES = ("dev", "prod")


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.warnings: list[str] = []
        self.passed = 0
        self.section = ""

    def begin(self, title: str) -> None:
        self.section = title
        print(f"[dev-loop] {title}", flush=True)

    def ok(self, message: str) -> None:
        self.passed += 1
        print(f"  ok    {message}", flush=True)

    def fail(self, message: str) -> None:
        self.failures.append(f"{self.section}: {message}")
        print(f"  FAIL  {message}", flush=True)

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.section}: {message}")
        print(f"  WARNING  {message}", flush=True)

    def check(self, condition: bool, ok: str, failure: str | None = None) -> bool:
        if condition:
            self.ok(ok)
        else:
            self.fail(failure or f"not true: {ok}")
        return condition


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def load_yaml(report: Report, path: Path) -> Any:
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as e:
        report.fail(f"{path.relative_to(REPO)}: cannot read: {e}")
        return None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        report.fail(f"{path.relative_to(REPO)}: expected one YAML mapping, found {len(docs)} documents")
        return None
    return docs[0]


def schema_errors(schema: dict[str, Any], document: Any) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    result = []
    for error in errors:
        # anyOf/oneOf errors (Skaffold's schema wraps everything in them) hide the useful part
        # in their context: report the most specific one.
        while error.context:
            error = jsonschema.exceptions.best_match(error.context)
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message if len(error.message) < 300 else error.message[:300] + "..."
        result.append(f"{where}: {message}")
    return result


def dockerfile_stages(path: Path) -> set[str]:
    stages = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+(\S+)\s*$", line, re.IGNORECASE)
        if match:
            stages.add(match.group(1).lower())
    return stages


def image_repository(image: str) -> str:
    """`roost`, `docker.io/library/roost:tag` and `roost@sha256:...` all name `roost`."""
    name = image.split("@")[0]
    if name.rfind(":") > name.rfind("/"):
        name = name[: name.rfind(":")]
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        name = name.removeprefix(prefix)
    return name


def helm_binary(report: Report) -> str | None:
    done = subprocess.run([str(REPO / "scripts" / "k8s-tools.sh")], capture_output=True, text=True)
    if done.returncode != 0:
        report.fail(f"scripts/k8s-tools.sh failed:\n{done.stderr}")
        return None
    helm = Path(done.stdout.strip().splitlines()[-1]) / "helm"
    if not os.access(helm, os.X_OK):
        report.fail(f"helm not found at {helm}")
        return None
    return str(helm)


def render(helm: str, argv: list[str]) -> tuple[list[dict[str, Any]] | None, str]:
    done = subprocess.run([helm, *argv], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        return None, done.stderr.strip()
    return [o for o in yaml.safe_load_all(done.stdout) if o], ""


def hooks(objects: list[dict[str, Any]]) -> list[str]:
    found = []
    for obj in objects:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if "helm.sh/hook" in annotations:
            found.append(f"{obj['kind']}/{obj['metadata']['name']} (helm.sh/hook: {annotations['helm.sh/hook']})")
    return found


def container_env(container: dict[str, Any], name: str) -> str | None:
    for entry in container.get("env") or []:
        if entry.get("name") == name:
            return entry.get("value")
    return None


# ---------------------------------------------------------------------------------- kind
KIND_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "kind Cluster (kind.x-k8s.io/v1alpha4), the fields of kind's pkg/apis/config/v1alpha4/types.go",
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "apiVersion"],
    "definitions": {
        "stringList": {"type": "array", "items": {"type": "string"}},
        "json6902": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["kind", "patch"],
                "properties": {
                    "group": {"type": "string"},
                    "version": {"type": "string"},
                    "kind": {"type": "string"},
                    "patch": {"type": "string"},
                },
            },
        },
        "port": {"type": "integer", "minimum": -1, "maximum": 65535},
    },
    "properties": {
        "kind": {"const": "Cluster"},
        "apiVersion": {"const": "kind.x-k8s.io/v1alpha4"},
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "role": {"enum": ["control-plane", "worker"]},
                    "image": {"type": "string", "minLength": 1},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "extraMounts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["containerPath"],
                            "properties": {
                                "containerPath": {"type": "string"},
                                "hostPath": {"type": "string"},
                                "readOnly": {"type": "boolean"},
                                "selinuxRelabel": {"type": "boolean"},
                                "propagation": {"enum": ["None", "HostToContainer", "Bidirectional"]},
                            },
                        },
                    },
                    "extraPortMappings": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["containerPort"],
                            "properties": {
                                "containerPort": {"$ref": "#/definitions/port"},
                                "hostPort": {"$ref": "#/definitions/port"},
                                "listenAddress": {"type": "string"},
                                "protocol": {"enum": ["TCP", "UDP", "SCTP"]},
                            },
                        },
                    },
                    "gpus": {"type": "string"},
                    "kubeadmConfigPatches": {"$ref": "#/definitions/stringList"},
                    "kubeadmConfigPatchesJSON6902": {"$ref": "#/definitions/json6902"},
                },
            },
        },
        "networking": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ipFamily": {"enum": ["ipv4", "ipv6", "dual"]},
                "apiServerPort": {"$ref": "#/definitions/port"},
                "apiServerAddress": {"type": "string"},
                "podSubnet": {"type": "string"},
                "serviceSubnet": {"type": "string"},
                "disableDefaultCNI": {"type": "boolean"},
                "kubeProxyMode": {"enum": ["iptables", "ipvs", "nftables", "none"]},
                "dnsSearch": {"$ref": "#/definitions/stringList"},
            },
        },
        "featureGates": {"type": "object", "additionalProperties": {"type": "boolean"}},
        "runtimeConfig": {"type": "object", "additionalProperties": {"type": "string"}},
        "kubeadmConfigPatches": {"$ref": "#/definitions/stringList"},
        "kubeadmConfigPatchesJSON6902": {"$ref": "#/definitions/json6902"},
        "containerdConfigPatches": {"$ref": "#/definitions/stringList"},
        "containerdConfigPatchesJSON6902": {"$ref": "#/definitions/stringList"},
    },
}


def node_labels(report: Report, node: dict[str, Any], index: int, first_control_plane: bool) -> dict[str, str]:
    """Labels a node gets: `labels:` plus kubelet node-labels from its kubeadm patches."""
    labels = dict(node.get("labels") or {})
    for patch_text in node.get("kubeadmConfigPatches") or []:
        try:
            patch = yaml.safe_load(patch_text)
        except yaml.YAMLError as e:
            report.fail(f"nodes[{index}]: a kubeadmConfigPatches entry is not YAML: {e}")
            continue
        if not isinstance(patch, dict) or "kind" not in patch:
            report.fail(f"nodes[{index}]: a kubeadmConfigPatches entry has no `kind` (kind matches patches by kind)")
            continue
        if patch["kind"] not in ("InitConfiguration", "JoinConfiguration", "ClusterConfiguration",
                                 "KubeletConfiguration", "KubeProxyConfiguration"):
            report.fail(f"nodes[{index}]: kubeadm patch of unknown kind {patch['kind']!r}")
            continue
        if patch["kind"] == "InitConfiguration" and not first_control_plane:
            report.fail(f"nodes[{index}]: an InitConfiguration patch only applies to the first control-plane node")
            continue
        extra = ((patch.get("nodeRegistration") or {}).get("kubeletExtraArgs")) or {}
        if isinstance(extra, list):  # kubeadm v1beta4 form
            extra = {e.get("name"): e.get("value") for e in extra if isinstance(e, dict)}
        for item in str(extra.get("node-labels") or "").split(","):
            if "=" in item:
                key, value = item.split("=", 1)
                labels[key.strip()] = value.strip()
    return labels


def check_kind(report: Report) -> None:
    report.begin("kind-config.yaml")
    path = REPO / "kind-config.yaml"
    config = load_yaml(report, path)
    if config is None:
        return
    errors = schema_errors(KIND_SCHEMA, config)
    for error in errors:
        report.fail(f"schema: {error}")
    if errors:
        return
    report.ok("matches kind's v1alpha4 Cluster fields (kind, apiVersion, name, nodes, networking, patches)")
    report.check(config.get("name") == CLUSTER, f"cluster name {CLUSTER!r} (context {KIND_CONTEXT})",
                 f"cluster name is {config.get('name')!r}, the Tiltfile and skaffold.yaml expect {CLUSTER!r}")
    nodes = config.get("nodes") or [{"role": "control-plane"}]
    roles = [n.get("role", "control-plane") for n in nodes]
    if not report.check("control-plane" in roles, f"nodes: {', '.join(roles)}", "no control-plane node"):
        return
    first_cp = roles.index("control-plane")
    ingress_nodes = []
    host_ports: dict[int, int] = {}
    for index, node in enumerate(nodes):
        labels = node_labels(report, node, index, index == first_cp)
        if labels.get(INGRESS_LABEL[0]) == INGRESS_LABEL[1]:
            ingress_nodes.append(index)
        for mapping in node.get("extraPortMappings") or []:
            host = mapping.get("hostPort")
            if host and host > 0:
                if host in host_ports:
                    report.fail(f"hostPort {host} mapped on nodes {host_ports[host]} and {index}")
                host_ports[host] = index
    label = "=".join(INGRESS_LABEL)
    if not report.check(len(ingress_nodes) == 1, f"node {ingress_nodes[0] if ingress_nodes else '?'} labelled {label}",
                        f"{len(ingress_nodes)} nodes labelled {label} (Traefik's hostPorts need exactly one)"):
        return
    node = nodes[ingress_nodes[0]]
    report.check((node.get("labels") or {}).get(INGRESS_LABEL[0]) == INGRESS_LABEL[1],
                 f"the {label} label is set with the node's `labels` field",
                 f"the {label} label comes from a kubeadm patch: use the node's `labels` field "
                 "(kind >= v0.11.0): it works on any node, an InitConfiguration patch only on the first control plane")
    if roles[ingress_nodes[0]] != "control-plane":
        report.warn(f"the {label} node is a worker: fine, but Traefik must then not require the control plane")
    mappings = node.get("extraPortMappings") or []
    for port in INGRESS_PORTS:
        found = [m for m in mappings if m.get("containerPort") == port]
        ok = any(m.get("hostPort") == port and m.get("protocol", "TCP") == "TCP" for m in found)
        report.check(ok, f"containerPort {port} -> hostPort {port}/TCP on the {label} node",
                     f"the {label} node does not map containerPort {port} to hostPort {port}/TCP "
                     f"(Traefik binds hostPort {port} there; http://{INGRESS_HOST}/ needs it)")


# ------------------------------------------------------------------------------ skaffold
def check_release_files(report: Report, release: dict[str, Any], where: str) -> bool:
    ok = True
    chart = REPO / str(release.get("chartPath", ""))
    if not (chart / "Chart.yaml").is_file():
        report.fail(f"{where}: chartPath {release.get('chartPath')!r} is not a chart directory")
        ok = False
    for values in release.get("valuesFiles") or []:
        if not (REPO / values).is_file():
            report.fail(f"{where}: valuesFiles entry {values!r} does not exist")
            ok = False
    for field in ("setValues", "setValueTemplates"):
        mapping = release.get(field) or {}
        if not isinstance(mapping, dict):
            report.fail(f"{where}: {field} must be a mapping")
            ok = False
            continue
        for key, value in mapping.items():
            if not isinstance(value, str):
                report.fail(f"{where}: {field}.{key} should be a string (Skaffold passes --set {key}=<text>)")
                ok = False
            elif re.search(r"(?<!\\),", value):
                report.fail(f"{where}: {field}.{key} has an unescaped ',' which `helm --set` splits into more keys (write \\,)")
                ok = False
    return ok


def check_skaffold(report: Report, helm: str | None, schema_dir: Path) -> None:
    report.begin("skaffold.yaml")
    config = load_yaml(report, REPO / "skaffold.yaml")
    if config is None:
        return
    schema_path = schema_dir / SKAFFOLD_SCHEMA
    schema = None
    if schema_path.is_file():
        errors = schema_errors(json.loads(schema_path.read_text()), config)
        for error in errors:
            report.fail(f"schema: {error}")
        if not errors:
            report.ok(f"valid against {schema_path}")
            # and, below, each profile's effective config
            schema = json.loads(schema_path.read_text())
    elif in_ci():
        report.fail(f"{schema_path} is missing and CI is set: the schema check cannot be skipped")
    else:
        banner = "!" * 78
        print(f"  {banner}", flush=True)
        report.warn(f"{schema_path} is missing: skaffold.yaml NOT validated against Skaffold's schema "
                    "(set ROOST_CONFIG_SCHEMAS or --schemas; CI fails here)")
        print(f"  {banner}", flush=True)
    report.check(config.get("apiVersion") == SKAFFOLD_API_VERSION, f"apiVersion {SKAFFOLD_API_VERSION}",
                 f"apiVersion is {config.get('apiVersion')!r}, want {SKAFFOLD_API_VERSION}")
    names = [p.get("name") for p in config.get("profiles") or []]
    for profile in SKAFFOLD_PROFILES:
        report.check(profile in names, f"profile {profile!r} defined", f"profile {profile!r} missing (have {names})")
    if len(set(names)) != len(names):
        report.fail(f"duplicate profile names: {names}")

    for profile in [None, *[p for p in SKAFFOLD_PROFILES if p in names]]:
        label = f"profile {profile}" if profile else "base config"
        try:
            effective = skaffold_model.effective_config(config, profile)
        except ValueError as e:
            report.fail(str(e))
            continue
        if schema is not None:
            errors = schema_errors(schema, effective)
            for error in errors:
                report.fail(f"{label}: effective config: {error}")
            if not errors:
                report.ok(f"{label}: effective config valid against the schema")
        check_skaffold_build(report, effective, label, profile)
        check_skaffold_deploy(report, effective, label, profile, helm)


def check_skaffold_build(report: Report, config: dict[str, Any], label: str, profile: str | None) -> None:
    build = config.get("build") or {}
    artifacts = [a for a in build.get("artifacts") or [] if a.get("image") == IMAGE]
    if not report.check(len(artifacts) == 1, f"{label}: one artifact {IMAGE!r}",
                        f"{label}: expected one build artifact with image {IMAGE!r}"):
        return
    artifact = artifacts[0]
    docker = artifact.get("docker") or {}
    context = REPO / artifact.get("context", ".")
    dockerfile = context / docker.get("dockerfile", "Dockerfile")
    if not dockerfile.is_file():
        report.fail(f"{label}: Dockerfile {dockerfile.relative_to(REPO)} does not exist")
        return
    target = docker.get("target")
    stages = dockerfile_stages(dockerfile)
    report.check(target == TARGET and target.lower() in stages,
                 f"{label}: docker target {target!r} is a stage of {dockerfile.relative_to(REPO)}",
                 f"{label}: docker target {target!r} (want {TARGET!r}; the Dockerfile's stages: {sorted(stages)})")
    push = (build.get("local") or {}).get("push")
    want_push = profile == "prod"
    report.check(push is want_push, f"{label}: local build, push {push}",
                 f"{label}: build.local.push is {push!r}, want {want_push} "
                 + ("(prod deploys what a registry serves)" if want_push else "(kind loads local images)"))


def check_skaffold_deploy(report: Report, config: dict[str, Any], label: str, profile: str | None,
                          helm: str | None) -> None:
    deploy = config.get("deploy") or {}
    releases = ((deploy.get("helm") or {}).get("releases")) or []
    roost = [r for r in releases if r.get("name") == RELEASE]
    if not report.check(len(roost) == 1, f"{label}: helm release {RELEASE!r}",
                        f"{label}: expected one helm release named {RELEASE!r}"):
        return
    release = roost[0]
    if profile == "dev":
        report.check(deploy.get("kubeContext") == KIND_CONTEXT, f"{label}: deploy.kubeContext {KIND_CONTEXT}",
                     f"{label}: deploy.kubeContext is {deploy.get('kubeContext')!r}, want {KIND_CONTEXT}")
    if profile == "prod":
        report.check(not config.get("portForward"), f"{label}: no port forwarding",
                     f"{label}: prod must not forward ports (portForward: {config.get('portForward')})")
    report.check(release.get("namespace") == NAMESPACE, f"{label}: namespace {NAMESPACE}",
                 f"{label}: release namespace is {release.get('namespace')!r}, want {NAMESPACE}")
    want_values = PROD_VALUES if profile == "prod" else DEV_VALUES
    report.check(want_values in (release.get("valuesFiles") or []), f"{label}: valuesFiles include {want_values}",
                 f"{label}: valuesFiles {release.get('valuesFiles')} lack {want_values}")
    if not check_release_files(report, release, label):
        return
    report.ok(f"{label}: chartPath and valuesFiles exist")
    if helm is None:
        return

    push = ((config.get("build") or {}).get("local") or {}).get("push")
    digest = "sha256:" + "ab" * 32
    built = f"registry.example.com/{IMAGE}:abc1234@{digest}" if push else f"{IMAGE}:{'c0ffee' * 10}1234"
    expected = f"registry.example.com/{IMAGE}@{digest}" if push else built
    try:
        env = skaffold_model.image_template_env(IMAGE, built)
        overrides = skaffold_model.helm_override_args(release, env)
    except (KeyError, ValueError) as e:
        report.fail(f"{label}: setValueTemplates: {e}")
        return
    argv = ["template", RELEASE, str(release["chartPath"]), "--namespace", release["namespace"], *overrides]
    objects, error = render(helm, argv)
    if objects is None:
        report.fail(f"{label}: helm {' '.join(argv)} failed: {error}")
        return
    report.ok(f"{label}: helm template with Skaffold's values renders {len(objects)} objects")

    workloads = [o for o in objects if tilt_model.is_workload(o) and not hooks([o])]
    images = {c["image"] for o in objects if tilt_model.is_workload(o) for c in tilt_model.containers(o)
              if image_repository(c.get("image", "")).split("/")[-1] == IMAGE}
    report.check(images == {expected}, f"{label}: workloads run the built image {expected}",
                 f"{label}: the workloads' Roost images are {sorted(images)}, want {expected} (built {built})")

    api = next((o for o in workloads if o["kind"] == "Deployment" and o["metadata"]["name"] == API_WORKLOAD), None)
    hook_jobs = [o for o in objects if o["kind"] == "Job"
                 and "pre-install" in ((o["metadata"].get("annotations") or {}).get("helm.sh/hook", ""))]
    init_migrate = api is not None and any(
        c.get("name") == "migrate" for c in pod_init_containers(api))
    if profile == "prod":
        report.check(bool(hook_jobs) and not init_migrate, f"{label}: migrations run by the pre-install/pre-upgrade hook Job",
                     f"{label}: want a migrations hook Job and no migrate init container "
                     f"(hook jobs: {[j['metadata']['name'] for j in hook_jobs]}, init container: {init_migrate})")
    else:
        report.check(bool(hook_jobs) or init_migrate, f"{label}: migrations run ({'hook Job' if hook_jobs else 'init container'})",
                     f"{label}: no migrations Job or init container rendered")
    if profile == "dev":
        ingresses = [o for o in objects if o["kind"] == "Ingress"]
        ok = any((o["spec"].get("ingressClassName") == INGRESS_CLASS)
                 and any(r.get("host") == INGRESS_HOST for r in o["spec"].get("rules") or []) for o in ingresses)
        report.check(ok, f"{label}: Ingress {INGRESS_HOST} with class {INGRESS_CLASS}",
                     f"{label}: no Ingress for {INGRESS_HOST} with ingressClassName {INGRESS_CLASS}")
        rust_log = api and next((container_env(c, "RUST_LOG") for c in api["spec"]["template"]["spec"]["containers"]
                                 if container_env(c, "RUST_LOG")), None)
        report.check(bool(rust_log) and "roost_api=debug" in rust_log, f"{label}: debug logs (RUST_LOG={rust_log})",
                     f"{label}: RUST_LOG of the API is {rust_log!r}, want roost_api=debug")

    services = {(namespace_of(o), o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    local_ports: dict[int, str] = {}
    for forward in config.get("portForward") or []:
        what = f"{forward.get('resourceType')}/{forward.get('resourceName')}:{forward.get('port')}"
        ns = forward.get("namespace", NAMESPACE)
        if forward.get("localPort") in local_ports:
            report.fail(f"{label}: localPort {forward.get('localPort')} forwarded twice")
        local_ports[forward.get("localPort")] = what
        if str(forward.get("resourceType", "")).lower() != "service":
            report.fail(f"{label}: port forward {what}: use resourceType service (stable across pod restarts)")
            continue
        if ns == NAMESPACE:
            service = services.get((ns, forward.get("resourceName")))
            ports = [p.get("port") for p in (service or {}).get("spec", {}).get("ports", [])]
            report.check(service is not None and forward.get("port") in ports,
                         f"{label}: forward {what} -> localhost:{forward.get('localPort')} (Service port exists)",
                         f"{label}: forward {what}: no such Service port in the rendered chart (ports: {ports})")
        else:
            known = {(n, s, p) for n, s, p, _ in MONITORING_FORWARDS.values()}
            report.check((ns, forward.get("resourceName"), forward.get("port")) in known,
                         f"{label}: forward {ns}/{what} -> localhost:{forward.get('localPort')}",
                         f"{label}: forward {ns}/{what} is not one of the add-on Services {sorted(known)}")
    if profile != "prod" and config.get("portForward"):
        for title, (ns, service, port, local) in MONITORING_FORWARDS.items():
            found = any(f.get("resourceName") == service and f.get("namespace") == ns and f.get("port") == port
                        and f.get("localPort") == local for f in config["portForward"])
            report.check(found, f"{label}: {title} forwarded to localhost:{local}",
                         f"{label}: no port forward of {ns}/{service}:{port} to localhost:{local}")
        api_forward = any(f.get("resourceName") == API_WORKLOAD and f.get("localPort") == API_PORT
                          for f in config["portForward"])
        report.check(api_forward, f"{label}: API forwarded to localhost:{API_PORT}",
                     f"{label}: no port forward of the API to localhost:{API_PORT}")


def pod_init_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list(tilt_model.pod_spec(obj).get("initContainers") or [])


def namespace_of(obj: dict[str, Any]) -> str:
    return (obj.get("metadata") or {}).get("namespace") or NAMESPACE


# ---------------------------------------------------------------------------------- Tilt
def build_inputs() -> set[str]:
    """Top-level paths the Docker build reads: workspace manifests and members, and the
    directories their non-test sources embed (include_str!/include_bytes!/sqlx::migrate!)."""
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    members = cargo.get("workspace", {}).get("members", [])
    needed = {"Cargo.toml", "Cargo.lock", *members}
    pattern = re.compile(r'(include_str|include_bytes|migrate)!\(\s*"([^"]+)"')
    for member in members:
        for source in (REPO / member).rglob("*.rs"):
            if "tests" in source.relative_to(REPO / member).parts[:1]:
                continue
            # Unit tests sit at the end of a file behind #[cfg(test)]; what they embed is not
            # part of the binaries the image builds.
            text = source.read_text(errors="replace").split("#[cfg(test)]", 1)[0]
            for macro, relative in pattern.findall(text):
                base = REPO / member if macro == "migrate" else source.parent
                target = (base / relative).resolve()
                try:
                    needed.add(target.relative_to(REPO).parts[0])
                except ValueError:
                    pass
    return needed


def covers(entries: list[str], path: str) -> bool:
    path = path.strip("/")
    return any(path == e.strip("/").removeprefix("./") or path.startswith(e.strip("/").removeprefix("./") + "/")
               or e.strip("/") in (".", "") for e in entries)


def command_text(cmd: Any) -> str:
    if cmd is None:
        return ""
    if isinstance(cmd, (list, tuple)):
        return " ".join(shlex.quote(str(c)) for c in cmd)
    return str(cmd)


def evaluate_tiltfile(helm: str, **options: Any) -> tuple[tilt_stubs.TiltRun, str | None]:
    run = tilt_stubs.TiltRun(REPO / "Tiltfile", helm, **options)
    try:
        run.evaluate()
    except starlark.StarlarkError as e:
        return run, str(e)
    return run, None


def bootstrap_resource(run: tilt_stubs.TiltRun) -> tuple[str | None, str]:
    """(resource name or "<load time>", command) of the call that runs k8s/bootstrap.sh."""
    for call in run.calls:
        if call.name == "local_resource" and BOOTSTRAP in command_text(call.args.get("cmd")):
            return call.args["name"], command_text(call.args.get("cmd"))
        if call.name == "local" and BOOTSTRAP in command_text(call.args.get("command")):
            return "<load time>", command_text(call.args.get("command"))
    return None, ""


def serve_forward(cmd: str) -> tuple[str, str, int, int] | None:
    """(namespace, service, local port, remote port) of a `kubectl port-forward svc/...` command."""
    if "port-forward" not in cmd:
        return None
    service = re.search(r"\b(?:svc|service|services)/([a-z0-9.-]+)", cmd)
    ns = re.search(r"(?:-n|--namespace)[ =]([a-z0-9-]+)", cmd)
    ports = re.search(r"\s(\d+):(\d+)\b", cmd)
    if not (service and ports):
        return None
    return (ns.group(1) if ns else "default", service.group(1), int(ports.group(1)), int(ports.group(2)))


def check_tilt(report: Report, helm: str | None) -> None:
    report.begin("Tiltfile")
    if helm is None:
        report.fail("helm is needed to execute the Tiltfile's helm() call")
        return
    run, error = evaluate_tiltfile(helm)
    if error:
        report.fail(f"executing the Tiltfile (context {KIND_CONTEXT}, no arguments) failed:\n{error}")
        return
    names = sorted({c.name for c in run.calls})
    report.ok(f"executes with starlark-pyo3 (builtins called: {', '.join(names)})")

    # contexts
    allowed = [ctx for c in run.calls_to("allow_k8s_contexts") for ctx in tilt_stubs.as_list(c.args["contexts"])]
    report.check(KIND_CONTEXT in allowed, f"allow_k8s_contexts({KIND_CONTEXT!r})",
                 f"allow_k8s_contexts does not allow {KIND_CONTEXT!r} (allowed: {allowed})")
    other, other_error = evaluate_tiltfile(helm, k8s_context="kind-other")
    name, _ = bootstrap_resource(other)
    report.check(other_error is not None or name is None,
                 "refuses another context before any add-on is installed",
                 "with the context 'kind-other' the Tiltfile still runs the bootstrap (Tilt allows every kind "
                 "context by default: fail() unless k8s_context() is kind-roost)")

    # image
    builds = [c.args for c in run.calls_to("docker_build")]
    roost = [b for b in builds if b["ref"] == IMAGE]
    if report.check(len(roost) == 1, f"docker_build({IMAGE!r})", f"want one docker_build of {IMAGE!r}, found {len(roost)}"):
        build = roost[0]
        context = run.path(build["context"])
        dockerfile = run.path(build["dockerfile"]) if build.get("dockerfile") else context / "Dockerfile"
        if report.check(context.is_dir() and dockerfile.is_file(),
                        f"context {build['context']!r} and {dockerfile.relative_to(REPO)} exist",
                        f"context {build['context']!r} or Dockerfile {dockerfile} missing"):
            stages = dockerfile_stages(dockerfile)
            report.check(build.get("target") == TARGET and TARGET in stages,
                         f"target {build.get('target')!r} is a stage of the Dockerfile",
                         f"docker_build target is {build.get('target')!r}, want {TARGET!r} (stages: {sorted(stages)})")
        only = [str(o) for o in tilt_stubs.as_list(build.get("only"))]
        ignore = [str(i) for i in tilt_stubs.as_list(build.get("ignore"))]
        missing = [o for o in only if not (context / o).exists()]
        report.check(not missing, f"`only` paths exist: {', '.join(only) or '(whole context)'}",
                     f"docker_build `only` lists missing paths: {missing}")
        needed = sorted(build_inputs())
        uncovered = [p for p in needed if only and not covers(only, p)]
        report.check(not uncovered, f"`only` covers what the build reads ({', '.join(needed)})",
                     f"docker_build `only` leaves out {uncovered}: the in-container cargo build needs them")
        ignored = [p for p in needed if any(p == i.strip('/') for i in ignore)]
        report.check(not ignored, "`ignore` drops nothing the build reads", f"docker_build `ignore` drops {ignored}")

    # chart
    renders = run.helm_renders
    if not report.check(len(renders) == 1, "helm() called once", f"want one helm() call, found {len(renders)}"):
        return
    chart = renders[0]
    a = chart["args"]
    report.check(Path(a["paths"]).as_posix().rstrip("/") == CHART and a.get("name") == RELEASE
                 and a.get("namespace") == NAMESPACE,
                 f"helm({CHART!r}, name={RELEASE!r}, namespace={NAMESPACE!r})",
                 f"helm() called with paths={a['paths']!r} name={a.get('name')!r} namespace={a.get('namespace')!r}")
    values = tilt_stubs.as_list(a.get("values"))
    report.check(DEV_VALUES in values, f"values files exist: {', '.join(values)}",
                 f"helm() values {values} lack {DEV_VALUES}")
    report.ok(f"helm template (Tilt's arguments) renders {len(chart['objects'])} objects"
              + (f"; Tilt's test filter dropped {chart['dropped_tests']}" if chart["dropped_tests"] else ""))
    found_hooks = hooks(chart["objects"])
    report.check(not found_hooks, "no Helm hook left for Tilt to apply as a plain object",
                 f"Tilt would apply these hooks as plain objects, once and out of order: {found_hooks} "
                 "(set tests.enabled=false, migrations.mode=initContainer)")
    passed = any(chart["blob"] is item for c in run.calls_to("k8s_yaml") for item in c.result)
    report.check(passed, "helm() output passed to k8s_yaml()", "the helm() output never reaches k8s_yaml()")
    roost_images = sorted({c.get("image") for o in run.yaml_objects if tilt_model.is_workload(o)
                           for c in tilt_model.containers(o) if image_repository(c.get("image", "")) == IMAGE})
    report.check(bool(roost_images), f"workloads use {roost_images}, which docker_build({IMAGE!r}) replaces",
                 f"no workload uses the image {IMAGE!r}: Tilt would deploy without the built image")

    # resources
    resources, uncategorized, errors = tilt_model.assemble(run.yaml_objects, run.calls, NAMESPACE)
    for error in errors:
        report.fail(f"Tilt would refuse: {error}")
    k8s_names = sorted(n for n, r in resources.items() if r.kind == "k8s")
    named = [c.args.get("workload") for c in run.calls_to("k8s_resource") if c.args.get("workload")]
    workload_names = {n for n, r in resources.items() if r.workloads()}
    report.check(all(n in workload_names for n in named),
                 f"k8s_resource workloads exist among the rendered workloads: {', '.join(named)}",
                 f"k8s_resource names {[n for n in named if n not in workload_names]} are not rendered workloads "
                 f"({sorted(workload_names)})")
    report.check(not uncategorized, f"every object belongs to a resource ({', '.join(k8s_names)})",
                 "objects left in Tilt's 'uncategorized' resource, applied before the bootstrap: "
                 + ", ".join(tilt_model.full_name(o, NAMESPACE) for o in uncategorized))

    bootstrap, command = bootstrap_resource(run)
    if report.check(bootstrap is not None, f"{BOOTSTRAP} runs in {bootstrap!r}: {command}",
                    f"no local_resource (or local()) runs {BOOTSTRAP}"):
        script = REPO / BOOTSTRAP
        if not script.is_file():
            if in_ci():
                report.fail(f"{BOOTSTRAP} does not exist")
            else:
                report.warn(f"{BOOTSTRAP} does not exist (yet; a failure when CI is set)")
        elif not os.access(script, os.X_OK):
            report.fail(f"{BOOTSTRAP} is not executable")
    for call in run.calls_to("local_resource"):
        missing = [d for d in tilt_stubs.as_list(call.args.get("deps")) if not run.path(str(d)).exists()]
        if missing:
            report.fail(f"local_resource {call.args['name']!r}: deps {missing} do not exist "
                        "(Tilt silently watches nothing there)")
    if bootstrap:
        report.check(run.config_defs.get("log-shipper", {}).get("kind") == "define_string",
                     "config.define_string('log-shipper')",
                     "the Tiltfile defines no string setting 'log-shipper' (tilt up -- --log-shipper promtail)")
        report.check(run.config_defs.get("gateway-api", {}).get("kind") == "define_bool",
                     "config.define_bool('gateway-api')",
                     "the Tiltfile defines no bool setting 'gateway-api': `tilt up` would rerun the bootstrap "
                     "without --gateway-api and take the Gateway API off Traefik")
        report.check("--gateway-api" not in command.split(), f"without settings the bootstrap runs {command}",
                     f"without --gateway-api the bootstrap still runs {command!r}")
    if "log-shipper" in run.config_defs and bootstrap:
        promtail, promtail_error = evaluate_tiltfile(helm, config_args={"log-shipper": "promtail"})
        _, promtail_command = bootstrap_resource(promtail)
        report.check(promtail_error is None and "--log-shipper promtail" in promtail_command,
                     "`tilt up -- --log-shipper promtail` reaches the bootstrap",
                     f"with --log-shipper promtail the bootstrap runs {promtail_command!r} ({promtail_error})")
    if "gateway-api" in run.config_defs and bootstrap:
        both, both_error = evaluate_tiltfile(helm, config_args={"gateway-api": True, "log-shipper": "promtail"})
        _, both_command = bootstrap_resource(both)
        words = both_command.split()
        report.check(both_error is None and "--gateway-api" in words and "--log-shipper promtail" in both_command,
                     f"`tilt up -- --gateway-api --log-shipper promtail` reaches the bootstrap: {both_command}",
                     f"with --gateway-api --log-shipper promtail the bootstrap runs {both_command!r} ({both_error})")
        off, off_error = evaluate_tiltfile(helm, config_args={"gateway-api": False})
        _, off_command = bootstrap_resource(off)
        report.check(off_error is None and "--gateway-api" not in off_command.split(),
                     "`--gateway-api=false` leaves it out", f"with gateway-api false the bootstrap runs {off_command!r}")

    # resource_deps
    unknown = sorted({(n, d) for n, r in resources.items() for d in r.resource_deps if d not in resources})
    for name, dep in unknown:
        report.fail(f"{name}: resource_deps names unknown resource {dep!r}")

    def closure(name: str, seen: set[str] | None = None) -> set[str]:
        seen = set() if seen is None else seen
        for dep in resources[name].resource_deps if name in resources else []:
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    cyclic = [n for n in resources if n in closure(n)]
    for name in cyclic:
        report.fail(f"{name}: resource_deps cycle")
    if bootstrap and bootstrap != "<load time>":
        waiting = [n for n, r in resources.items() if n != bootstrap and (r.kind == "k8s" or r.serve_cmd)]
        late = [n for n in waiting if bootstrap not in closure(n)]
        report.check(not late, f"{', '.join(sorted(waiting))} wait for {bootstrap!r} (resource_deps)",
                     f"these resources do not wait for {bootstrap!r}: {late}")

    # port forwards
    local_ports: dict[int, str] = {}

    def claim(port: int, what: str) -> None:
        if port in local_ports:
            report.fail(f"local port {port} forwarded twice ({local_ports[port]}, {what})")
        local_ports[port] = what

    for name, resource in sorted(resources.items()):
        ports = {p.get("containerPort") for w in resource.workloads() for c in tilt_model.containers(w)
                 for p in c.get("ports") or []}
        for forward in resource.port_forwards:
            target = forward.container_port or forward.local_port
            claim(forward.local_port, f"{name}:{target}")
            report.check(target in ports, f"{name}: localhost:{forward.local_port} -> container port {target}",
                         f"{name}: port forward to container port {target}, which no container declares ({sorted(ports)})")
    api = [n for n, r in resources.items() if any(w["kind"] == "Deployment" and w["metadata"]["name"] == API_WORKLOAD
                                                 for w in r.workloads())]
    api_forwarded = any((f.container_port or f.local_port) == API_PORT and f.local_port == API_PORT
                        for n in api for f in resources[n].port_forwards)
    report.check(api_forwarded, f"API forwarded to localhost:{API_PORT}",
                 f"no port_forward({API_PORT}, {API_PORT}) on the resource of Deployment {API_WORKLOAD}")
    forwards = {}
    for name, resource in resources.items():
        parsed = serve_forward(command_text(resource.serve_cmd))
        if parsed:
            forwards[name] = parsed
            claim(parsed[2], f"{name} (kubectl port-forward)")
    for title, (ns, service, port, local) in MONITORING_FORWARDS.items():
        found = [n for n, f in forwards.items() if f == (ns, service, local, port)]
        report.check(bool(found), f"{title}: {found[0] if found else '?'} forwards localhost:{local} -> {ns}/svc/{service}:{port}",
                     f"no local_resource serve_cmd `kubectl -n {ns} port-forward svc/{service} {local}:{port}` for {title}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", type=Path, help="directory with skaffold_v4beta14.json "
                        "(default: $ROOST_CONFIG_SCHEMAS or <repo>/../shared/config-schemas)")
    args = parser.parse_args()
    schema_dir = args.schemas or Path(os.environ.get("ROOST_CONFIG_SCHEMAS") or REPO.parent / "shared" / "config-schemas")

    report = Report()
    helm = helm_binary(report)
    check_kind(report)
    check_skaffold(report, helm, schema_dir)
    check_tilt(report, helm)

    print()
    if report.warnings:
        print(f"[dev-loop] {len(report.warnings)} WARNING(S):")
        for warning in report.warnings:
            print(f"  - {warning}")
    if report.failures:
        print(f"[dev-loop] FAILED: {len(report.failures)} problem(s) ({report.passed} checks passed):")
        for failure in report.failures:
            print(f"  - {failure.splitlines()[0]}")
        return 1
    print(f"[dev-loop] all {report.passed} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
