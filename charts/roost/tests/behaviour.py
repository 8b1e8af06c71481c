"""Chart behaviour over `helm template` output (scripts/k8s-check.sh runs it per profile).

Checks what a reviewer would otherwise read the templates for:
- every container, init container and hook container has the restricted security context;
- every credential reaches the binaries as a file from a Secret (`*_FILE`), never as a value;
- the CA secret, when used, is mounted with `ca.crt` only (never a key);
- the startup probes outlast the binaries' wait for the database;
- in `hook` mode the migration Job runs before install and upgrade; in `initContainer` mode
  the API migrates before it starts and there is no Job;
- every NetworkPolicy selects pods the chart creates (or the CNPG cluster's instances);
- no pod mounts a service account token, except the API's with `doctor.rbac.create`, whose
  own account is then bound to read-only rules (get/list; Secrets only by name, never the CA's)
  that cover every request the doctor makes; no egress to 443/6443 without a peer.

Usage: python behaviour.py RENDERED.yaml PROFILE
"""

import os
import sys

import yaml

CREDENTIALS = {"ROOST_DATABASE_URL", "ROOST_REDIS_URL", "ROOST_JWT_SECRET", "ROOST_ADMIN_TOKEN"}
# What each of Roost's containers needs, and no more (least privilege).
NEEDS = {
    "api": {"ROOST_DATABASE_URL", "ROOST_REDIS_URL", "ROOST_JWT_SECRET"},
    "ingest": {"ROOST_DATABASE_URL", "ROOST_REDIS_URL"},
    "migrate": {"ROOST_DATABASE_URL"},
}
# The requests `roost-api doctor` makes: (API group, resource, verb, Role or ClusterRole), from
# doctor-requests.txt (which the doctor's own tests hold it to).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "doctor-requests.txt"), encoding="utf-8") as f:
    DOCTOR_REQUESTS = [
        ("" if group == "core" else group, resource, verb, scope)
        for group, resource, verb, scope in (line.split() for line in f if line.strip() and not line.startswith("#"))
    ]
# The keys KEDA's redis-streams scaler reads (keda.sh/docs/scalers/redis-streams).
KEDA_REDIS_STREAMS = {"address", "stream", "consumerGroup", "lagCount"}
RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "privileged": False,
}


def pod_specs(objects):
    for obj in objects:
        kind = obj["kind"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            yield obj, obj["spec"]["template"]["spec"], obj["spec"]["template"]["metadata"]["labels"]
        elif kind == "Pod":
            yield obj, obj["spec"], obj["metadata"].get("labels", {})


def ca_secret(objects):
    """The Secret whose `ca.crt` the pods mount (PGSSLROOTCERT's volume), or None."""
    for _, spec, _ in pod_specs(objects):
        for volume in spec.get("volumes", []):
            secret = volume.get("secret", {})
            if [item["key"] for item in secret.get("items", [])] == ["ca.crt"]:
                return secret["secretName"]
    return None


def check(objects, profile):
    failures = []

    def fail(message):
        failures.append(f"{profile}: {message}")

    pods = list(pod_specs(objects))
    if not pods:
        fail("no pods rendered")
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole")]
    granted = set()
    for role in roles:
        for rule in role["rules"]:
            if not set(rule["verbs"]) <= {"get", "list"}:
                fail(f'{role["kind"]}/{role["metadata"]["name"]} may {rule["verbs"]}: the doctor only reads')
            if "secrets" in rule["resources"] and (rule["verbs"] != ["get"] or not rule.get("resourceNames")):
                fail(f'{role["kind"]}/{role["metadata"]["name"]} reads Secrets beyond get by name')
            for name in rule.get("resourceNames", []):
                if name.endswith("-ca") or name == ca_secret(objects):
                    fail(f'{role["kind"]}/{role["metadata"]["name"]} may read {name}, which holds a CA key')
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        granted.add((group, resource, verb, role["kind"]))
    if roles:
        for group, resource, verb, scope in DOCTOR_REQUESTS:
            if (group, resource, verb, scope) not in granted:
                fail(f"the doctor needs {verb} on {resource}.{group or 'core'} ({scope}) and has no rule for it")
        api_accounts = {spec.get("serviceAccountName") for _, spec, labels in pod_specs(objects)
                        if labels.get("app.kubernetes.io/component") == "api"}
        for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            for subject in binding["subjects"]:
                if subject["name"] == "default" or subject["name"] not in api_accounts:
                    fail(f'{binding["kind"]}/{binding["metadata"]["name"]} binds {subject["name"]}, not the API pods\' own account')
        others = {spec.get("serviceAccountName") for _, spec, labels in pod_specs(objects)
                  if labels.get("app.kubernetes.io/component") != "api"}
        if api_accounts & others:
            fail(f"the doctor's account {api_accounts & others} is shared with other pods")
    for obj, spec, labels in pods:
        name = f'{obj["kind"]}/{obj["metadata"]["name"]}'
        doctor = labels.get("app.kubernetes.io/component") == "api" and obj["kind"] == "Deployment" and roles
        if spec.get("automountServiceAccountToken") is not False and not doctor:
            fail(f"{name} mounts a service account token")
        pod_ctx = spec.get("securityContext", {})
        if pod_ctx.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            fail(f"{name}: pod seccompProfile is not RuntimeDefault")
        for container in spec.get("initContainers", []) + spec["containers"]:
            where = f'{name} container {container["name"]}'
            ctx = container.get("securityContext", {})
            for key, want in RESTRICTED.items():
                if ctx.get(key) != want:
                    fail(f"{where}: securityContext.{key} is {ctx.get(key)!r}, want {want!r}")
            if ctx.get("capabilities", {}).get("drop") != ["ALL"]:
                fail(f"{where}: capabilities are not dropped (ALL)")
            if not container.get("resources", {}).get("limits", {}).get("memory"):
                fail(f"{where}: no memory limit")
            env = {e["name"]: e for e in container.get("env", [])}
            component = obj["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            # Roost's own pods read credentials from files; the test pod talks HTTP only, and
            # Redis takes its password from the Secret in its own way.
            role = container["name"] if container["name"] in NEEDS else None
            for credential in CREDENTIALS:
                if credential in env:
                    fail(f"{where}: {credential} is given as a value, not as a file")
                wanted = role is not None and credential in NEEDS[role]
                if wanted and f"{credential}_FILE" not in env:
                    fail(f"{where}: {credential}_FILE is not set")
                if role is not None and not wanted and credential != "ROOST_ADMIN_TOKEN" and (
                    f"{credential}_FILE" in env
                ):
                    fail(f"{where}: gets {credential}, which it does not need")
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
            for credential in CREDENTIALS:
                path = env.get(f"{credential}_FILE", {}).get("value")
                if not path:
                    continue
                directory, _, key = path.rpartition("/")
                secret = mounts.get(directory, {}).get("secret")
                if not secret or key not in [i["path"] for i in secret.get("items", [])]:
                    fail(f"{where}: {credential}_FILE ({path}) is not a key of a mounted Secret")
        for volume in spec.get("volumes", []):
            secret = volume.get("secret")
            if secret and volume["name"] == "postgres-ca":
                keys = [item["key"] for item in secret.get("items", [])]
                if keys != ["ca.crt"]:
                    fail(f"{name}: the CA secret mounts {keys}, want ca.crt only")
            if secret and not secret.get("items"):
                fail(f"{name}: secret {secret['secretName']} is mounted whole, not key by key")

    jobs = [o for o in objects if o["kind"] == "Job" and o["metadata"]["name"].endswith("-migrate")]
    api = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"].endswith("-api"))
    init = api["spec"]["template"]["spec"].get("initContainers", [])
    # Exactly one way to migrate: a hook Job that runs before install and upgrade, or an init
    # container on every API pod (a CNPG cluster of the release does not exist at pre-install).
    cnpg = any(o["kind"] == "Cluster" for o in objects)
    if jobs and init or not jobs and not init:
        fail("migrations: want either a hook Job or an init container, not both or neither")
    elif jobs:
        if cnpg:
            fail("a pre-install migration hook cannot reach a CNPG cluster of the same release")
        hooks = jobs[0]["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        if set(hooks.split(",")) != {"pre-install", "pre-upgrade"}:
            fail(f"the migration Job's hook is {hooks!r}, want pre-install,pre-upgrade")
    elif [c["args"] for c in init] != [["migrate"]]:
        fail("the API's init container should run `migrate`")
    if cnpg:
        for _, spec, labels in pods:
            if labels.get("app.kubernetes.io/component") not in ("api", "ingest"):
                continue
            env = {e["name"]: e.get("value") for c in spec["containers"] for e in c.get("env", [])}
            if env.get("PGSSLMODE") != "verify-full" or not env.get("PGSSLROOTCERT"):
                fail("with a CNPG cluster, PostgreSQL must be verify-full against its CA")

    for obj in objects:
        if obj["kind"] == "ScaledObject":
            for trigger in obj["spec"]["triggers"]:
                if trigger["type"] == "redis-streams" and set(trigger["metadata"]) != KEDA_REDIS_STREAMS:
                    fail(f"KEDA trigger keys {sorted(trigger['metadata'])}, want {sorted(KEDA_REDIS_STREAMS)}")
        if obj["kind"] == "Deployment":
            # The binaries listen only after waiting for PostgreSQL and their schema: the
            # startup probe must outlast that wait, or a first install crash-loops.
            for container in obj["spec"]["template"]["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                wait = int(env.get("ROOST_DATABASE_STARTUP_WAIT_SECONDS", "0"))
                probe = container["startupProbe"]
                budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
                if budget < wait + 30:
                    fail(f'{obj["metadata"]["name"]}: the startup probe gives up after {budget} s, before the {wait} s database wait')
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].endswith("-api"):
            grace = obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            if grace < 5 + 25 + 5:
                fail(f"the API's grace period {grace} s does not cover the 5 s drain, 25 s stop and a margin")

    labels = [labels for _, _, labels in pods]
    cnpg_clusters = {o["metadata"]["name"] for o in objects if o["kind"] == "Cluster"}
    # The operator creates the instances, labelled with their cluster's name.
    labels += [{"cnpg.io/cluster": name} for name in cnpg_clusters]
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            # Only DNS, PostgreSQL and Redis (which may be external) go without a peer.
            ports = {p["port"] for p in rule.get("ports", [])}
            if "to" not in rule and ports & {443, 6443}:
                fail(f'NetworkPolicy {policy["metadata"]["name"]} lets {sorted(ports)} out to any address')
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        rules = policy["spec"].get("egress", []) + policy["spec"].get("ingress", [])
        for rule in rules:
            for peer in rule.get("to", []) + rule.get("from", []):
                wanted = peer.get("podSelector", {}).get("matchLabels")
                if not wanted or "namespaceSelector" in peer:
                    continue
                if not any(all(l.get(k) == v for k, v in wanted.items()) for l in labels):
                    fail(f'NetworkPolicy {policy["metadata"]["name"]}: peer {wanted} matches no pod')
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        component = selector.get("app.kubernetes.io/component")
        if component == "migrate" and not jobs:
            continue
        if not any(all(l.get(k) == v for k, v in selector.items()) for l in labels):
            fail(f'NetworkPolicy {policy["metadata"]["name"]} selects no pod of the chart')
    return failures


def main():
    path, profile = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    failures = check(objects, profile)
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{profile}: {len(objects)} objects, {len(failures)} failed checks")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
