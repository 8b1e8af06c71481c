#!/usr/bin/env python3
"""Lists the valid key paths of a Helm chart's values, for k8s/tests/check.py.

Reads CHART_DIR/values.yaml of a locally fetched chart (`helm pull REPO/CHART --version V
--untar`, or the chart's directory in its source repository at the release tag with its
dependencies placed under CHART_DIR/charts/) and the values.yaml of every dependency its
Chart.yaml declares, found as CHART_DIR/charts/<name>/ or CHART_DIR/charts/<name>-<version>.tgz.
A dependency's keys are listed under its alias (or name), its `global.*` keys at the top level.

Prints one dotted path per line, every level (`a`, `a.b`, `a.b.c`), sorted: key NAMES only,
never values. A list is a leaf: its path is listed, its items are not (they are whatever the
chart passes them to). Keys with a dot, a space, a quote or brackets are written as JSON strings
("prometheus.io/scrape"), so that `.` always separates levels. A key whose comment block (the
comment lines directly above it, at its indentation) marks it deprecated (an upper-case
DEPRECATED, a description starting with "Deprecated", or `@schema deprecated`) is printed as
`<path> deprecated`.

The header names the chart and its version (`# chart: NAME VERSION`), the sources given with
--source, the subcharts read or skipped, and every crds/ directory as
`# crds: <where> condition=<Chart.yaml conditions down to it, joined by &, or ->` (`.` is the
chart itself): Helm installs those CRDs once and never upgrades them, which k8s/bootstrap.sh
makes up for.

Usage: k8s/tests/upstream_keys.py CHART_DIR|CHART.tgz [--source TEXT]... [--skip-subchart NAME]...
         > k8s/tests/upstream-keys/<chart>-<version>.txt
Needs PyYAML only.
"""

import argparse
import json
import os
import re
import sys
import tarfile
import tempfile

import yaml

SIMPLE_KEY = re.compile(r"[A-Za-z0-9_/:@$+-]+")


def encode(key):
    """One level of a dotted path."""
    key = str(key)
    return key if SIMPLE_KEY.fullmatch(key) else json.dumps(key)


def join(prefix, key):
    return f"{prefix}.{encode(key)}" if prefix else encode(key)


def paths_of(data, prefix=""):
    """Every path of a values tree; lists and scalars are leaves."""
    found = set()
    if isinstance(data, dict):
        for key, value in data.items():
            here = join(prefix, key)
            found.add(here)
            found |= paths_of(value, here)
    return found


KEY_LINE = re.compile(r"^(\s*)(\"[^\"]*\"|'[^']*'|[^\s#'\"{}\[\],&*!|>%@`-][^:#]*?)\s*:(\s|$)")
# What marks a key deprecated in a chart's own comment block: an upper-case DEPRECATED (the
# helm-docs description "-- ... DEPRECATED: use ..."), a description that starts with
# "Deprecated", or helm-schema's `@schema deprecated`. (A lower-case "deprecated" elsewhere in
# the text usually speaks of a value or of another key.)
DEPRECATED = re.compile(r"DEPRECATED|^#+\s*(--\s*)?Deprecated\b|@schema\s+deprecated")
BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")


def deprecated_paths(text, valid):
    """Paths whose comment block says "deprecated" (a line-based reading of values.yaml)."""
    marked = set()
    stack = []  # (indent, encoded key)
    comments = []  # (indent, text) of the comment lines just above
    block_indent = None
    for line in text.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not stripped or indent > block_indent:
                continue
            block_indent = None
        if not stripped:
            comments = []
            continue
        if stripped.startswith("#"):
            comments.append((indent, stripped))
            continue
        match = KEY_LINE.match(line)
        if not match or stripped.startswith("- "):
            comments = []
            continue
        key = match.group(2)
        if key[0] in "\"'":
            key = key[1:-1]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [encode(key)])
        stack.append((indent, encode(key)))
        if path in valid and any(i == indent and DEPRECATED.search(c) for i, c in comments):
            marked.add(path)
        comments = []
        if BLOCK_SCALAR.search(line):
            block_indent = indent
    return marked


def load_yaml(text, where):
    data = yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SystemExit(f"{where}: not a mapping")
    return data


class Chart:
    """A chart directory; a packaged chart (.tgz) is unpacked into `scratch` first."""

    def __init__(self, source, scratch):
        if os.path.isfile(source):
            target = tempfile.mkdtemp(dir=scratch)
            with tarfile.open(source) as tar:
                tar.extractall(target, filter="data")
            tops = os.listdir(target)
            if len(tops) != 1:
                raise SystemExit(f"{source}: not a chart archive (top level: {tops})")
            source = os.path.join(target, tops[0])
        self.path = source
        self.files = {}
        for name in ("Chart.yaml", "values.yaml"):
            full = os.path.join(source, name)
            if os.path.isfile(full):
                with open(full, encoding="utf-8") as f:
                    self.files[name] = f.read()
        if "Chart.yaml" not in self.files:
            raise SystemExit(f"{source}: no Chart.yaml")
        charts = os.path.join(source, "charts")
        self.subcharts = [os.path.join(charts, n) for n in sorted(os.listdir(charts))
                          if n.endswith(".tgz") or os.path.isdir(os.path.join(charts, n))] \
            if os.path.isdir(charts) else []
        crds = os.path.join(source, "crds")
        self.crds = os.path.isdir(crds) and any(files for _, _, files in os.walk(crds))
        self.scratch = scratch
        self.meta = load_yaml(self.files["Chart.yaml"], f"{source}/Chart.yaml")
        self.values_text = self.files.get("values.yaml", "")
        self.values = load_yaml(self.values_text, f"{source}/values.yaml")

    @property
    def name(self):
        return self.meta.get("name")

    @property
    def version(self):
        return str(self.meta.get("version"))


def collect(chart, skip, notes, prefix="", conditions=()):
    """(paths, deprecated paths) of a chart and its dependencies, under prefix."""
    if chart.crds:
        notes.append(f"crds: {prefix or '.'} condition={'&'.join(conditions) or '-'}")
    own = paths_of(chart.values)
    deprecated = deprecated_paths(chart.values_text, own)
    paths = {rebase(p, prefix) for p in own}
    marked = {rebase(p, prefix) for p in deprecated}
    available = [Chart(s, chart.scratch) for s in chart.subcharts]
    for dependency in chart.meta.get("dependencies") or []:
        name = dependency["name"]
        key = dependency.get("alias") or name
        where = join(prefix, key)
        if name in skip:
            notes.append(f"subchart {name} (values under {where}) NOT included: only the parent chart's "
                         f"own {where}.* keys are listed")
            continue
        found = [c for c in available if c.name == name]
        if not found:
            raise SystemExit(f"{chart.path}: dependency {name} not found under charts/ "
                             "(place it there, or pass --skip-subchart " + name + ")")
        sub = found[0]
        notes.append(f"subchart {name} {sub.version} under {where}")
        # A dependency's condition is a path in its parent's values: made absolute, and joined
        # (&) to its parents' conditions.
        listed = [c.strip() for c in str(dependency.get("condition") or "").split(",") if c.strip()]
        condition = ",".join(f"{prefix}.{c}" if prefix else c for c in listed)
        sub_paths, sub_marked = collect(sub, skip, notes, where, (*conditions, condition) if condition else conditions)
        paths |= {where} | sub_paths
        marked |= sub_marked
    return paths, marked


def rebase(path, prefix):
    """A subchart's path under its alias; its `global.*` stays global."""
    if not prefix or path == "global" or path.startswith("global."):
        return path
    return f"{prefix}.{path}"


def main():
    parser = argparse.ArgumentParser(description="Prints the key paths of a chart's values.")
    parser.add_argument("chart_dir")
    parser.add_argument("--source", action="append", default=[],
                        help="where the chart was read (repo@tag (commit):path), for the header; repeatable")
    parser.add_argument("--skip-subchart", action="append", default=[], metavar="NAME")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="upstream-keys-") as scratch:
        chart = Chart(args.chart_dir, scratch)
        notes = []
        paths, deprecated = collect(chart, set(args.skip_subchart), notes)
    out = sys.stdout
    out.write(f"# chart: {chart.name} {chart.version}\n")
    out.write("# The key paths (names only, no values) of this chart version's values.yaml and its\n"
              "# subcharts' values.yaml, generated by k8s/tests/upstream_keys.py; k8s/tests/check.py\n"
              "# checks every key of k8s/values/*.yaml against it. Regenerate, never edit by hand.\n")
    skips = "".join(f" --skip-subchart {name}" for name in args.skip_subchart)
    out.write(f"# generated: k8s/tests/upstream_keys.py <{chart.name} {chart.version} chart directory>{skips}\n")
    for source in args.source:
        out.write(f"# source: {source}\n")
    for note in notes:
        out.write(f"# {note}\n")
    for path in sorted(paths):
        out.write(f"{path} deprecated\n" if path in deprecated else f"{path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
