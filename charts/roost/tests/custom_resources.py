"""Splits `helm template` output into core objects (written to CORE for kubernetes-validate)
and custom resources, which are validated here against the JSON schemas of their CRDs in
SCHEMAS (`<group>/<kind>_<version>.json`, the layout of ../shared/crd-schemas).

A custom resource without a schema fails: the check never passes by skipping. Without the
schema directory at all (a clone without ../shared beside it) it fails in CI (`CI=true`) and
elsewhere says loudly that custom resources were not validated.

Usage: python custom_resources.py RENDERED.yaml CORE.yaml SCHEMAS
"""

import json
import os
import sys

import jsonschema
import yaml


def main():
    rendered, core_path, schemas = sys.argv[1], sys.argv[2], sys.argv[3]
    missing = not os.path.isdir(schemas)
    if missing and os.environ.get("CI") == "true":
        print(f"FAIL the CRD schemas are missing: {schemas} (../shared/crd-schemas)")
        sys.exit(1)
    with open(rendered, encoding="utf-8") as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    core, failures, checked = [], [], 0
    for obj in objects:
        group, _, version = obj["apiVersion"].rpartition("/")
        if not group or group.endswith(".k8s.io") and group != "gateway.networking.k8s.io" or "." not in group:
            core.append(obj)
            continue
        name = f'{obj["kind"]}/{obj["metadata"]["name"]}'
        if missing:
            continue
        path = os.path.join(schemas, group, f'{obj["kind"].lower()}_{version}.json')
        if not os.path.exists(path):
            failures.append(f"{name}: no schema for {obj['apiVersion']} {obj['kind']} ({path})")
            continue
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        validator = jsonschema.Draft7Validator(schema)
        for error in sorted(validator.iter_errors(obj), key=str):
            where = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{name} at {where or '(root)'}: {error.message}")
        checked += 1
    with open(core_path, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(core, f, sort_keys=False)
    for failure in failures:
        print(f"FAIL {failure}")
    skipped = len(objects) - len(core)
    if missing and skipped:
        print(
            f"WARNING: {skipped} custom resources NOT validated: no CRD schemas at {schemas} "
            "(../shared/crd-schemas; CI has them and fails without them)"
        )
    print(f"{checked} custom resources checked against their CRD schemas, {len(failures)} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
