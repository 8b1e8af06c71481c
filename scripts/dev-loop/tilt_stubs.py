"""Runs a Tiltfile offline with starlark-pyo3 against recording stubs of Tilt's builtins.

Tilt itself cannot be installed here, so the Tiltfile is executed by the Starlark interpreter
of starlark-pyo3 with a stub for every builtin it may call. A stub checks its arguments the way
Tilt unpacks them (parameter names and order taken from tilt-dev/tilt's internal/tiltfile
sources), records the call and returns a stand-in value. `helm()` really runs `helm template`
with the arguments Tilt would pass and filters the output as Tilt does, so the recorded
objects are what Tilt would apply. Nothing touches a cluster: `local()` is recorded, not run.

Used by scripts/dev-loop-check.py.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import starlark as sl
import yaml

# Parameter lists of the builtins (a trailing "?" marks an optional parameter), as in Tilt's
# `unpackArgs` calls. Anything else a Tiltfile passes is an error here, as it is in Tilt.
SIGNATURES: dict[str, list[str]] = {
    "allow_k8s_contexts": ["contexts"],
    "k8s_context": [],
    "k8s_namespace": [],
    "version_settings": ["check_updates?", "constraint?"],
    "update_settings": [
        "max_parallel_updates?",
        "k8s_upsert_timeout_secs?",
        "suppress_unused_image_warnings?",
        "k8s_server_side_apply?",
    ],
    "watch_settings": ["ignore?"],
    "docker_build": [
        "ref", "context", "build_args?", "dockerfile?", "dockerfile_contents?", "cache?",
        "live_update?", "match_in_env_vars?", "ignore?", "only?", "entrypoint?",
        "container_args?", "target?", "ssh?", "secret?", "network?", "extra_tag?",
        "cache_from?", "pull?", "platform?", "extra_hosts?",
    ],
    "helm": ["paths", "name?", "namespace?", "values?", "set?", "kube_version?", "skip_crds?"],
    "k8s_yaml": ["yaml", "allow_duplicates?"],
    "k8s_resource": [
        "workload?", "new_name?", "port_forwards?", "extra_pod_selectors?", "trigger_mode?",
        "resource_deps?", "objects?", "auto_init?", "pod_readiness?", "links?", "labels?",
        "discovery_strategy?",
    ],
    "local_resource": [
        "name", "cmd?", "deps?", "trigger_mode?", "resource_deps?", "ignore?", "auto_init?",
        "serve_cmd?", "cmd_bat?", "serve_cmd_bat?", "allow_parallel?", "links?", "labels?",
        "env?", "serve_env?", "readiness_probe?", "dir?", "serve_dir?",
    ],
    "local": ["command", "quiet?", "command_bat?", "echo_off?", "env?", "dir?"],
    "port_forward": ["local_port", "container_port?", "name?", "link_path?", "host?"],
    "link": ["url", "name?"],
    "probe": [
        "initial_delay_secs?", "timeout_secs?", "period_secs?", "success_threshold?",
        "failure_threshold?", "exec?", "http_get?", "tcp_socket?",
    ],
    "exec_action": ["command"],
    "http_get_action": ["port", "host?", "scheme?", "path?"],
    "tcp_socket_action": ["port", "host?"],
    "read_file": ["paths", "default?"],
    "watch_file": ["paths"],
    "decode_yaml_stream": ["yaml"],
    "decode_yaml": ["yaml"],
    "warn": ["msg"],
    "config_define": ["name", "args?", "usage?"],
    "config_parse": [],
    "os_getenv": ["key", "default?"],
    "os_path_exists": ["paths"],
    "os_path_join": ["*"],
}


class TiltfileError(Exception):
    """The Tiltfile called a builtin the way Tilt would refuse."""


@dataclasses.dataclass
class Blob:
    """Tilt's Blob: text that k8s_yaml() takes as YAML (a plain string is a file name)."""

    text: str
    source: str


@dataclasses.dataclass
class PortForward:
    local_port: int
    container_port: int | None
    name: str
    link_path: str
    host: str


@dataclasses.dataclass
class Link:
    url: str
    name: str


@dataclasses.dataclass
class Probe:
    spec: dict[str, Any]


@dataclasses.dataclass
class Call:
    name: str
    args: dict[str, Any]
    result: Any = None


def bind(name: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    """Binds a call's arguments to the builtin's parameters like Starlark's UnpackArgs."""
    params = SIGNATURES[name]
    if params == ["*"]:
        return {"args": list(args)}
    names = [p.rstrip("?") for p in params]
    if len(args) > len(names):
        raise TiltfileError(f"{name}: got {len(args)} positional arguments, at most {len(names)}")
    bound = dict(zip(names, args))
    for key, value in kwargs.items():
        if key not in names:
            raise TiltfileError(f"{name}: unexpected keyword argument {key!r} (Tilt accepts {names})")
        if key in bound:
            raise TiltfileError(f"{name}: got multiple values for {key!r}")
        bound[key] = value
    for param in params:
        if not param.endswith("?") and param not in bound:
            raise TiltfileError(f"{name}: missing argument {param!r}")
    return bound


def as_list(value: Any) -> list:
    """Tilt's StringOrStringList and friends: None, one value or a list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


# `# Source: <chart>/templates/tests/...` marks a helm test template (tilt internal/tiltfile/helm.go).
HELM_TEST_SOURCE = re.compile(r"^# Source: .*/tests/", re.MULTILINE)


def filter_helm_test_yaml(text: str) -> tuple[str, int]:
    """What Tilt's filterHelmTestYAML keeps, and how many documents it dropped."""
    docs = text.split("---\n")
    kept = [doc for doc in docs if not HELM_TEST_SOURCE.search(doc)]
    return "---\n".join(kept), len(docs) - len(kept)


class TiltRun:
    """One evaluation of a Tiltfile against the stubs."""

    def __init__(
        self,
        tiltfile: Path,
        helm: str,
        k8s_context: str = "kind-roost",
        config_args: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.tiltfile = tiltfile.resolve()
        self.main_dir = self.tiltfile.parent
        self.helm = helm
        self.k8s_context = k8s_context
        self.config_args = dict(config_args or {})
        self.env = dict(os.environ if env is None else env)
        self.calls: list[Call] = []
        self.config_defs: dict[str, dict[str, Any]] = {}
        self.helm_renders: list[dict[str, Any]] = []
        self.yaml_objects: list[dict[str, Any]] = []

    # ---- recording helpers
    def calls_to(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def _record(self, name: str, args: tuple, kwargs: dict, recorded_name: str | None = None) -> Call:
        call = Call(recorded_name or name, bind(name, args, kwargs))
        self.calls.append(call)
        return call

    def path(self, relative: str) -> Path:
        return (self.main_dir / relative).resolve()

    # ---- stubs
    def _simple(self, name: str, result: Any = None):
        def stub(*args, **kwargs):
            self._record(name, args, kwargs)
            return result

        return stub

    def k8s_context_stub(self, *args, **kwargs):
        self._record("k8s_context", args, kwargs)
        return self.k8s_context

    def helm_stub(self, *args, **kwargs):
        call = self._record("helm", args, kwargs)
        a = call.args
        chart = self.path(a["paths"])
        if not chart.is_dir():
            raise TiltfileError(f"Could not read Helm chart directory {a['paths']!r}: does not exist")
        name = a.get("name") or "chart"
        argv = [self.helm, "template", name, str(chart)]
        if a.get("namespace"):
            argv += ["--namespace", a["namespace"]]
        if a.get("kube_version"):
            argv += ["--kube-version", a["kube_version"]]
        if not a.get("skip_crds"):
            argv.append("--include-crds")
        for values in as_list(a.get("values")):
            if not self.path(values).is_file():
                raise TiltfileError(f"helm: values file {values!r} does not exist")
            argv += ["--values", str(self.path(values))]
        for setting in as_list(a.get("set")):
            argv += ["--set", setting]
        done = subprocess.run(argv, cwd=self.main_dir, capture_output=True, text=True)
        if done.returncode != 0:
            raise TiltfileError(f"helm template failed: {done.stderr.strip()}")
        text, dropped = filter_helm_test_yaml(done.stdout)
        objects = [o for o in yaml.safe_load_all(text) if o]
        blob = Blob(text, f"helm: {a['paths']}")
        render = {"args": a, "argv": argv, "objects": objects, "dropped_tests": dropped, "blob": blob}
        self.helm_renders.append(render)
        call.result = render
        return sl.OpaquePythonObject(blob)

    def _yaml_text(self, value: Any, builtin: str) -> str:
        if isinstance(value, Blob):
            return value.text
        if isinstance(value, str):
            # A plain string is a file name for k8s_yaml(); decode_yaml* take it as YAML.
            if builtin == "k8s_yaml":
                path = self.path(value)
                if not path.is_file():
                    raise TiltfileError(f"k8s_yaml: file {value!r} does not exist")
                return path.read_text()
            return value
        raise TiltfileError(f"{builtin}: expected a Blob or a string, got {type(value).__name__}")

    def k8s_yaml_stub(self, *args, **kwargs):
        call = self._record("k8s_yaml", args, kwargs)
        sources = []
        for item in as_list(call.args["yaml"]):
            text = self._yaml_text(item, "k8s_yaml")
            sources.append(item)
            self.yaml_objects += [o for o in yaml.safe_load_all(text) if o]
        call.result = sources
        return None

    def decode_yaml_stream_stub(self, *args, **kwargs):
        call = self._record("decode_yaml_stream", args, kwargs)
        return list(yaml.safe_load_all(self._yaml_text(call.args["yaml"], "decode_yaml_stream")))

    def decode_yaml_stub(self, *args, **kwargs):
        call = self._record("decode_yaml", args, kwargs)
        docs = [d for d in yaml.safe_load_all(self._yaml_text(call.args["yaml"], "decode_yaml")) if d is not None]
        if len(docs) != 1:
            raise TiltfileError(f"decode_yaml: expected one document, found {len(docs)}")
        return docs[0]

    def read_file_stub(self, *args, **kwargs):
        call = self._record("read_file", args, kwargs)
        path = self.path(call.args["paths"])
        if path.is_file():
            return sl.OpaquePythonObject(Blob(path.read_text(), str(path)))
        if "default" in call.args:
            return call.args["default"]
        raise TiltfileError(f"read_file: {call.args['paths']!r} does not exist")

    def local_stub(self, *args, **kwargs):
        # Recorded, never run: it would touch the cluster (e.g. the bootstrap).
        self._record("local", args, kwargs)
        return ""

    def port_forward_stub(self, *args, **kwargs):
        a = self._record("port_forward", args, kwargs).args
        return sl.OpaquePythonObject(
            PortForward(
                int(a["local_port"]),
                int(a["container_port"]) if a.get("container_port") is not None else None,
                a.get("name", ""),
                a.get("link_path", ""),
                a.get("host", ""),
            )
        )

    def link_stub(self, *args, **kwargs):
        a = self._record("link", args, kwargs).args
        return sl.OpaquePythonObject(Link(a["url"], a.get("name", "")))

    def probe_stub(self, *args, **kwargs):
        a = self._record("probe", args, kwargs).args
        return sl.OpaquePythonObject(Probe(a))

    def action_stub(self, name: str):
        def stub(*args, **kwargs):
            a = self._record(name, args, kwargs).args
            return sl.OpaquePythonObject(Probe({name: a}))

        return stub

    def config_define_stub(self, kind: str):
        def stub(*args, **kwargs):
            a = self._record("config_define", args, kwargs, f"config.{kind}").args
            self.config_defs[a["name"]] = {"kind": kind, **a}
            return None

        return stub

    def config_parse_stub(self, *args, **kwargs):
        self._record("config_parse", args, kwargs, "config.parse")
        unknown = set(self.config_args) - set(self.config_defs)
        if unknown:
            raise TiltfileError(f"config.parse: undefined settings {sorted(unknown)}")
        return dict(self.config_args)

    def os_getenv_stub(self, *args, **kwargs):
        a = self._record("os_getenv", args, kwargs, "os.getenv").args
        return self.env.get(a["key"], a.get("default"))

    def os_path_exists_stub(self, *args, **kwargs):
        a = self._record("os_path_exists", args, kwargs, "os.path.exists").args
        return self.path(a["paths"]).exists()

    def os_path_join_stub(self, *args, **kwargs):
        self._record("os_path_join", args, kwargs, "os.path.join")
        return os.path.join(*args)

    # ---- evaluation
    def module(self) -> sl.Module:
        module = sl.Module()
        callables = {
            "allow_k8s_contexts": self._simple("allow_k8s_contexts"),
            "k8s_context": self.k8s_context_stub,
            "k8s_namespace": self._simple("k8s_namespace", "default"),
            "version_settings": self._simple("version_settings"),
            "update_settings": self._simple("update_settings"),
            "watch_settings": self._simple("watch_settings"),
            "docker_build": self._simple("docker_build"),
            "helm": self.helm_stub,
            "k8s_yaml": self.k8s_yaml_stub,
            "k8s_resource": self._simple("k8s_resource"),
            "local_resource": self._simple("local_resource"),
            "local": self.local_stub,
            "port_forward": self.port_forward_stub,
            "link": self.link_stub,
            "probe": self.probe_stub,
            "exec_action": self.action_stub("exec_action"),
            "http_get_action": self.action_stub("http_get_action"),
            "tcp_socket_action": self.action_stub("tcp_socket_action"),
            "read_file": self.read_file_stub,
            "watch_file": self._simple("watch_file"),
            "decode_yaml_stream": self.decode_yaml_stream_stub,
            "decode_yaml": self.decode_yaml_stub,
            "warn": self._simple("warn"),
            "_config_define_string": self.config_define_stub("define_string"),
            "_config_define_string_list": self.config_define_stub("define_string_list"),
            "_config_define_bool": self.config_define_stub("define_bool"),
            "_config_define_object": self.config_define_stub("define_object"),
            "_config_parse": self.config_parse_stub,
            "_os_getenv": self.os_getenv_stub,
            "_os_path_exists": self.os_path_exists_stub,
            "_os_path_join": self.os_path_join_stub,
        }
        for name, function in callables.items():
            module.add_callable(name, function)
        module["TRIGGER_MODE_AUTO"] = "TRIGGER_MODE_AUTO"
        module["TRIGGER_MODE_MANUAL"] = "TRIGGER_MODE_MANUAL"
        return module

    def evaluate(self) -> None:
        dialect = sl.Dialect.extended()
        dialect.enable_top_level_stmt = True  # Tilt allows if/for at the top level
        globals_ = sl.Globals.extended_by(
            [sl.LibraryExtension.StructType, sl.LibraryExtension.Print, sl.LibraryExtension.Json]
        )
        module = self.module()
        # Tilt's namespaced builtins (config.*, os.*) as structs over the stubs.
        prelude = (
            "config = struct(define_string=_config_define_string,"
            " define_string_list=_config_define_string_list, define_bool=_config_define_bool,"
            " define_object=_config_define_object, parse=_config_parse,"
            f" main_dir={str(self.main_dir)!r}, main_path={str(self.tiltfile)!r},"
            " tilt_subcommand='up')\n"
            "os = struct(getenv=_os_getenv, environ={},"
            " path=struct(exists=_os_path_exists, join=_os_path_join), name='posix')\n"
        )
        sl.eval(module, sl.parse("<tilt builtins>", prelude, dialect), globals_)
        source = self.tiltfile.read_text()
        sl.eval(module, sl.parse(str(self.tiltfile), source, dialect), globals_)
