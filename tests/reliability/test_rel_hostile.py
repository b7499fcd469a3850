"""Hostile and bad input: schema-driven fuzzing of the whole HTTP API (schemathesis, on SQLite and
PostgreSQL, NUL bytes allowed, answers checked against the OpenAPI document), oversized and
deeply nested bodies, path traversal, shell strings, string-built SQL, SQL-injection-looking
names, and YAML tricks in catalog and flow files.
"""

from __future__ import annotations

import ast
import atexit
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from rel_support import REPO, load_test, require_pg, token_entry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from catalog.yamlio import YamlRefused, load_yaml_text
from metadata_service.app import create_app
from metadata_service.settings import Settings
from workflow.errors import FlowInvalid, InvalidComponentName
from workflow.flow import parse_flow
from workflow.store.layout import RuntimeStore

PACKAGES = ("catalog", "solver", "metadata_service", "node_agent", "workflow", "rtfit", "service_protocol")

# -- one app for the module (the plain tests below use the SQLite one) --------------------------------
_TMP = Path(tempfile.mkdtemp(prefix="rtfit-hostile-"))
ADMIN, _admin_entry = token_entry("fuzz-admin", "admin")
(_TMP / "tokens.yaml").write_text(yaml.safe_dump({"tokens": [_admin_entry]}))
APP = create_app(Settings(database_url=f"sqlite:///{_TMP / 'fuzz.db'}", tokens_file=_TMP / "tokens.yaml",
                          max_body_bytes=256 * 1024))
_CLIENT = TestClient(APP, raise_server_exceptions=False)
_CLIENT.__enter__()  # run the lifespan once: schema migrated, catalog stored
AUTH = {"Authorization": f"Bearer {ADMIN}"}


# -- schemathesis on both databases, NUL bytes allowed, conformance checks on -------------------------
# Operations whose input is checked beyond its JSON schema (a whole catalog; a Contract 1 model
# request, checked by the solver; a node inventory checked against the URL and the active catalog;
# a framework name that must be in the active catalog; a flow run, whose free-form `meta`, `spec`
# and task `runtime` objects can hold numbers, and the body pre-check refuses numbers with more
# than 19 digits before the point, which JSON Schema cannot say of a free-form value — the fuzzer
# sent one, 2648103376860343173120, and got the documented 422): the schema cannot say everything
# they refuse, so "schema-valid data is accepted" is not asked of them. Every other check runs on
# every operation.
DOCUMENT_CHECKED = {("PUT", "/v1/catalog"), ("POST", "/v1/models"), ("POST", "/v1/select"),
                    ("POST", "/v1/select/batch"), ("PUT", "/v1/nodes/{name}/heartbeat"), ("GET", "/ui/api/matrix"),
                    ("POST", "/v1/flows")}
def _pg_reachable() -> bool:
    try:
        require_pg()
    except BaseException:  # pytest's Skipped/Failed are BaseExceptions
        return False
    return True


CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
               response_headers_conformance]


def _fuzz_schema(app: Any) -> Any:
    api = schemathesis.openapi.from_asgi("/openapi.json", app)
    api.config.generation.update(allow_x00=True)  # NUL characters in every generated string
    return api


def _check(case: Any) -> None:
    checks = list(CONFORMANCE)
    if (case.method.upper(), case.path) not in DOCUMENT_CHECKED:
        checks.append(positive_data_acceptance)
    case.call_and_validate(headers=AUTH, checks=checks)


# schemathesis needs the apps at import time: the PostgreSQL one gets a fresh schema now (dropped at exit).
sqlite_schema = _fuzz_schema(APP)
_PG_URL = None
if _pg_reachable():
    _PG_SCHEMA = f"fuzz_{uuid.uuid4().hex[:10]}"
    load_test._pg_schema(True, _PG_SCHEMA)
    atexit.register(load_test._pg_schema, False, _PG_SCHEMA)
    _PG_URL = load_test.pg_url_for(_PG_SCHEMA)
    PG_APP = create_app(Settings(database_url=_PG_URL, tokens_file=_TMP / "tokens.yaml", max_body_bytes=256 * 1024))
    _PG_CLIENT = TestClient(PG_APP, raise_server_exceptions=False)
    _PG_CLIENT.__enter__()
    postgres_schema = _fuzz_schema(PG_APP)
else:
    postgres_schema = sqlite_schema  # the PostgreSQL test skips itself


@pytest.mark.slow
@sqlite_schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_api_conforms_on_sqlite(case: Any) -> None:
    _check(case)


@pytest.mark.slow
@pytest.mark.postgres
@postgres_schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_api_conforms_on_postgres(case: Any) -> None:
    if _PG_URL is None:
        require_pg()  # skips (or fails with RTFIT_REQUIRE_POSTGRES=1)
    _check(case)


# -- oversized and deeply nested bodies --------------------------------------------------------------
def test_oversized_bodies_are_413() -> None:
    big = b'{"flow": "x", "meta": {"pad": "' + b"a" * (300 * 1024) + b'"}}'
    r = _CLIENT.post("/v1/flows", content=big, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 413
    chunked = _CLIENT.post("/v1/flows", content=iter([big[:100_000], big[100_000:]]),
                           headers={**AUTH, "Content-Type": "application/json"})
    assert chunked.status_code == 413  # no Content-Length: refused while reading


@pytest.mark.parametrize("depth", [65, 300, 900, 5000, 100_000])
@pytest.mark.parametrize("route", ["/v1/flows", "/v1/select", "/v1/models"])
def test_deeply_nested_json_is_4xx(route: str, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = {"/v1/flows": '{"flow":"x","meta":{"a":%s}}', "/v1/select": '{"model":{"x":%s}}',
            "/v1/models": '{"name":"n","request":{"x":%s}}'}[route] % nested
    r = _CLIENT.post(route, content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, (depth, r.status_code, r.text[:200])


def test_moderately_nested_json_round_trips() -> None:
    nested: Any = "leaf"
    for _ in range(40):
        nested = [nested]
    r = _CLIENT.post("/v1/flows", json={"flow": "nest", "meta": {"deep": nested}}, headers=AUTH)
    assert r.status_code == 201 and r.json()["meta"]["deep"] == nested


# -- SQL: parameterised only, and injection-looking names are just names -----------------------------
INJECTIONS = ["x'; DROP TABLE nodes; --", 'a" OR "1"="1', "r%' OR 1=1 --", "t\\'; SELECT pg_sleep(5); --"]


def test_sql_injection_looking_values_round_trip_harmlessly() -> None:
    for i, value in enumerate(INJECTIONS):
        run = _CLIENT.post("/v1/flows", json={"flow": f"inj-{i}", "meta": {"who": value},
                                              "tasks": {"t": {"state": "Running", "message": value, "log": value}}},
                           headers=AUTH)
        assert run.status_code == 201, run.text
        rid = run.json()["id"]
        got = _CLIENT.get(f"/v1/flows/{rid}", headers=AUTH).json()
        assert got["meta"]["who"] == value and got["tasks"]["t"]["message"] == value
        assert _CLIENT.get(f"/v1/flows/{rid}/tasks/t/logs", headers=AUTH).text == value
        listed = _CLIENT.get("/v1/flows", params={"flow": value, "state": value, "digest": value}, headers=AUTH)
        assert listed.status_code == 200 and listed.json() == []
        nodes = _CLIENT.get("/v1/nodes", params={"cluster": value, "gpu": value}, headers=AUTH)
        assert nodes.status_code == 200 and nodes.json() == []
        assert _CLIENT.get("/v1/models/" + value.replace("/", ""), headers=AUTH).status_code in (404, 422)
    # the tables are all still there
    assert _CLIENT.get("/v1/nodes", headers=AUTH).status_code == 200
    assert _CLIENT.get("/readyz").status_code == 200


def _py_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if "migrations" not in p.parts]


def test_no_string_built_sql_in_text_calls() -> None:
    """`text()`/`exec_driver_sql()`/`execute()` take literals; values go in as bound parameters."""
    offenders = []
    for path in _py_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name not in ("text", "exec_driver_sql", "execute", "executescript", "executemany"):
                continue
            arg = node.args[0]
            built = isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Mod | ast.Add) or (
                isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "format")
            if isinstance(arg, ast.JoinedStr):
                # f-strings are allowed only to splice constants (PRAGMA values, column lists), never
                # a name that reads like user input
                inputs = {n.id for v in arg.values if isinstance(v, ast.FormattedValue) for n in ast.walk(v)
                          if isinstance(n, ast.Name)}
                built = bool(inputs & {"name", "value", "flow", "node", "run_id", "task", "query", "user", "body"})
            if built:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, f"SQL built from strings: {offenders}"


# -- commands: argument lists, never a shell ---------------------------------------------------------
def test_no_shell_in_subprocess_calls() -> None:
    offenders = []
    for path in _py_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = f"{getattr(func.value, 'id', '')}.{func.attr}" if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
            if name.startswith("subprocess.") or name in ("Popen", "run", "check_output", "check_call", "call"):
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        offenders.append(f"{path.relative_to(REPO)}:{node.lineno} shell=")
                if name.startswith("subprocess.") and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} string command")
    assert not offenders, offenders


def test_flow_commands_must_be_argument_lists() -> None:
    with pytest.raises(FlowInvalid, match="argv"):
        parse_flow("name: f\ntasks:\n  - name: t\n    command: \"echo hi; rm -rf /\"\n")
    flow = parse_flow("name: f\ntasks:\n  - name: t\n    command: [echo, \"$(id); rm -rf /\"]\n")
    assert flow.tasks[0].command == ("echo", "$(id); rm -rf /")  # one argument, never interpreted


# -- path traversal ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../etc", "..", "a/b", "/abs", ".hidden", "-rf", "x\\..\\y", "a\x00b"])
def test_store_refuses_traversal_in_component_names(tmp_path: Path, bad: str) -> None:
    store = RuntimeStore(tmp_path / "store")
    with pytest.raises(InvalidComponentName):
        store.folder(bad, "1.0")
    with pytest.raises(InvalidComponentName):
        store.folder("cuda", bad)


@pytest.mark.parametrize("workdir", ["../outside", "/etc", "a/../../b", "~/x", "..\\x"])
def test_flow_workdir_cannot_leave_the_flow_folder(workdir: str) -> None:
    text = f"name: f\ntasks:\n  - name: t\n    command: [pwd]\n    workdir: {workdir!r}\n"
    with pytest.raises(FlowInvalid, match="workdir"):
        parse_flow(text)


@pytest.mark.parametrize("field,value", [("name", "../x"), ("runtime", {"../../etc": "1"})])
def test_flow_names_and_runtime_refuse_traversal(field: str, value: Any) -> None:
    task: dict[str, Any] = {"name": "t", "command": ["true"]}
    if field == "name":
        task["name"] = value
    else:
        task["runtime"] = value
    with pytest.raises(FlowInvalid):
        parse_flow(yaml.safe_dump({"name": "f", "tasks": [task]}))


# -- YAML tricks ----------------------------------------------------------------------------------
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))
RECURSIVE = "name: f\ntasks: &t\n  - name: t\n    command: *t\n"
PYTAG = "name: f\ntasks:\n  - name: t\n    command: !!python/object/apply:os.system [\"id\"]\n"
PYNAME = "name: !!python/name:os.system\ntasks: []\n"


@pytest.mark.parametrize("text", [BOMB, RECURSIVE, PYTAG, PYNAME], ids=["bomb", "recursive", "pytag", "pyname"])
def test_yaml_tricks_refused_for_catalog_and_flows(text: str) -> None:
    with pytest.raises(YamlRefused):
        load_yaml_text(text)
    with pytest.raises(FlowInvalid):
        parse_flow(text if text is not BOMB else "name: f\ntasks:\n  - name: t\n    command: [true]\n" + BOMB)
