"""What Skaffold would do with skaffold.yaml, offline (profiles, image values, helm arguments).

Follows GoogleContainerTools/skaffold v2: profiles are overlaid field by field
(pkg/skaffold/schema/profiles.go: structs merge recursively, one-of groups such as
build.local or build.tagPolicy.* and pointer sections such as deploy.helm are replaced whole,
non-empty lists replace, non-zero scalars replace), then the profile's JSON patches apply;
helm releases get `--set` for setValues, then for setValueTemplates expanded against the
built image (pkg/skaffold/helm/args.go: IMAGE_REPO_<name>, IMAGE_TAG_<name>,
IMAGE_DIGEST_<name>, ..., a trailing "@" trimmed), then `-f` per valuesFiles entry.
Used by scripts/dev-loop-check.py.
"""

from __future__ import annotations

import copy
import re
from typing import Any

# Sections replaced whole when a profile sets them (pointers and one-of groups in Skaffold's
# latest config types).
ONE_OF = {
    ("build",): {"local", "googleCloudBuild", "cluster"},
    ("build", "tagPolicy"): {"gitCommit", "sha256", "envTemplate", "dateTime", "customTemplate", "inputDigest"},
}
REPLACED_WHOLE = {
    ("deploy", "helm"),
    ("deploy", "kubectl"),
    ("deploy", "kpt"),
    ("deploy", "docker"),
    ("deploy", "cloudrun"),
    ("manifests", "helm"),
    ("manifests", "kustomize"),
    ("manifests", "kpt"),
}
PROFILE_ONLY_KEYS = {"name", "activation", "patches", "requiresAllActivations"}


def _overlay(base: Any, profile: Any, path: tuple[str, ...]) -> Any:
    if isinstance(profile, dict) and path not in REPLACED_WHOLE:
        merged = dict(base) if isinstance(base, dict) else {}
        one_of = ONE_OF.get(path, set())
        if one_of & set(profile):
            for key in one_of:
                merged.pop(key, None)
        for key, value in profile.items():
            merged[key] = _overlay(merged.get(key), value, (*path, key))
        return merged
    if isinstance(profile, list):
        return profile if profile else base
    if profile in (None, "", 0, False):
        return base
    return copy.deepcopy(profile)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} must start with /")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply_patch(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    op = patch.get("op") or "replace"
    parts = _pointer(patch["path"])
    parent: Any = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if op == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    elif op in ("add", "replace"):
        value = copy.deepcopy(patch.get("value"))
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, value)
            else:
                parent[index] = value
        else:
            if op == "replace" and last not in parent:
                raise KeyError(last)
            parent[last] = value
    else:
        raise ValueError(f"patch op {op!r} is not modelled by this check")


def effective_config(config: dict[str, Any], profile_name: str | None) -> dict[str, Any]:
    """The config with one profile applied (None: the base config)."""
    result = copy.deepcopy({k: v for k, v in config.items() if k != "profiles"})
    if profile_name is None:
        return result
    profiles = {p.get("name"): p for p in config.get("profiles") or []}
    profile = profiles[profile_name]
    for key, value in profile.items():
        if key in PROFILE_ONLY_KEYS:
            continue
        result[key] = _overlay(result.get(key), value, (key,))
    for patch in profile.get("patches") or []:
        try:
            _apply_patch(result, patch)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"profile {profile_name}: patch {patch} does not apply: {e}") from e
    return result


def sanitize(name: str) -> str:
    """util.SanitizeHelmTemplateValue: `/`, `-`, `.` and `:` become `_`."""
    return re.sub(r"[/\-.:]", "_", name)


def parse_reference(ref: str) -> dict[str, str]:
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first = name.split("/")[0]
    domain = first if "/" in name and ("." in first or ":" in first or first == "localhost") else "docker.io"
    return {"base": name, "tag": tag, "digest": digest, "domain": domain}


def image_template_env(image_name: str, built: str) -> dict[str, str]:
    """envVarForImage for the first (only) artifact: plain and `_<name>` keys."""
    ref = parse_reference(built)
    values = {
        "IMAGE_NAME": image_name,
        "DIGEST": built,
        "IMAGE_REPO": ref["base"],
        "IMAGE_TAG": ref["tag"],
        "IMAGE_DIGEST": ref["digest"],
        "IMAGE_DOMAIN": ref["domain"],
        "IMAGE_REPO_NO_DOMAIN": ref["base"].removeprefix(ref["domain"] + "/"),
        "IMAGE_FULLY_QUALIFIED": built,
    }
    env = dict(values)
    env.update({f"{k}_{sanitize(image_name)}": v for k, v in values.items()})
    return env


TEMPLATE = re.compile(r"\{\{\s*\.([A-Za-z0-9_]+)\s*\}\}")


def expand(template: str, env: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in env:
            raise KeyError(f"{{{{.{key}}}}} is not defined (Skaffold would render '<no value>')")
        return env[key]

    result = TEMPLATE.sub(substitute, template)
    if "{{" in result:
        raise ValueError(f"template {template!r} uses more than {{{{.VAR}}}}: not modelled by this check")
    return result


def helm_override_args(release: dict[str, Any], env: dict[str, str]) -> list[str]:
    """ConstructOverrideArgs: --set setValues, --set setValueTemplates, -f valuesFiles."""
    args: list[str] = []
    for key in sorted(release.get("setValues") or {}):
        args += ["--set", f"{key}={release['setValues'][key]}"]
    for key in sorted(release.get("setFiles") or {}):
        args += ["--set-file", f"{key}={release['setFiles'][key]}"]
    for key in sorted(release.get("setValueTemplates") or {}):
        value = expand(str(release["setValueTemplates"][key]), env).removesuffix("@")
        args += ["--set", f"{expand(key, env)}={value}"]
    for values in release.get("valuesFiles") or []:
        args += ["-f", expand(values, env)]
    return args
