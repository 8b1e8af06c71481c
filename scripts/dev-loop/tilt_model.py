"""How Tilt turns recorded Tiltfile calls into resources (offline model).

Follows tilt-dev/tilt's internal/tiltfile/tiltfile_state.go (assembleK8s): every object with a
pod template (or a Pod) is a workload and becomes a resource named by the shortest unique
fragment of `name:kind:namespace`; a Service whose selector matches a workload's pod labels in
its namespace joins that workload's resource; k8s_resource() then adds options, renames, or
groups remaining objects with `objects=`; whatever is left is "uncategorized", applied at once
with no resource_deps. Used by scripts/dev-loop-check.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tilt_stubs import Call, Link, PortForward, Probe, as_list

POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if obj.get("kind") in POD_TEMPLATE_KINDS:
        return spec.get("template")
    return None


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "Pod":
        return obj.get("spec") or {}
    return (pod_template(obj) or {}).get("spec") or {}


def is_workload(obj: dict[str, Any]) -> bool:
    return obj.get("kind") == "Pod" or pod_template(obj) is not None


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def namespace(obj: dict[str, Any], default: str) -> str:
    return (obj.get("metadata") or {}).get("namespace") or default


def group(obj: dict[str, Any]) -> str:
    api_version = obj.get("apiVersion", "")
    return api_version.split("/")[0] if "/" in api_version else "core"


def potential_names(obj: dict[str, Any], default_ns: str) -> list[str]:
    parts = [obj["metadata"]["name"], obj["kind"], namespace(obj, default_ns), group(obj)]
    return [":".join(parts[: i + 1]).lower() for i in range(len(parts))]


def full_name(obj: dict[str, Any], default_ns: str) -> str:
    return f"{obj['metadata']['name']}:{obj['kind']}:{namespace(obj, default_ns)}"


@dataclasses.dataclass
class Resource:
    name: str
    kind: str  # "k8s" or "local"
    objects: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    resource_deps: list[str] = dataclasses.field(default_factory=list)
    port_forwards: list[PortForward] = dataclasses.field(default_factory=list)
    links: list[Link] = dataclasses.field(default_factory=list)
    labels: list[str] = dataclasses.field(default_factory=list)
    cmd: list[str] | str | None = None
    serve_cmd: list[str] | str | None = None
    readiness_probe: Probe | None = None
    deps: list[str] = dataclasses.field(default_factory=list)

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if is_workload(o)]


def _port_forwards(value: Any) -> list[PortForward]:
    result = []
    for item in as_list(value):
        if isinstance(item, PortForward):
            result.append(item)
        elif isinstance(item, int):
            result.append(PortForward(item, None, "", "", ""))
        elif isinstance(item, str):
            local, _, container = item.partition(":")
            result.append(PortForward(int(local), int(container) if container else None, "", "", ""))
        else:
            raise ValueError(f"unsupported port_forwards entry {item!r}")
    return result


def _selects(service: dict[str, Any], workload: dict[str, Any], default_ns: str) -> bool:
    if service.get("kind") != "Service":
        return False
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return False
    labels = ((pod_template(workload) or {}).get("metadata") or {}).get("labels") or {}
    if workload.get("kind") == "Pod":
        labels = (workload.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items()) and namespace(
        service, default_ns
    ) == namespace(workload, default_ns)


def assemble(
    objects: list[dict[str, Any]], calls: list[Call], default_ns: str
) -> tuple[dict[str, Resource], list[dict[str, Any]], list[str]]:
    """Returns (resources by name, uncategorized objects, errors Tilt would report)."""
    errors: list[str] = []
    resources: dict[str, Resource] = {}
    unresourced = list(objects)

    workloads = [o for o in unresourced if is_workload(o)]
    unresourced = [o for o in unresourced if not is_workload(o)]
    counts: dict[str, int] = {}
    for w in workloads:
        for name in potential_names(w, default_ns):
            counts[name] = counts.get(name, 0) + 1
    for w in workloads:
        name = next((n for n in potential_names(w, default_ns) if counts[n] == 1), full_name(w, default_ns))
        attached = [o for o in unresourced if _selects(o, w, default_ns)]
        unresourced = [o for o in unresourced if not any(o is a for a in attached)]
        resources[name] = Resource(name, "k8s", [w, *attached])

    fragments: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        for name in potential_names(obj, default_ns):
            fragments.setdefault(name, []).append(obj)

    for call in calls:
        if call.name == "local_resource":
            a = call.args
            if a["name"] in resources:
                errors.append(f"local_resource {a['name']!r}: a resource of that name already exists")
                continue
            resources[a["name"]] = Resource(
                a["name"],
                "local",
                resource_deps=list(as_list(a.get("resource_deps"))),
                links=[l for l in as_list(a.get("links")) if isinstance(l, Link)],
                labels=list(as_list(a.get("labels"))),
                cmd=a.get("cmd"),
                serve_cmd=a.get("serve_cmd"),
                readiness_probe=a.get("readiness_probe"),
                deps=list(as_list(a.get("deps"))),
            )
            continue
        if call.name != "k8s_resource":
            continue
        a = call.args
        workload = a.get("workload") or ""
        new_name = a.get("new_name") or ""
        if not workload:
            if not new_name:
                errors.append("k8s_resource: neither a workload nor a new_name")
                continue
            if not as_list(a.get("objects")):
                errors.append(f"k8s_resource {new_name!r}: no workload and no objects")
                continue
            if new_name in resources:
                errors.append(f"k8s_resource {new_name!r}: a resource of that name already exists")
                continue
            resources[new_name] = Resource(new_name, "k8s")
            workload = new_name
        resource = resources.get(workload)
        if resource is None or resource.kind != "k8s":
            errors.append(
                f"k8s_resource specified unknown resource {workload!r}; known k8s resources: "
                + ", ".join(sorted(n for n, r in resources.items() if r.kind == "k8s"))
            )
            continue
        try:
            resource.port_forwards += _port_forwards(a.get("port_forwards"))
        except ValueError as e:
            errors.append(f"k8s_resource {workload!r}: {e}")
        resource.resource_deps += list(as_list(a.get("resource_deps")))
        resource.links += [l for l in as_list(a.get("links")) if isinstance(l, Link)]
        resource.labels += list(as_list(a.get("labels")))
        if new_name and new_name != resource.name:
            if new_name in resources:
                errors.append(f"k8s_resource: cannot rename {resource.name!r} to {new_name!r}: taken")
            else:
                del resources[resource.name]
                resource.name = new_name
                resources[new_name] = resource
        for fragment in as_list(a.get("objects")):
            matches = fragments.get(str(fragment).lower(), [])
            if not matches:
                errors.append(f"k8s_resource {resource.name!r}: no object identified by {fragment!r}")
                continue
            if len(matches) > 1:
                errors.append(f"k8s_resource {resource.name!r}: {fragment!r} is not a unique fragment")
                continue
            obj = matches[0]
            if not any(obj is o for o in unresourced):
                errors.append(
                    f"k8s_resource {resource.name!r}: {fragment!r} already belongs to another resource"
                )
                continue
            unresourced = [o for o in unresourced if o is not obj]
            resource.objects.append(obj)
    return resources, unresourced, errors
