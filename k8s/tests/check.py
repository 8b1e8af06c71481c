#!/usr/bin/env python3
"""Offline checks of k8s/ (the platform add-ons and the dev-cluster bootstrap).

1. The catalogue k8s/addons.conf: well-formed, install order (CNPG first, kube-prometheus-stack
   before everything that makes ServiceMonitors, Gateway API CRDs before Traefik), one values
   file per Helm release and no stray values file.
2. Every values file parsed as YAML, and the settings that matter: Prometheus retention >= 24 h,
   scrape interval <= 30 s, selectors not limited to the Helm release; Grafana's dashboard sidecar
   in all namespaces and the Loki data source pointing at the Loki chart's Service; Loki
   monolithic on a filesystem with compactor retention >= 24 h and no gateway; Alloy and
   Promtail pushing to that same Loki within 10 s, Alloy's read positions on a pod volume; Traefik on hostPorts 80/443 on the
   ingress-ready node with the default IngressClass `traefik`.
3. Every key of every values file against the key paths of the pinned chart version
   (k8s/tests/upstream-keys/<chart>-<version>.txt, generated from the upstream chart by
   k8s/tests/upstream_keys.py): a misspelt or moved key fails, except below the few open
   subtrees listed in OPEN_SUBTREES; no key the chart marks deprecated; one key list per pin.
4. The versions table in k8s/README.md equals the catalogue (--fix-readme rewrites it).
5. k8s/bootstrap.sh run against stub `helm` and `kubectl` (k8s/tests/stubs; real openssl), in
   several scenarios: order, pinned versions, values files, namespaces, every call pinned to the
   context read at the start, CRDs of the charts with crds/ applied before their release,
   log-shipper switching, --skip, --gateway-api, wrong context, Helm versions, missing helm, a
   failing release, an unreachable API server, no ingress-ready node, Secrets created only when
   missing and never on a command line, the restricted Pod Security label.

Exits non-zero, naming each failure, when anything is wrong. Needs PyYAML only.
Usage: check.py [--fix-readme]
"""

import json
import os
import re
import shutil
import signal as signals
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = os.path.dirname(HERE)
ROOT = os.path.dirname(K8S)
CATALOGUE = os.path.join(K8S, "addons.conf")
VALUES = os.path.join(K8S, "values")
README = os.path.join(K8S, "README.md")
BOOTSTRAP = os.path.join(K8S, "bootstrap.sh")
STUBS = os.path.join(HERE, "stubs")
UPSTREAM_KEYS = os.path.join(HERE, "upstream-keys")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

# Overlays that are not a release's own values file.
OVERLAYS = {"traefik-gateway-api.yaml": "traefik"}
# Flags of `helm upgrade/repo/status/uninstall/version` that mean the same in Helm 3 and Helm 4.
PORTABLE_HELM_FLAGS = {
    "--install", "--version", "--namespace", "--create-namespace", "-f", "--wait", "--timeout",
    "--force-update", "--template", "--kube-context",
}
TABLE_BEGIN = "<!-- addons-table:begin (generated from k8s/addons.conf by k8s/tests/check.py --fix-readme) -->"
TABLE_END = "<!-- addons-table:end -->"
COLUMNS = ["id", "kind", "release", "namespace", "repo", "repo_url", "chart", "version", "app",
           "when", "confirmed"]

failures = []
checked = []


def check(condition, what, detail=""):
    """Records one check: `what` is what must hold."""
    if condition:
        checked.append(what)
    else:
        failures.append(what + (f" ({detail})" if detail else ""))
    return condition


def section(title):
    print(f"\n== {title}")


def report_section(start):
    for what in checked[start:]:
        print(f"  ok   {what}")


# --- 1. the catalogue ---------------------------------------------------------------------------

def load_catalogue():
    entries = []
    with open(CATALOGUE, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split(None, len(COLUMNS) - 1)
            if len(fields) != len(COLUMNS):
                failures.append(f"addons.conf line {number} has {len(fields)} columns, not {len(COLUMNS)}")
                continue
            entries.append(dict(zip(COLUMNS, fields)))
    return entries


def check_catalogue(entries):
    ids = [e["id"] for e in entries]
    check(len(ids) == len(set(ids)), "catalogue ids are unique", str(ids))
    by_id = {e["id"]: e for e in entries}
    for e in entries:
        check(e["kind"] in ("helm", "manifest"), f"{e['id']}: kind is helm or manifest", e["kind"])
        check(e["when"] in ("always", "alloy", "promtail", "gateway-api"),
              f"{e['id']}: 'when' is always, alloy, promtail or gateway-api", e["when"])
        check(re.fullmatch(r"v?\d+\.\d+\.\d+", e["version"]) is not None,
              f"{e['id']}: version {e['version']} is an exact release (no range)")
        check(re.fullmatch(r"https://\S+", e["repo_url"]) is not None, f"{e['id']}: https repository URL")
        check(e["confirmed"] != "-", f"{e['id']}: where the version was confirmed is recorded")
        if e["kind"] == "helm":
            path = os.path.join(VALUES, e["release"] + ".yaml")
            check(os.path.isfile(path), f"{e['id']}: values file k8s/values/{e['release']}.yaml exists")
    required = {"cnpg", "kube-prometheus-stack", "loki", "alloy", "promtail", "traefik", "gateway-api"}
    check(required <= set(ids), "catalogue lists cnpg, kube-prometheus-stack, loki, alloy, promtail, gateway-api, traefik",
          f"missing {sorted(required - set(ids))}")
    if not required <= set(ids):
        return
    position = {i: n for n, i in enumerate(ids)}
    check(position["cnpg"] == 0, "CNPG operator is installed first (the Roost chart's Cluster needs its CRDs)")
    for later in ("loki", "alloy", "promtail", "traefik"):
        check(position["kube-prometheus-stack"] < position[later],
              f"kube-prometheus-stack is installed before {later} (its ServiceMonitor CRD)")
    check(position["loki"] < min(position["alloy"], position["promtail"]), "Loki is installed before the log shippers")
    check(position["gateway-api"] < position["traefik"], "Gateway API CRDs are applied before Traefik")
    expected = {"cnpg": ("cnpg", "cnpg-system", "always"),
                "kube-prometheus-stack": ("kube-prometheus-stack", "monitoring", "always"),
                "loki": ("loki", "monitoring", "always"),
                "alloy": ("alloy", "monitoring", "alloy"),
                "promtail": ("promtail", "monitoring", "promtail"),
                "traefik": ("traefik", "ingress", "always")}
    for i, (release, namespace, when) in expected.items():
        e = by_id[i]
        check((e["release"], e["namespace"], e["when"]) == (release, namespace, when),
              f"{i}: release {release} in namespace {namespace}, installed {when}",
              f"got {e['release']} / {e['namespace']} / {e['when']}")
    check(by_id["gateway-api"]["when"] == "gateway-api", "Gateway API CRDs only with --gateway-api")
    releases = {e["release"] + ".yaml" for e in entries if e["kind"] == "helm"}
    for name in sorted(os.listdir(VALUES)):
        check(name in releases or name in OVERLAYS,
              f"k8s/values/{name} belongs to a release of the catalogue (or is a known overlay)")


# --- 2. the values files ------------------------------------------------------------------------

DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(value):
    """A Prometheus/Loki/Go duration (e.g. 30s, 2d, 1h30m) in seconds; None if not one."""
    text = str(value)
    parts = DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(int(n) * UNIT[u] for n, u in parts)


def at_most(value, limit):
    """Whether value is a duration of at most `limit` seconds; not a duration at all is False
    (a recorded failure where it is checked, never a TypeError)."""
    parsed = seconds(value)
    return parsed is not None and parsed <= limit


def dig(data, *keys, default=None):
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return default
        data = data[key]
    return data


def load_values():
    values = {}
    for name in sorted(os.listdir(VALUES)):
        path = os.path.join(VALUES, name)
        try:
            with open(path, encoding="utf-8") as f:
                data = yaml.safe_load(f)
        except yaml.YAMLError as error:
            check(False, f"k8s/values/{name} is valid YAML", str(error).splitlines()[0])
            continue
        check(isinstance(data, dict), f"k8s/values/{name} is valid YAML (a mapping)")
        values[name[:-len(".yaml")]] = data if isinstance(data, dict) else {}
    return values


def chart_fullname(release, chart, values):
    """The fullname helper shared by these charts: release name if it contains the chart name."""
    if values.get("fullnameOverride"):
        return values["fullnameOverride"]
    name = values.get("nameOverride") or chart
    return release if name in release else f"{release}-{name}"


def loki_base_url(by_id, values):
    loki = by_id["loki"]
    service = chart_fullname(loki["release"], loki["chart"], values.get("loki", {}))
    port = dig(values.get("loki", {}), "loki", "server", "http_listen_port", default=3100)
    return f"http://{service}.{loki['namespace']}.svc:{port}", service, port


def all_service_monitors_enabled(data, path=""):
    """Paths of serviceMonitor/podMonitor switches turned on anywhere in a values tree."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else key
            lowered = key.lower()
            if lowered in ("servicemonitor", "podmonitor") and isinstance(value, dict) and value.get("enabled"):
                found.append(here)
            if lowered in ("podmonitorenabled", "servicemonitorenabled") and value is True:
                found.append(here)
            found.extend(all_service_monitors_enabled(value, here))
    return found


def check_values(entries, values):
    by_id = {e["id"]: e for e in entries}
    order = [e["id"] for e in entries]
    kps_at = order.index("kube-prometheus-stack")
    # Add-ons installed before kube-prometheus-stack cannot create ServiceMonitors/PodMonitors.
    for e in entries[:kps_at]:
        if e["kind"] == "helm":
            on = all_service_monitors_enabled(values.get(e["release"], {}))
            check(not on, f"{e['release']}: no ServiceMonitor/PodMonitor (installed before their CRDs)", ", ".join(on))

    loki_url, loki_service, loki_port = loki_base_url(by_id, values)
    push_url = loki_url + "/loki/api/v1/push"

    # kube-prometheus-stack
    kps = values.get("kube-prometheus-stack", {})
    spec = dig(kps, "prometheus", "prometheusSpec", default={})
    retention = seconds(spec.get("retention", "10d"))
    check(retention is not None and retention >= 86400, "Prometheus retention >= 24h", f"retention {spec.get('retention')}")
    check(at_most(spec.get("scrapeInterval") or "30s", 30), "Prometheus scrape interval <= 30s",
          f"{spec.get('scrapeInterval')}")
    check(at_most(spec.get("evaluationInterval") or "30s", 30), "Prometheus rule evaluation interval <= 30s",
          f"{spec.get('evaluationInterval')}")
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        check(spec.get(f"{kind}SelectorNilUsesHelmValues") is False,
              f"Prometheus {kind}SelectorNilUsesHelmValues: false (not limited to the Helm release)")
        check(spec.get(f"{kind}Selector", {}) in ({}, None),
              f"Prometheus {kind}Selector empty (selects all)", str(spec.get(f"{kind}Selector")))
        check(spec.get(f"{kind}NamespaceSelector") == {},
              f"Prometheus {kind}NamespaceSelector {{}} (all namespaces)", str(spec.get(f"{kind}NamespaceSelector")))
    sidecar = dig(kps, "grafana", "sidecar", "dashboards", default={})
    check(sidecar.get("enabled") is True, "Grafana dashboard sidecar enabled")
    check(sidecar.get("label") == "grafana_dashboard", "Grafana dashboards from ConfigMaps labelled grafana_dashboard")
    check(sidecar.get("searchNamespace") == "ALL", "Grafana dashboard sidecar searches ALL namespaces")
    sources = dig(kps, "grafana", "additionalDataSources", default=[]) or []
    lokis = [s for s in sources if isinstance(s, dict) and s.get("type") == "loki"]
    check(len(lokis) == 1, "exactly one Loki data source provisioned in Grafana (additionalDataSources)")
    for source in lokis:
        check(source.get("url") == loki_url,
              f"Grafana's Loki data source URL is the Loki Service ({loki_url})", f"got {source.get('url')}")

    # Loki
    loki = values.get("loki", {})
    check(loki.get("deploymentMode") in ("Monolithic", "SingleBinary"), "Loki monolithic (SingleBinary)")
    check(dig(loki, "singleBinary", "replicas") == 1, "Loki: one single-binary replica")
    for target in ("read", "write", "backend"):
        check(dig(loki, target, "replicas") == 0, f"Loki: no {target} replicas (simple-scalable off)")
    check(dig(loki, "loki", "storage", "type") == "filesystem", "Loki storage on the filesystem")
    schemas = dig(loki, "loki", "schemaConfig", "configs", default=[]) or []
    check(bool(schemas) and all(s.get("object_store") == "filesystem" for s in schemas),
          "Loki schema stores chunks on the filesystem")
    check(dig(loki, "loki", "auth_enabled") is False, "Loki single tenant (auth_enabled: false)")
    check(dig(loki, "gateway", "enabled") is False,
          f"Loki gateway off (clients use Service `{loki_service}` directly)")
    for cache in ("chunksCache", "resultsCache"):
        check(dig(loki, cache, "enabled") is False, f"Loki {cache} off")
    loki_retention = seconds(dig(loki, "loki", "limits_config", "retention_period", default="0s"))
    check(loki_retention is not None and loki_retention >= 86400, "Loki retention_period >= 24h",
          str(dig(loki, "loki", "limits_config", "retention_period")))
    check(dig(loki, "loki", "compactor", "retention_enabled") is True, "Loki compactor retention enabled")
    check(bool(dig(loki, "loki", "compactor", "delete_request_store")),
          "Loki compactor has a delete_request_store (required with retention)")
    check(loki_port == 3100 and loki_service == by_id["loki"]["release"],
          f"Loki Service is `{loki_service}` port {loki_port}")

    # Alloy
    alloy = values.get("alloy", {})
    check(dig(alloy, "controller", "type") == "daemonset", "Alloy runs as a DaemonSet")
    config = dig(alloy, "alloy", "configMap", "content", default="") or ""
    check(config.count("{") == config.count("}") and config.count("[") == config.count("]"),
          "Alloy config: braces and brackets balanced")
    for component in ("discovery.kubernetes", "loki.source.kubernetes", "loki.write"):
        check(re.search(rf'^\s*{re.escape(component)}\s+"[^"]+"\s*{{', config, re.M) is not None,
              f"Alloy config declares {component}")
    write = re.search(r'loki\.write\s+"[^"]+"\s*\{(.*?)\n\}', config, re.S)
    urls = re.findall(r'\burl\s*=\s*"([^"]+)"', write.group(1)) if write else []
    check(urls == [push_url], f"Alloy pushes to {push_url}", f"got {urls}")
    waits = re.findall(r'\bbatch_wait\s*=\s*"([^"]+)"', write.group(1)) if write else []
    check(all(at_most(w, 10) for w in waits or ["1s"]),
          "Alloy ships within 10s (batch_wait <= 10s; default 1s)", f"{waits}")
    forwards = re.findall(r'forward_to\s*=\s*\[([^\]]*)\]', config)
    check(forwards and all(re.fullmatch(r"\s*(loki\.(process|write)\.[a-z_]+\.receiver\s*,?\s*)+", f) for f in forwards),
          "Alloy config: every forward_to names a loki.process/loki.write receiver")
    for ref in re.findall(r'loki\.(process|write)\.([a-z_]+)\.receiver', config):
        check(re.search(rf'^\s*loki\.{ref[0]}\s+"{ref[1]}"\s*{{', config, re.M) is not None,
              f"Alloy config: loki.{ref[0]}.{ref[1]} is declared")
    # loki.source.kubernetes keeps its read positions under --storage.path (alloy.storagePath,
    # chart default /tmp/alloy in the container's writable layer, lost when the container
    # restarts): it must be on a pod volume.
    storage = str(dig(alloy, "alloy", "storagePath", default="/tmp/alloy"))
    mounts = [m for m in dig(alloy, "alloy", "mounts", "extra", default=[]) or [] if isinstance(m, dict)]
    volumes = {v.get("name"): v for v in dig(alloy, "controller", "volumes", "extra", default=[]) or []
               if isinstance(v, dict)}
    holding = [m for m in mounts if m.get("mountPath")
               and (storage + "/").startswith(str(m["mountPath"]).rstrip("/") + "/")]
    volume = volumes.get(holding[0].get("name")) if holding else None
    check(volume is not None and ("emptyDir" in volume or "hostPath" in volume),
          f"Alloy's storage path {storage} (read positions) is on a pod volume (alloy.mounts.extra + "
          "controller.volumes.extra, emptyDir or hostPath), not in the container's writable layer",
          f"mounts {[m.get('mountPath') for m in mounts]}, volumes {sorted(volumes)}")

    # Promtail
    promtail = values.get("promtail", {})
    clients = dig(promtail, "config", "clients", default=[]) or []
    check([c.get("url") for c in clients] == [push_url], f"Promtail pushes to {push_url}",
          f"got {[c.get('url') for c in clients]}")
    check(all(isinstance(c, dict) and at_most(c.get("batchwait", "1s"), 10) for c in clients),
          "Promtail ships within 10s (batchwait <= 10s)", f"{[c.get('batchwait') for c in clients if isinstance(c, dict)]}")

    # Every ServiceMonitor interval the values set is <= 30 s.
    for release, data in values.items():
        for path, interval in intervals(data):
            check(at_most(interval, 30),
                  f"{release}: {path} <= 30s", str(interval))

    # Traefik
    traefik = values.get("traefik", {})
    check(dig(traefik, "ports", "web", "hostPort") == 80, "Traefik binds hostPort 80 (web)")
    check(dig(traefik, "ports", "websecure", "hostPort") == 443, "Traefik binds hostPort 443 (websecure)")
    check(dig(traefik, "nodeSelector", "ingress-ready") == "true", "Traefik on the node labelled ingress-ready=true")
    check(any(t.get("key") == "node-role.kubernetes.io/control-plane" for t in traefik.get("tolerations", [])),
          "Traefik tolerates the control-plane taint")
    check(dig(traefik, "ingressClass", "enabled") is True and dig(traefik, "ingressClass", "name") == "traefik"
          and dig(traefik, "ingressClass", "isDefaultClass") is True, "IngressClass `traefik`, the default class")
    check(dig(traefik, "service", "spec", "type") != "LoadBalancer",
          "Traefik Service is not a LoadBalancer (none on kind; helm --wait would hang)")
    check(dig(traefik, "updateStrategy", "rollingUpdate", "maxSurge") == 0,
          "Traefik rollout does not surge (a second pod could not bind the hostPorts)")
    check(dig(traefik, "deployment", "replicas") == 1, "one Traefik replica (hostPorts)")
    gateway = values.get("traefik-gateway-api", {})
    check(dig(gateway, "providers", "kubernetesGateway", "enabled") is True,
          "Gateway API overlay turns on Traefik's Gateway provider")
    listener_ports = [l.get("port") for l in (dig(gateway, "gateway", "listeners", default={}) or {}).values()]
    check(listener_ports and set(listener_ports) <= {dig(traefik, "ports", "web", "port"), dig(traefik, "ports", "websecure", "port")},
          "Gateway listeners use Traefik's entry-point ports", str(listener_ports))

    # CNPG
    cnpg = values.get("cnpg", {})
    check(dig(cnpg, "crds", "create", default=True) is True, "CNPG operator installs its CRDs")
    return loki_url, loki_service


def intervals(data, path=""):
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = f"{path}.{key}" if path else key
            if key == "interval" and isinstance(value, str) and value:
                found.append((here, value))
            found.extend(intervals(value, here))
    return found


# --- 3. the values' keys against the pinned charts -----------------------------------------------

sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the helper
import upstream_keys  # noqa: E402

# Keys of a Kubernetes API type, which charts pass into the pod spec as they are: below a key of
# this name that the chart has, any key is accepted (the API server checks them).
KUBERNETES_TYPED = {
    "resources": "core/v1 ResourceRequirements (requests, limits)",
    "securityContext": "core/v1 SecurityContext",
    "nodeSelector": "a node-label map",
}
# Chart by chart, the other subtrees where any key is accepted, and why. `*` is one level. Each
# must match an upstream path and be used by a values file, or the check fails.
OPEN_SUBTREES = {
    "kube-prometheus-stack": {
        "prometheus.prometheusSpec.storageSpec": "copied into the Prometheus resource: typed by the "
                                                 "Prometheus Operator's CRD (StorageSpec)",
    },
    "loki": {
        "loki.limits_config": "Loki's own limits_config block, rendered into Loki's config as it is",
        "loki.compactor": "Loki's own compactor block (upstream default {}), rendered into Loki's config",
        "loki.schemaConfig": "Loki's own schema_config block (upstream default {}), rendered into Loki's config",
        "loki.analytics": "Loki's own analytics block (upstream default {}), rendered into Loki's config",
    },
    "traefik": {
        "gateway.listeners.*.namespacePolicy": "a Gateway API FromNamespaces object (the chart's "
                                               "schema types it as an open object)",
    },
}
# Maps whose entries all take the same keys (the chart's values.schema.json says so): a key of
# one entry is valid when the chart has it in any entry.
SAME_SHAPE = {
    "traefik": {
        "ports": "entry points: ports.<name> all take the keys of ports.additionalProperties "
                 "(hostPort is only in the default `traefik` entry)",
    },
}
# crds/ directories of pinned charts whose CRDs k8s/bootstrap.sh does NOT apply, and why.
CRDS_NOT_APPLIED = {
    ("loki", "rollout_operator.crds"): "the rollout-operator subchart is off (rollout_operator.enabled "
                                       "is false upstream and not set in k8s/values/loki.yaml)",
}


def split_path(path):
    """Levels of an encoded dotted path (JSON-quoted levels may contain dots)."""
    return [json.loads(level) if level.startswith('"') else level
            for level in re.findall(r'"(?:[^"\\]|\\.)*"|[^.]+', path)]


def value_leaves(data, prefix=""):
    """Encoded paths of the leaves of a values tree (scalars, lists, empty mappings)."""
    found = []
    for key, value in data.items():
        here = upstream_keys.join(prefix, key)
        if isinstance(value, dict) and value:
            found.extend(value_leaves(value, here))
        else:
            found.append(here)
    return found


def load_key_list(path):
    """(chart, version, crds entries [(where, condition)], paths, deprecated paths)."""
    chart = version = None
    crds, paths, deprecated = [], set(), set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            header = re.fullmatch(r"# chart: (\S+) (\S+)", line)
            if header:
                chart, version = header.groups()
                continue
            crd = re.fullmatch(r"# crds: (\S+) condition=(\S+)", line)
            if crd:
                crds.append(crd.groups())
                continue
            if not line or line.startswith("#"):
                continue
            key, _, mark = line.partition(" ")
            paths.add(key)
            if mark == "deprecated":
                deprecated.add(key)
    return chart, version, crds, paths, deprecated


def matches(pattern, levels):
    """Whether the first len(pattern) levels match the pattern (`*` = any one level)."""
    return len(levels) >= len(pattern) and all(p in ("*", l) for p, l in zip(pattern, levels))


def key_lists(entries):
    """The key list of each pinned chart, by catalogue id; records the checks on the files."""
    lists = {}
    expected = set()
    for e in entries:
        if e["kind"] != "helm":
            continue
        name = f"{e['chart']}-{e['version']}.txt"
        expected.add(name)
        path = os.path.join(UPSTREAM_KEYS, name)
        if not check(os.path.isfile(path), f"{e['id']}: key list k8s/tests/upstream-keys/{name} for the pin",
                     f"missing: generate it from the chart at {e['version']} with k8s/tests/upstream_keys.py "
                     "(see k8s/README.md, Pinned versions)"):
            continue
        chart, version, crds, paths, deprecated = load_key_list(path)
        check((chart, version) == (e["chart"], e["version"]) and len(paths) > 10,
              f"{e['id']}: {name} is the key list of {e['chart']} {e['version']}",
              f"its header says {chart} {version}, {len(paths)} paths")
        lists[e["id"]] = {"paths": paths, "deprecated": deprecated, "crds": crds}
    present = set(os.listdir(UPSTREAM_KEYS)) if os.path.isdir(UPSTREAM_KEYS) else set()
    for stray in sorted(present - expected):
        check(False, f"k8s/tests/upstream-keys/{stray} belongs to a pin of k8s/addons.conf",
              "no pin uses it any more: delete it")
    return lists


def check_upstream_keys(entries, values, lists):
    by_release = {e["release"]: e for e in entries if e["kind"] == "helm"}
    used = set()
    for name, data in sorted(values.items()):
        release = OVERLAYS.get(name + ".yaml", name)
        e = by_release.get(release)
        if e is None or e["id"] not in lists:
            continue
        upstream = lists[e["id"]]
        chart = e["chart"]
        open_subtrees = {tuple(split_path(p)): p for p in OPEN_SUBTREES.get(chart, {})}
        same_shape = {tuple(split_path(p)): p for p in SAME_SHAPE.get(chart, {})}
        upstream_levels = [split_path(p) for p in upstream["paths"]]
        unknown, deprecated = [], []
        for leaf in value_leaves(data):
            levels = split_path(leaf)
            prefixes = [".".join(upstream_keys.encode(k) for k in levels[:n]) for n in range(1, len(levels) + 1)]
            deprecated += [p for p in prefixes if p in upstream["deprecated"]]
            if leaf in upstream["paths"]:
                continue
            # below a Kubernetes-typed key the chart has
            typed = next((levels[n] for n in range(len(levels) - 1)
                          if levels[n] in KUBERNETES_TYPED and prefixes[n] in upstream["paths"]), None)
            if typed:
                used.add((chart, "typed", typed))
                continue
            opened = next((p for pattern, p in open_subtrees.items() if matches(pattern, levels)), None)
            if opened:
                used.add((chart, "open", opened))
                continue
            shaped = None
            for pattern, p in same_shape.items():
                if matches(pattern, levels) and len(levels) > len(pattern) + 1:
                    rest = levels[len(pattern) + 1:]
                    if any(len(u) == len(levels) and matches(pattern, u) and u[len(pattern) + 1:] == rest
                           for u in upstream_levels):
                        shaped = p
            if shaped:
                used.add((chart, "shape", shaped))
                continue
            unknown.append(leaf)
        check(not unknown, f"k8s/values/{name}.yaml: every key exists in {chart} {e['version']} "
              "(or lies in an open subtree)", "unknown: " + ", ".join(unknown))
        check(not deprecated, f"k8s/values/{name}.yaml: no key {chart} {e['version']} marks deprecated",
              ", ".join(sorted(set(deprecated))))
    # Every exception must name a real upstream path and be needed (judged only when every pinned
    # chart has its key list: a missing one is already a failure).
    if any(e["kind"] == "helm" and e["id"] not in lists for e in entries):
        return
    for chart, subtrees in OPEN_SUBTREES.items():
        ids = [e["id"] for e in entries if e["chart"] == chart and e["id"] in lists]
        for p in subtrees:
            pattern = split_path(p)
            exists = any(len(u) == len(pattern) and matches(pattern, u)
                         for i in ids for u in map(split_path, lists[i]["paths"]))
            check(exists, f"open subtree {chart}: {p} is a key of the chart")
            check((chart, "open", p) in used, f"open subtree {chart}: {p} is used by a values file",
                  "drop it from OPEN_SUBTREES")
    for chart, maps in SAME_SHAPE.items():
        for p in maps:
            check((chart, "shape", p) in used, f"same-shape map {chart}: {p} is used by a values file",
                  "drop it from SAME_SHAPE")
    typed_used = sorted({k for c, kind, k in used if kind == "typed"})
    check(set(typed_used) == set(KUBERNETES_TYPED), f"Kubernetes-typed keys used: {', '.join(typed_used)}",
          f"unused in KUBERNETES_TYPED: {sorted(set(KUBERNETES_TYPED) - set(typed_used))}")


def check_crd_charts(entries, lists, values):
    """bootstrap.sh's CRD_CHARTS equals the pinned charts that ship crds/ (minus justified ones)."""
    with open(BOOTSTRAP, encoding="utf-8") as f:
        found = re.search(r'^readonly CRD_CHARTS="([^"]*)"', f.read(), re.M)
    declared = set(found.group(1).split()) if found else set()
    check(found is not None, "bootstrap.sh declares CRD_CHARTS")
    if any(e["kind"] == "helm" and e["id"] not in lists for e in entries):
        return declared  # a key list is missing (a failure already): nothing to compare with
    wanted = set()
    for i, upstream in sorted(lists.items()):
        for where, condition in upstream["crds"]:
            if (i, where) in CRDS_NOT_APPLIED:
                release = next(e["release"] for e in entries if e["id"] == i)
                switch = condition.split("&")[0].split(",")[0]
                on = dig(values.get(release, {}), *split_path(switch)) if switch != "-" else True
                check(where != "." and on is not True,
                      f"{i}: crds/ of subchart {where} not applied: {CRDS_NOT_APPLIED[(i, where)]}",
                      f"condition {condition}; k8s/values/{release}.yaml sets {switch}: {on}")
                continue
            wanted.add(i)
    check(declared == wanted, f"bootstrap.sh applies the crds/ of exactly the charts that ship them: {' '.join(sorted(wanted))}",
          f"CRD_CHARTS is {sorted(declared)}")
    return declared


# --- 4. the README table ------------------------------------------------------------------------

def readme_table(entries):
    rows = ["| Add-on | Release | Namespace | Chart (repository) | Version | App version | Installed | Confirmed in |",
            "|---|---|---|---|---|---|---|---|"]
    for e in entries:
        if e["kind"] == "helm":
            chart = f"`{e['repo']}/{e['chart']}` ({e['repo_url']})"
        else:
            chart = f"`{e['chart']}` ({e['repo_url']}/{e['version']}/{e['chart']})"
        installed = {"always": "always", "alloy": "default log shipper", "promtail": "`--log-shipper promtail`",
                     "gateway-api": "`--gateway-api`"}[e["when"]]
        release = "-" if e["release"] == "-" else f"`{e['release']}`"
        namespace = "-" if e["namespace"] == "-" else f"`{e['namespace']}`"
        rows.append(f"| {e['id']} | {release} | {namespace} | {chart} | {e['version']} | {e['app']} | "
                    f"{installed} | {e['confirmed']} |")
    return "\n".join(rows)


def check_readme(entries, fix):
    with open(README, encoding="utf-8") as f:
        text = f.read()
    pattern = re.compile(re.escape(TABLE_BEGIN) + r"\n(.*?)\n" + re.escape(TABLE_END), re.S)
    found = pattern.search(text)
    if not check(found is not None, "k8s/README.md has the generated versions table markers"):
        return
    table = readme_table(entries)
    if fix and found.group(1) != table:
        text = text[:found.start(1)] + table + text[found.end(1):]
        with open(README, "w", encoding="utf-8") as f:
            f.write(text)
        print("  fixed k8s/README.md versions table")
        found = pattern.search(text)
    check(found.group(1) == table, "k8s/README.md versions table equals k8s/addons.conf",
          "run: .roost/tools/k8s-venv/bin/python k8s/tests/check.py --fix-readme")
    for e in entries:
        # Anywhere else in the README a version would drift: it must only be in the table.
        outside = text.replace(found.group(0), "")
        check(not re.search(rf"(?<![\d.]){re.escape(e['version'])}(?![\d.])", outside),
              f"k8s/README.md mentions {e['id']} {e['version']} only in the generated table")


# --- 5. bootstrap.sh against stubs --------------------------------------------------------------

# The flag that names the kubeconfig context, per tool.
CONTEXT_FLAG = {"helm": "--kube-context", "kubectl": "--context"}


def without_context(call):
    """(the call without its context flags, the contexts it named)."""
    name = CONTEXT_FLAG.get(call[0])
    kept, contexts, i = [call[0]], [], 1
    while i < len(call):
        if call[i] == name and i + 1 < len(call):
            contexts.append(call[i + 1])
            i += 2
            continue
        if name and call[i].startswith(name + "="):
            contexts.append(call[i].split("=", 1)[1])
        else:
            kept.append(call[i])
        i += 1
    return kept, contexts


class Run:
    """One bootstrap.sh run: `raw` are the calls as made, `calls` the same without the context
    flags (`contexts` holds what each named), `applied` what each `kubectl apply -f -` read."""

    def __init__(self, returncode, stdout, stderr, raw, applied, state):
        self.returncode, self.stdout, self.stderr, self.raw, self.applied, self.state = (
            returncode, stdout, stderr, raw, applied, state)
        pairs = [without_context(c) for c in raw]
        self.calls = [c for c, _ in pairs]
        self.contexts = [x for _, x in pairs]

    def helm(self, *prefix):
        return [c[1:] for c in self.calls if c[0] == "helm" and tuple(c[1:1 + len(prefix)]) == prefix]

    def kubectl(self, *prefix):
        return [c[1:] for c in self.calls if c[0] == "kubectl" and tuple(c[1:1 + len(prefix)]) == prefix]

    def index(self, tool, *prefix):
        """Position of the first call of `tool` starting with prefix (None if absent)."""
        for n, c in enumerate(self.calls):
            if c[0] == tool and tuple(c[1:1 + len(prefix)]) == prefix:
                return n
        return None

    def installs(self):
        return [a[2] for a in self.helm("upgrade", "--install")]

    def secrets(self):
        root = os.path.join(self.state, "secrets")
        result = {}
        for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            result[name] = {k: open(os.path.join(root, name, k), encoding="utf-8").read()
                            for k in sorted(os.listdir(os.path.join(root, name)))}
        return result


def default_signals():
    """Gives the child the default SIGINT and SIGHUP, as a terminal session has: a shell that
    starts with a signal ignored (under nohup, or as a background job of a script) can never
    trap it, and the signal checks below would test nothing."""
    for number in (signals.SIGINT, signals.SIGHUP):
        signals.signal(number, signals.SIG_DFL)


def run_bootstrap(state, args, env_extra=None, without=()):
    """Runs bootstrap.sh with the stubs first on PATH (a copy without the tools in `without`)."""
    bindir = os.path.join(state, "bin")
    shutil.rmtree(bindir, ignore_errors=True)
    os.makedirs(bindir)
    for tool in ("helm", "kubectl"):
        if tool not in without:
            shutil.copy2(os.path.join(STUBS, tool), os.path.join(bindir, tool))
    for name in ("calls", "applied"):
        open(os.path.join(state, name), "w").close()
    tmp = os.path.join(state, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    env = {"PATH": f"{bindir}:{SYSTEM_PATH}", "HOME": state, "STUB_STATE": state, "LANG": "C.UTF-8",
           "TMPDIR": tmp}
    env.update(env_extra or {})
    done = subprocess.run(["bash", BOOTSTRAP, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, preexec_fn=default_signals)
    with open(os.path.join(state, "calls"), encoding="utf-8") as f:
        calls = [record.split("\x1f") for record in f.read().split("\x1e") if record]
    with open(os.path.join(state, "applied"), encoding="utf-8") as f:
        applied = [record for record in f.read().split("\x1e") if record]
    return Run(done.returncode, done.stdout, done.stderr, calls, applied, state)


def flag(args, name):
    return [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]


def check_installs(run, entries, expected_ids, label):
    by_id = {e["id"]: e for e in entries}
    expected = [by_id[i]["release"] for i in expected_ids]
    check(run.installs() == expected, f"{label}: helm upgrade --install, in order: {' '.join(expected)}",
          f"got {run.installs()}")
    for args in run.helm("upgrade", "--install"):
        release = args[2]
        e = next((x for x in entries if x["release"] == release and x["kind"] == "helm"), None)
        if not check(e is not None, f"{label}: {release} is a catalogue release"):
            continue
        check(args[3] == f"{e['repo']}/{e['chart']}", f"{label}: {release} chart {e['repo']}/{e['chart']}", args[3])
        check(flag(args, "--version") == [e["version"]], f"{label}: {release} --version {e['version']} (the pin)",
              f"got {flag(args, '--version')}")
        check(flag(args, "--namespace") == [e["namespace"]], f"{label}: {release} --namespace {e['namespace']}",
              f"got {flag(args, '--namespace')}")
        check("--create-namespace" in args, f"{label}: {release} --create-namespace")
        check("--wait" in args, f"{label}: {release} --wait")
        files = flag(args, "-f")
        own = os.path.join(VALUES, release + ".yaml")
        check(bool(files) and os.path.realpath(files[0]) == os.path.realpath(own) and os.path.isfile(files[0]),
              f"{label}: {release} -f k8s/values/{release}.yaml (exists)", f"got {files}")
        for extra in files[1:]:
            check(os.path.isfile(extra) and OVERLAYS.get(os.path.basename(extra)) == release,
                  f"{label}: {release} overlay {os.path.basename(extra)} exists and is {release}'s")


def check_portable_flags(run, label):
    for raw, call in zip(run.raw, run.calls):
        if raw[0] != "helm":
            continue
        used = {a.split("=")[0] for a in raw[1:] if a.startswith("-")}
        odd = used - PORTABLE_HELM_FLAGS
        check(not odd, f"{label}: helm {call[1]} uses only flags common to Helm 3 and 4", f"{sorted(odd)}")


def check_contexts(run, label, context):
    """The context is read once, first; every other call names it."""
    check(bool(run.raw) and run.raw[0][:3] == ["kubectl", "config", "current-context"],
          f"{label}: the context is read first (kubectl config current-context)",
          f"first call: {run.raw[0][:3] if run.raw else None}")
    stray = []
    for raw, named in zip(run.raw, run.contexts):
        reading = raw[:3] == ["kubectl", "config", "current-context"]
        if named != ([] if reading else [context]):
            stray.append(f"{' '.join(raw[:4])} (context {named})")
    check(not stray, f"{label}: every other helm/kubectl call names context {context} "
          "(--kube-context / --context)", "; ".join(stray[:5]))


def check_crds(run, entries, installed_ids, crd_ids, label):
    """`helm show crds` of the pin piped into `kubectl apply --server-side` right before each
    release whose chart ships crds/, and for no other."""
    by_id = {e["id"]: e for e in entries}
    wanted = [i for i in installed_ids if i in crd_ids]
    shown = [c[3] for c in run.calls if c[:3] == ["helm", "show", "crds"]]
    check(shown == [f"{by_id[i]['repo']}/{by_id[i]['chart']}" for i in wanted],
          f"{label}: helm show crds for {', '.join(wanted) or 'nothing'}", f"got {shown}")
    installs = [n for n, c in enumerate(run.calls) if c[:3] == ["helm", "upgrade", "--install"]]
    for i in wanted:
        e = by_id[i]
        at = next((n for n in installs if run.calls[n][3] == e["release"]), None)
        if not check(at is not None, f"{label}: {i} installed"):
            continue
        since = max([n for n in installs if n < at], default=-1)
        window = run.calls[since + 1:at]
        show = [c for c in window if c[:4] == ["helm", "show", "crds", f"{e['repo']}/{e['chart']}"]]
        apply = [c for c in window if c[:2] == ["kubectl", "apply"] and flag(c, "-f") == ["-"]]
        check(len(show) == 1 and flag(show[0], "--version") == [e["version"]],
              f"{label}: {i}: helm show crds {e['repo']}/{e['chart']} --version {e['version']} before its install",
              f"got {show}")
        check(len(apply) == 1 and "--server-side" in apply[0] and "--force-conflicts" in apply[0],
              f"{label}: {i}: its CRDs piped into kubectl apply --server-side --force-conflicts -f - before the install",
              f"got {apply}")
    names = sorted(re.findall(r"name: (\S+)\.stub\.example\.com", "\n".join(run.applied)))
    check(names == sorted(by_id[i]["chart"] for i in wanted),
          f"{label}: kubectl received the CRDs of {', '.join(wanted) or 'no chart'}", f"got {names}")


def check_repos(run, entries, expected_ids, label):
    by_id = {e["id"]: e for e in entries}
    first_install = run.index("helm", "upgrade", "--install")
    for i in expected_ids:
        e = by_id[i]
        if e["kind"] != "helm":
            continue
        adds = [n for n, c in enumerate(run.calls) if c[:4] == ["helm", "repo", "add", e["repo"]]]
        check(any(run.calls[n][4] == e["repo_url"] for n in adds), f"{label}: helm repo add {e['repo']} {e['repo_url']}")
        check(bool(adds) and first_install is not None and adds[0] < first_install,
              f"{label}: repo {e['repo']} added before the first install")
    update = run.index("helm", "repo", "update")
    check(update is not None and first_install is not None and update < first_install,
          f"{label}: helm repo update before installing")


def check_fresh_roost(run, label):
    last_install = max((n for n, c in enumerate(run.calls) if c[:3] == ["helm", "upgrade", "--install"]), default=-1)
    create_ns = run.index("kubectl", "create", "namespace", "roost")
    check(create_ns is not None and create_ns > last_install, f"{label}: namespace roost made after the add-ons")
    labels = run.kubectl("label", "namespace", "roost")
    flat = [a for call in labels for a in call]
    check("pod-security.kubernetes.io/enforce=restricted" in flat, f"{label}: roost labelled pod-security enforce=restricted")
    check("--overwrite" in flat, f"{label}: the label is applied with --overwrite (re-runs)")
    secrets = run.secrets()
    check(set(secrets) == {"roost_roost-secrets", "roost_roost-redis"},
          f"{label}: Secrets roost/roost-secrets and roost/roost-redis created", f"got {sorted(secrets)}")
    app = secrets.get("roost_roost-secrets", {})
    redis = secrets.get("roost_roost-redis", {})
    check(set(app) == {"jwt-secret", "admin-token"}, f"{label}: roost-secrets has keys jwt-secret, admin-token", str(sorted(app)))
    check(len(app.get("jwt-secret", "")) >= 32 and "\n" not in app.get("jwt-secret", "\n"),
          f"{label}: jwt-secret has >= 32 characters, no newline")
    check(len(app.get("admin-token", "")) >= 16 and "\n" not in app.get("admin-token", "\n"),
          f"{label}: admin-token set, no newline")
    check(set(redis) == {"password", "url"}, f"{label}: roost-redis has keys password, url", str(sorted(redis)))
    password = redis.get("password", "")
    check(re.fullmatch(r"[A-Za-z0-9_-]{16,}", password) is not None,
          f"{label}: Redis password of letters, digits, - and _ only (>= 16)")
    check(redis.get("url") == f"redis://:{password}@roost-redis:6379/0",
          f"{label}: url = redis://:<password>@roost-redis:6379/0")
    secret_values = [v for s in secrets.values() for v in s.values() if v]
    check(not any(v in arg for call in run.calls for arg in call for v in secret_values),
          f"{label}: no secret value on any command line")
    check(not any(v in run.stdout or v in run.stderr for v in secret_values), f"{label}: no secret value printed")


def check_bootstrap(entries, loki_service, crd_ids):
    by_id = {e["id"]: e for e in entries}
    gw = by_id["gateway-api"]
    gateway_url = f"{gw['repo_url']}/{gw['version']}/{gw['chart']}"
    default_ids = [e["id"] for e in entries if e["when"] in ("always", "alloy")]
    promtail_ids = [e["id"] for e in entries if e["when"] in ("always", "promtail")]
    kps = by_id["kube-prometheus-stack"]
    with tempfile.TemporaryDirectory(prefix="roost-k8s-check-") as tmp:
        state = os.path.join(tmp, "cluster")
        os.makedirs(state)

        # 1. a fresh cluster, default options
        run = run_bootstrap(state, [])
        label = "fresh run"
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        check_installs(run, entries, default_ids, label)
        check_repos(run, entries, default_ids, label)
        check_portable_flags(run, label)
        check_contexts(run, label, "kind-roost")
        check_crds(run, entries, default_ids, crd_ids, label)
        check(not run.helm("uninstall"), f"{label}: nothing uninstalled (no other shipper installed)")
        check(not [c for c in run.kubectl("apply") if flag(c, "-f") == [gateway_url]],
              f"{label}: no Gateway API CRDs without --gateway-api")
        check_fresh_roost(run, label)
        for needle in (f"port-forward svc/{kps['release']}-grafana 3000:80",
                       f"get secret {kps['release']}-grafana -o jsonpath='{{.data.admin-password}}'",
                       f"port-forward svc/{kps['release']}-prometheus 9090:9090",
                       f"port-forward svc/{loki_service} 3100:3100",
                       "get secret roost-secrets -o jsonpath='{.data.admin-token}'"):
            check(needle in run.stdout, f"{label}: prints `{needle}`")
        first_secrets = run.secrets()

        # 2. the same cluster again: idempotent, Secrets untouched
        run = run_bootstrap(state, [])
        label = "second run"
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        check_installs(run, entries, default_ids, label)
        check(not run.kubectl("create", "secret"), f"{label}: no Secret created when both exist")
        check(len(run.kubectl("get", "secret")) == 2, f"{label}: both Secrets looked up")
        check(run.secrets() == first_secrets, f"{label}: existing Secrets unchanged")
        check(not run.helm("uninstall"), f"{label}: nothing uninstalled")
        check_crds(run, entries, default_ids, crd_ids, label)  # again: Helm never upgrades crds/

        # 3. switch to Promtail: Alloy goes first
        run = run_bootstrap(state, ["--log-shipper", "promtail"])
        label = "--log-shipper promtail"
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        check_installs(run, entries, promtail_ids, label)
        check_contexts(run, label, "kind-roost")
        check_crds(run, entries, promtail_ids, crd_ids, label)
        uninstall = run.index("helm", "uninstall", by_id["alloy"]["release"])
        promtail_at = next((n for n, c in enumerate(run.calls) if c[:4] == ["helm", "upgrade", "--install", "promtail"]), None)
        check(uninstall is not None and flag(run.calls[uninstall], "--namespace") == [by_id["alloy"]["namespace"]],
              f"{label}: helm uninstall alloy --namespace monitoring")
        check(uninstall is not None and promtail_at is not None and uninstall < promtail_at,
              f"{label}: Alloy uninstalled before Promtail is installed")
        check(not os.path.exists(os.path.join(state, "releases", "monitoring_alloy")) and
              os.path.exists(os.path.join(state, "releases", "monitoring_promtail")),
              f"{label}: afterwards Promtail is installed and Alloy is not")
        check(not run.kubectl("create", "secret"), f"{label}: no Secret created (they exist)")

        # 4. and back to Alloy (--log-shipper=alloy form)
        run = run_bootstrap(state, ["--log-shipper=alloy"])
        label = "back to --log-shipper=alloy"
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        check_installs(run, entries, default_ids, label)
        uninstall = run.index("helm", "uninstall", "promtail")
        alloy_at = next((n for n, c in enumerate(run.calls) if c[:4] == ["helm", "upgrade", "--install", "alloy"]), None)
        check(uninstall is not None and alloy_at is not None and uninstall < alloy_at,
              f"{label}: Promtail uninstalled before Alloy is installed")

        # 5. --skip
        run = run_bootstrap(state, ["--skip", "loki", "--skip", "log-shipper", "--skip=roost"])
        label = "--skip loki --skip log-shipper --skip=roost"
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        check_installs(run, entries, [i for i in default_ids if i not in ("loki", "alloy")], label)
        check_crds(run, entries, [i for i in default_ids if i not in ("loki", "alloy")], crd_ids, label)
        check(not run.helm("uninstall"), f"{label}: no shipper uninstalled")
        check(not run.kubectl("create") and not run.kubectl("label"), f"{label}: roost namespace and Secrets left alone")

        # 6. --gateway-api on another fresh cluster
        state2 = os.path.join(tmp, "cluster-gateway")
        os.makedirs(state2)
        run = run_bootstrap(state2, ["--gateway-api"])
        label = "--gateway-api"
        url = gateway_url
        check(run.returncode == 0, f"{label}: exits 0", run.stderr[-800:])
        applies = [n for n, c in enumerate(run.calls) if c[:2] == ["kubectl", "apply"] and flag(c, "-f") == [url]]
        traefik_at = next((n for n, c in enumerate(run.calls) if c[:4] == ["helm", "upgrade", "--install", "traefik"]), None)
        check(len(applies) == 1 and "--server-side" in run.calls[applies[0]],
              f"{label}: kubectl apply --server-side -f {url}")
        check(applies and traefik_at is not None and applies[0] < traefik_at, f"{label}: CRDs applied before Traefik")
        traefik = run.helm("upgrade", "--install", "traefik")
        check(traefik and [os.path.basename(f) for f in flag(traefik[0], "-f")] == ["traefik.yaml", "traefik-gateway-api.yaml"],
              f"{label}: Traefik with -f traefik.yaml -f traefik-gateway-api.yaml")
        check_installs(run, entries, default_ids, label)
        check_contexts(run, label, "kind-roost")
        check_fresh_roost(run, label)

        # 7. the wrong cluster, or none
        state3 = os.path.join(tmp, "cluster-other")
        os.makedirs(state3)
        run = run_bootstrap(state3, [], {"STUB_CONTEXT": "prod-eu"})
        check(run.returncode != 0 and not run.helm("upgrade") and not run.kubectl("create"),
              "context prod-eu: refused, nothing installed")
        check("--any-context" in run.stderr, "context prod-eu: the message names --any-context")
        run = run_bootstrap(state3, [], {"STUB_CONTEXT": ""})
        check(run.returncode != 0 and not run.helm("upgrade"), "no current context: refused, nothing installed")
        run = run_bootstrap(state3, ["--any-context", "--skip", "roost"], {"STUB_CONTEXT": "prod-eu"})
        check(run.returncode == 0 and run.installs(), "context prod-eu with --any-context: installs")
        check_contexts(run, "context prod-eu with --any-context", "prod-eu")

        # 8. Helm 3 gets the same commands
        state4 = os.path.join(tmp, "cluster-helm3")
        os.makedirs(state4)
        run = run_bootstrap(state4, [], {"STUB_HELM_VERSION": "v3.19.0"})
        check(run.returncode == 0, "helm v3.19.0: exits 0", run.stderr[-800:])
        check_installs(run, entries, default_ids, "helm v3.19.0")
        check_contexts(run, "helm v3.19.0", "kind-roost")
        for version in ("v3.8.0", "v3.10.1", "v4.0.0"):
            run = run_bootstrap(state4, ["--skip", "roost"], {"STUB_HELM_VERSION": version})
            check(run.returncode == 0 and run.installs(), f"helm {version}: accepted", run.stderr[-300:])
        for version in ("v2.17.0", "v3.7.2", "v3.0.0", "garbage"):
            run = run_bootstrap(state4, [], {"STUB_HELM_VERSION": version})
            check(run.returncode != 0 and not run.helm("upgrade") and "v3.8" in run.stderr,
                  f"helm {version}: refused (Helm 4, or Helm 3 from v3.8)", run.stderr[-300:])

        # 9. helm missing
        if shutil.which("helm", path=SYSTEM_PATH) is None:
            run = run_bootstrap(state4, [], without=("helm",))
            check(run.returncode != 0 and "scripts/k8s-tools.sh" in run.stderr,
                  "helm missing: exits non-zero and points at scripts/k8s-tools.sh", run.stderr[-300:])
        else:
            print("  skip helm-missing scenario: a helm is installed in " + SYSTEM_PATH)

        # 10. a release that fails stops the run
        state5 = os.path.join(tmp, "cluster-failing")
        os.makedirs(state5)
        run = run_bootstrap(state5, [], {"STUB_FAIL_RELEASE": "loki"})
        check(run.returncode != 0, "loki fails: bootstrap exits non-zero")
        check(run.installs() == ["cnpg", "kube-prometheus-stack", "loki"] and not run.kubectl("create"),
              "loki fails: nothing after it is installed, no Secret created", f"got {run.installs()}")

        # 11. no node for Traefik's hostPorts: stop before installing it
        state6 = os.path.join(tmp, "cluster-no-ingress-node")
        os.makedirs(state6)
        run = run_bootstrap(state6, [], {"STUB_NO_INGRESS_NODE": "1"})
        check(run.returncode != 0 and "traefik" not in run.installs() and "ingress-ready=true" in run.stderr,
              "no node labelled ingress-ready=true: stops before Traefik and says why", f"got {run.installs()}")
        check(run.kubectl("get", "nodes"), "the ingress-ready node is looked up before Traefik")

        # 11b. the API server stops answering before Traefik: kubectl's error, not "no node"
        run = run_bootstrap(state6, [], {"STUB_API_DOWN": "1"})
        check(run.returncode != 0 and "traefik" not in run.installs() and "no node is labelled" not in run.stderr
              and "connection to the server" in run.stderr,
              "API server unreachable at the node lookup: stops with kubectl's error, not 'no node labelled'",
              run.stderr[-400:])

        # 11c. a chart's CRDs cannot be read: stop before installing it
        run = run_bootstrap(state6, [], {"STUB_FAIL_SHOW_CRDS": "traefik"})
        check(run.returncode != 0 and "traefik" not in run.installs() and not run.kubectl("create", "secret"),
              "helm show crds traefik fails: stops before Traefik (pipefail), no Secret created", f"got {run.installs()}")

        # 11d. a signal while the Secrets' files exist: the private directory is removed
        for signal in ("TERM", "HUP", "INT"):
            state7 = os.path.join(tmp, f"cluster-signal-{signal}")
            os.makedirs(state7)
            run = run_bootstrap(state7, [], {"STUB_SIGNAL_ON_SECRET": signal})
            left = os.listdir(os.path.join(state7, "tmp"))
            check(run.returncode != 0 and not left,
                  f"SIG{signal} while the Secrets are created: exits non-zero, temporary directory removed",
                  f"exit {run.returncode}, left in TMPDIR: {left}")

        # 12. bad arguments
        for args in (["--log-shipper", "fluentd"], ["--skip", "nginx"], ["--frobnicate"], ["--log-shipper"]):
            run = run_bootstrap(state5, args)
            check(run.returncode != 0 and not run.helm("upgrade"), f"`bootstrap.sh {' '.join(args)}` is refused")


def main():
    fix = "--fix-readme" in sys.argv[1:]
    entries = load_catalogue()
    start = len(checked)
    section("catalogue k8s/addons.conf")
    check_catalogue(entries)
    report_section(start)
    if failures:
        return finish()

    start = len(checked)
    section("values files k8s/values/*.yaml")
    values = load_values()
    _, loki_service = check_values(entries, values)
    report_section(start)

    start = len(checked)
    section("values keys against the pinned charts (k8s/tests/upstream-keys)")
    lists = key_lists(entries)
    check_upstream_keys(entries, values, lists)
    crd_ids = check_crd_charts(entries, lists, values)
    report_section(start)

    start = len(checked)
    section("k8s/README.md")
    check_readme(entries, fix)
    report_section(start)

    start = len(checked)
    section("k8s/bootstrap.sh with stub helm and kubectl (real openssl)")
    check_bootstrap(entries, loki_service, crd_ids)
    report_section(start)
    return finish()


def finish():
    if failures:
        print(f"\nFAILED: {len(failures)} check(s):", file=sys.stderr)
        for failure in failures:
            print(f"  FAIL {failure}", file=sys.stderr)
        return 1
    print(f"\nall {len(checked)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
