"""The flow file (Contract 5): parse, validate, and keep the line each value came from.

`load_flow(path)` returns a `Flow` or raises `FlowInvalid` listing every problem with the task,
the field and the line (from PyYAML's node marks: the file is composed once to a node tree for
positions and loaded once with `safe_load` for values). Checks: known fields and their types,
unique DNS-label task names, `command` as an argv list (never a shell string), `depends`
expressions that parse and name existing tasks, no cycles, `timeout` durations, `retries`, a
`model` that the solver accepts (Contract 1), `runtime` pins as safe `kind: version` strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from catalog.yamlio import YamlRefused, load_yaml_text
from workflow.errors import ExpressionInvalid, FlowInvalid, FlowProblem, InvalidComponentName
from workflow.expr import Expr, parse_depends
from workflow.store.manifest import check_segment

__all__ = ["Flow", "ServeSpec", "Task", "document_digest", "load_flow", "parse_duration", "parse_flow"]

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_TASK_FIELDS = {"name", "command", "depends", "model", "runtime", "retries", "timeout", "env", "serve", "image", "workdir"}
_FLOW_FIELDS = {"name", "description", "image", "tasks"}
_SERVE_FIELDS = {"port", "health", "replicas", "max_replicas", "target_cpu_percent", "startup_timeout"}


@dataclass(frozen=True)
class ServeSpec:
    """A long-running serving task: healthy once GET `health` on `port` answers 200."""

    port: int
    health: str = "/healthz"
    replicas: int = 1
    max_replicas: int = 3
    target_cpu_percent: int = 80
    startup_timeout: float = 120.0


@dataclass(frozen=True)
class Task:
    name: str
    command: tuple[str, ...]
    depends: Expr | None = None
    depends_text: str | None = None
    model: Mapping[str, Any] | None = None
    runtime: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    timeout: float | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    serve: ServeSpec | None = None
    image: str | None = None
    workdir: str | None = None
    line: int | None = None

    @property
    def predecessors(self) -> frozenset[str]:
        return frozenset(self.depends.tasks()) if self.depends is not None else frozenset()


@dataclass(frozen=True)
class Flow:
    name: str
    tasks: tuple[Task, ...]
    path: Path | None = None
    digest: str = ""
    image: str = "python:3.11-slim"
    description: str | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)

    def topological(self) -> list[Task]:
        """Tasks in dependency order (file order among independent tasks)."""
        done: set[str] = set()
        order: list[Task] = []
        pending = list(self.tasks)
        while pending:
            for t in pending:
                if t.predecessors <= done:
                    order.append(t)
                    done.add(t.name)
                    pending.remove(t)
                    break
        return order


def document_digest(document: Any) -> str:
    """sha256 of the flow document as canonical JSON: the same flow, whatever its formatting."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def parse_duration(value: Any) -> float:
    """`30s`, `5m`, `1h30m`, `1.5s` or a number of seconds -> seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value).strip())
        if m is None or not any(m.groups()):
            raise ValueError(f"{value!r} is not a duration such as 30s, 5m or 1h")
        h, mi, s = m.groups()
        seconds = int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def _positions(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                out[path + (key.value,)] = key.start_mark.line + 1
                _positions(value, path + (key.value,), out)
                out[path + (key.value,)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _positions(item, path + (i,), out)


class _Checker:
    def __init__(self, lines: dict[tuple[Any, ...], int]) -> None:
        self.lines = lines
        self.problems: list[FlowProblem] = []

    def line(self, *path: Any) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def add(self, message: str, *, task: str | None, field: str | None, path: tuple[Any, ...]) -> None:
        self.problems.append(FlowProblem(message, task=task, field=field, line=self.line(*path)))


def _check_model(model: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) problems the solver's request parser reports, if a solver is installed."""
    try:
        import solver
        from solver.errors import InvalidRequest
    except ImportError:
        return []
    parse = getattr(solver, "parse_request", None)
    if parse is None:
        return []
    # an `artifact:` path is read when the task is placed (relative to the flow file), not here
    request = {k: v for k, v in model.items() if not (k == "artifact" and isinstance(v, str))}
    try:
        parse(request)
    except InvalidRequest as e:
        return [(getattr(e, "field", None) or "", str(e))]
    return []


def _parse_task(raw: Any, index: int, ck: _Checker, flow_image: str) -> Task | None:
    path: tuple[Any, ...] = ("tasks", index)
    if not isinstance(raw, dict):
        ck.add("each task must be a mapping", task=None, field=f"tasks[{index}]", path=path)
        return None
    name = raw.get("name")
    label = name if isinstance(name, str) else f"#{index + 1}"
    for key in raw:
        if key not in _TASK_FIELDS:
            ck.add(f"unknown field (known: {', '.join(sorted(_TASK_FIELDS))})", task=label, field=str(key), path=path + (key,))
    if not isinstance(name, str) or not _NAME.match(name):
        ck.add("name must be lowercase letters, digits and '-', 1-40 characters", task=label, field="name", path=path + ("name",))
    command = raw.get("command")
    if isinstance(command, str):
        ck.add("command must be a list of arguments (argv), not a shell string", task=label, field="command", path=path + ("command",))
    elif not isinstance(command, list) or not command or not all(isinstance(c, str | int | float) for c in command):
        ck.add("command is required: a non-empty list of strings", task=label, field="command", path=path + ("command",))
    elif any(isinstance(c, bool) for c in command):
        ck.add("command items must be strings: quote YAML words like 'true', 'false', 'yes'", task=label,
               field="command", path=path + ("command",))
    depends_raw = raw.get("depends")
    depends = None
    if depends_raw is not None:
        if isinstance(depends_raw, list) and not all(isinstance(d, str) for d in depends_raw):
            ck.add("depends list items must be task names or expressions", task=label, field="depends", path=path + ("depends",))
        elif not isinstance(depends_raw, str | list):
            ck.add("depends must be a task name, a list, or an expression", task=label, field="depends", path=path + ("depends",))
        else:
            try:
                depends = parse_depends(depends_raw)
            except ExpressionInvalid as e:
                ck.add(str(e), task=label, field="depends", path=path + ("depends",))
    model = raw.get("model")
    if model is not None:
        if not isinstance(model, dict):
            ck.add("model must be a mapping (Contract 1 model request)", task=label, field="model", path=path + ("model",))
            model = None
        else:
            for fld, msg in _check_model(model):
                sub = fld.split(".")[0] if fld else None
                ck.add(msg, task=label, field=f"model.{fld}" if fld else "model", path=path + ("model",) + ((sub,) if sub else ()))
    runtime: dict[str, str] = {}
    rt_raw = raw.get("runtime")
    if rt_raw is not None:
        if not isinstance(rt_raw, dict):
            ck.add("runtime must map component kinds to versions", task=label, field="runtime", path=path + ("runtime",))
        else:
            for k, v in rt_raw.items():
                try:
                    runtime[check_segment(str(k), what="kind")] = check_segment(str(v), what="version")
                except InvalidComponentName as e:
                    ck.add(str(e), task=label, field=f"runtime.{k}", path=path + ("runtime", k))
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        ck.add("retries must be a whole number >= 0", task=label, field="retries", path=path + ("retries",))
        retries = 0
    timeout = None
    if raw.get("timeout") is not None:
        try:
            timeout = parse_duration(raw["timeout"])
        except ValueError as e:
            ck.add(str(e), task=label, field="timeout", path=path + ("timeout",))
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str | int | float) for k, v in env.items()):
        ck.add("env must map names to string values", task=label, field="env", path=path + ("env",))
        env = {}
    serve = _parse_serve(raw.get("serve"), label, ck, path + ("serve",))
    workdir = raw.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or workdir.startswith(("/", "\\", "~"))
                                or ".." in re.split(r"[\\/]", workdir) or ":" in workdir):
        # cwd = the flow file's folder / workdir: it must stay inside that folder.
        ck.add("workdir must be a relative path inside the flow's folder (no '..', not absolute)",
               task=label, field="workdir", path=path + ("workdir",))
    if not isinstance(name, str) or not isinstance(command, list):
        return None
    return Task(
        name=name,
        command=tuple(str(c) for c in command),
        depends=depends,
        depends_text=depends_raw if isinstance(depends_raw, str) else (" && ".join(depends_raw) if depends_raw else None),
        model=model,
        runtime=runtime,
        retries=retries,
        timeout=timeout,
        env={k: str(v) for k, v in env.items()},
        serve=serve,
        image=str(raw["image"]) if raw.get("image") else None,
        workdir=str(raw["workdir"]) if raw.get("workdir") else None,
        line=ck.line(*path),
    )


def _parse_serve(raw: Any, label: str, ck: _Checker, path: tuple[Any, ...]) -> ServeSpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        ck.add("serve must be a mapping with at least `port`", task=label, field="serve", path=path)
        return None
    for key in raw:
        if key not in _SERVE_FIELDS:
            ck.add(f"unknown field (known: {', '.join(sorted(_SERVE_FIELDS))})", task=label, field=f"serve.{key}", path=path + (key,))
    port = raw.get("port")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        ck.add("serve.port must be a TCP port number", task=label, field="serve.port", path=path + ("port",))
        return None
    health = str(raw.get("health", "/healthz"))
    if not health.startswith("/"):
        ck.add("serve.health must be an HTTP path starting with '/'", task=label, field="serve.health", path=path + ("health",))
    try:
        startup = parse_duration(raw.get("startup_timeout", 120))
    except ValueError as e:
        ck.add(str(e), task=label, field="serve.startup_timeout", path=path + ("startup_timeout",))
        startup = 120.0
    ints = {}
    for key, default in (("replicas", 1), ("max_replicas", 3), ("target_cpu_percent", 80)):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            ck.add(f"serve.{key} must be a whole number >= 1", task=label, field=f"serve.{key}", path=path + (key,))
            value = default
        ints[key] = value
    return ServeSpec(port=port, health=health, startup_timeout=startup, **ints)


def _check_graph(tasks: list[Task], ck: _Checker) -> None:
    names = [t.name for t in tasks]
    seen: set[str] = set()
    for i, t in enumerate(tasks):
        if t.name in seen:
            ck.add("duplicate task name", task=t.name, field="name", path=("tasks", i, "name"))
        seen.add(t.name)
        for ref in sorted(t.predecessors):
            if ref not in names:
                ck.add(f"depends on unknown task '{ref}'", task=t.name, field="depends", path=("tasks", i, "depends"))
            elif ref == t.name:
                ck.add("a task cannot depend on itself", task=t.name, field="depends", path=("tasks", i, "depends"))
    if ck.problems:
        return
    graph = {t.name: t.predecessors for t in tasks}
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> list[str] | None:
        state[n] = 1
        for p in sorted(graph[n]):
            if state.get(p) == 1:
                return trail + [n, p]
            if p not in state and (cycle := visit(p, trail + [n])):
                return cycle
        state[n] = 2
        return None

    for i, t in enumerate(tasks):
        if t.name not in state and (cycle := visit(t.name, [])):
            start = cycle.index(cycle[-1])
            loop = " -> ".join(reversed(cycle[start:]))
            ck.add(f"dependency cycle: {loop}", task=t.name, field="depends", path=("tasks", i, "depends"))
            return


def _absolute_artifact(task: Task, base: Path, index: int, ck: _Checker) -> Task:
    """A task whose model names an `artifact:` path gets it absolute (relative to the flow file)."""
    artifact = (task.model or {}).get("artifact")
    if not isinstance(artifact, str):
        return task
    where = Path(artifact) if Path(artifact).is_absolute() else base / artifact
    if not where.exists():
        ck.add(f"artifact {artifact!r} not found (looked at {where})", task=task.name, field="model.artifact",
               path=("tasks", index, "model", "artifact"))
        return task
    return replace(task, model={**dict(task.model or {}), "artifact": str(where)})


def parse_flow(text: str, *, source: str | None = None, path: Path | None = None) -> Flow:
    """Parse and validate flow YAML text; raise FlowInvalid with every problem found."""
    try:
        # The catalog's safe loader first: it refuses python tags, anchor bombs and recursive
        # aliases (which the line-number walk below would otherwise follow without end).
        data = load_yaml_text(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (YamlRefused, yaml.YAMLError) as refused:
        e = refused.__cause__ if isinstance(refused.__cause__, yaml.YAMLError) else refused
        if isinstance(e, YamlRefused):
            raise FlowInvalid([FlowProblem(f"refused YAML: {e}")], source=source) from e
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise FlowInvalid([FlowProblem(f"not valid YAML: {getattr(e, 'problem', e)}", line=line)], source=source) from e
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _positions(node, (), lines)
    ck = _Checker(lines)
    if not isinstance(data, dict):
        raise FlowInvalid([FlowProblem("a flow file is a mapping with `name` and `tasks`", line=1)], source=source)
    for key in data:
        if key not in _FLOW_FIELDS:
            ck.add(f"unknown top-level field (known: {', '.join(sorted(_FLOW_FIELDS))})", task=None, field=str(key), path=(key,))
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        ck.add("flow name is required: lowercase letters, digits and '-'", task=None, field="name", path=("name",))
    raw_tasks = data.get("tasks")
    tasks: list[Task] = []
    if not isinstance(raw_tasks, list) or not raw_tasks:
        ck.add("tasks must be a non-empty list", task=None, field="tasks", path=("tasks",))
    else:
        image = str(data.get("image") or "python:3.11-slim")
        base = path.parent if path is not None else Path.cwd()
        for i, raw in enumerate(raw_tasks):
            t = _parse_task(raw, i, ck, image)
            if t is not None:
                tasks.append(_absolute_artifact(t, base, i, ck))
        if not ck.problems:
            _check_graph(tasks, ck)
    if ck.problems:
        raise FlowInvalid(ck.problems, source=source)
    return Flow(
        name=str(name),
        tasks=tuple(tasks),
        path=path,
        digest=document_digest(data),
        document=data,
        image=str(data.get("image") or "python:3.11-slim"),
        description=data.get("description"),
    )


def load_flow(path: str | Path) -> Flow:
    """Read and validate a flow file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise FlowInvalid([FlowProblem(f"cannot read flow file: {e.strerror}")], source=str(p)) from e
    return parse_flow(text, source=str(p), path=p.absolute())
