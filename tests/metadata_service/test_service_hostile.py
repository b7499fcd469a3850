"""Hostile input against the HTTP API, on SQLite and PostgreSQL (issue: hostile input and faults).

Each test here failed on the code before its fix: a pre-auth quadratic depth check, a node that
poisoned every selection, database errors surfacing as 500, non-finite numbers reaching the solver.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from metadata_service.middleware import MAX_JSON_DEPTH, json_depth

from .conftest import node_entry

MODEL = {"name": "m", "framework": "pytorch", "framework_version": ">=2.0", "python": ">=3.10"}


# -- 1. the nesting pre-check is linear and runs before auth without cost ---------------------------
@pytest.mark.parametrize(
    "body,depth",
    [
        (b"{}", 1),
        (b'{"a": "[[[[", "b": [1, {"c": "]]]"}]}', 3),
        (b'{"a": "x\\"[[[", "b": [[]]}', 3),
        (b'["\\\\", ["\\\\"]]', 2),
        (b'"[[[[[', 0),  # an unterminated string hides the rest
        (b"[" * 100 + b"]" * 100, 100),
        (b"no json at all", 0),
    ],
)
def test_json_depth_ignores_brackets_in_strings(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_hostile_escapes_are_checked_in_linear_time(client: Any) -> None:
    # `{"` then N copies of `\"`: the old check rescanned to the end at every quote (O(N^2)):
    # 64 KB held the event loop for ~18 s. 256 KB must be answered at once, without a token.
    body = b'{"' + b'\\"' * (128 * 1024)
    started = time.perf_counter()
    r = client.post("/v1/select", content=body, headers={"Content-Type": "application/json"})
    elapsed = time.perf_counter() - started
    assert 400 <= r.status_code < 500, r.text[:200]
    assert elapsed < 3.0, f"{elapsed:.1f} s for a 256 KB body"
    started = time.perf_counter()
    assert json_depth(body * 4) == 1
    assert time.perf_counter() - started < 3.0


def test_too_deep_body_is_refused(client: Any, tokens: Any) -> None:
    nested = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    r = client.post("/v1/select", content=b'{"model": ' + nested + b"}",
                    headers={**tokens.h("reader"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic eDp5"])
def test_without_a_valid_token_nothing_looks_at_the_body(
    client: Any, monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    from metadata_service import middleware

    looked: list[int] = []
    monkeypatch.setattr(middleware, "body_problem", lambda body: looked.append(len(body)))
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    body = b"[" * 100_000 + b"]" * 100_000  # also too deep for Python's own JSON parser
    for path in ("/v1/select", "/v1/flows", "/v1/nodes/node-a/heartbeat", "/v1/no-such-route"):
        method = "PUT" if path.endswith("heartbeat") else "POST"
        r = client.request(method, path, content=body, headers=headers)
        assert r.status_code == 401, (path, r.status_code, r.text[:200])
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert looked == []


# -- 2. a node the solver cannot understand never poisons the fleet ---------------------------------
def _beat(client: Any, tokens: Any, who: str, entry: dict[str, Any]) -> Any:
    return client.put(f"/v1/nodes/{entry['name']}/heartbeat", json={"node": entry}, headers=tokens.h(who))


def test_unknown_gpu_without_capability_is_refused_at_heartbeat(client: Any, tokens: Any) -> None:
    assert _beat(client, tokens, "agent", node_entry("node-a")).status_code == 200
    bad = node_entry("node-b", gpus=[{"product": "Mystery Accelerator 9000", "memory_mib": 1000, "count": 1}])
    r = _beat(client, tokens, "agent_b", bad)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "node.gpus[0].product"
    assert "Mystery Accelerator 9000" in r.json()["detail"]
    one = client.post("/v1/select", json={"model": MODEL}, headers=tokens.h("reader"))
    assert one.status_code == 200 and one.json()["feasible"], one.text
    batch = client.post("/v1/select/batch", json={"models": [MODEL]}, headers=tokens.h("reader"))
    assert batch.status_code == 200, batch.text


def test_catalog_that_drops_a_reported_product_excludes_the_node(client: Any, tokens: Any) -> None:
    import json

    import catalog

    # node-a reports an L4 by name only (the catalog supplies its compute capability) ...
    bare = node_entry("node-a", gpus=[{"product": "NVIDIA L4", "memory_mib": 23034, "count": 1}])
    assert _beat(client, tokens, "agent", bare).status_code == 200
    assert _beat(client, tokens, "agent_b", node_entry("node-b")).status_code == 200
    # ... then an admin uploads a catalog without the L4.
    docs = json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))
    docs["gpus.yaml"]["gpus"] = [g for g in docs["gpus.yaml"]["gpus"] if g["name"] != "NVIDIA L4"]
    r = client.put("/v1/catalog", json={"files": docs}, headers=tokens.h("admin"))
    assert r.status_code == 200, r.text[:300]
    one = client.post("/v1/select", json={"model": MODEL, "top": 5}, headers=tokens.h("reader"))
    assert one.status_code == 200, one.text
    answer = one.json()
    assert answer["feasible"] and answer["choice"]["node"] == "node-b"
    assert {a["node"] for a in answer["alternatives"]} <= {"node-b"}
    batch = client.post("/v1/select/batch", json={"models": [MODEL]}, headers=tokens.h("reader"))
    assert batch.status_code == 200, batch.text
    nodes = {n["name"]: n for n in client.get("/v1/nodes", headers=tokens.h("reader")).json()}
    assert nodes["node-b"]["excluded"] is None
    assert "gpus[0].product" in nodes["node-a"]["excluded"] and "NVIDIA L4" in nodes["node-a"]["excluded"]
    assert "NVIDIA L4" in client.get("/v1/nodes/node-a", headers=tokens.h("reader")).json()["excluded"]
    # and the agent's next full heartbeat with that GPU is refused, naming the field
    r = _beat(client, tokens, "agent", bare)
    assert r.status_code == 422 and r.json()["field"] == "node.gpus[0].product"


# -- 3. what PostgreSQL refuses is refused by the schema on both databases (never a 500) -----------
LONG = "9" * 300


def _gpu(**over: Any) -> dict[str, Any]:
    gpu = {"product": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9", "count": 1}
    gpu.update(over)
    return gpu


HEARTBEATS = {
    "driver_version too long": ({"driver_version": "5" * 70}, "node.driver_version"),
    "compute_capability too long": ({"gpus": [_gpu(compute_capability=LONG + ".0")]}, "node.gpus[0].compute_capability"),
    "cached component too long": ({"cached_components": ["cuda/" + LONG]}, "node.cached_components[0]"),
    "NUL in cluster": ({"cluster": "edge\x00x"}, "node.cluster"),
    "NUL in arch": ({"arch": "x86\x0064"}, "node.arch"),
    "NUL in product": ({"gpus": [_gpu(product="NVIDIA\x00L4")]}, "node.gpus[0].product"),
    "NUL in cached component": ({"cached_components": ["cuda/12\x00.4"]}, "node.cached_components[0]"),
}


@pytest.mark.parametrize("case", sorted(HEARTBEATS))
def test_heartbeat_fields_are_bounded(client: Any, tokens: Any, case: str) -> None:
    over, field = HEARTBEATS[case]
    r = _beat(client, tokens, "agent", node_entry("node-a", **over))
    assert r.status_code == 422, r.text[:300]
    assert r.json()["field"] == field, r.json()


FLOW_TASKS = {
    "task name too long": ({"t" * 300: {"state": "Running"}}, "tasks"),
    "task node too long": ({"t": {"state": "Running", "node": "n" * 300}}, "tasks.t.node"),
    "NUL in task name": ({"t\x00": {"state": "Running"}}, "tasks"),
    "NUL in message": ({"t": {"state": "Failed", "message": "bad\x00"}}, "tasks.t.message"),
    "NUL in log": ({"t": {"state": "Running", "log": "line\x00\n"}}, "tasks.t.log"),
}


@pytest.mark.parametrize("case", sorted(FLOW_TASKS))
def test_flow_fields_are_bounded(client: Any, tokens: Any, case: str) -> None:
    tasks, field = FLOW_TASKS[case]
    r = client.post("/v1/flows", json={"flow": "f", "tasks": tasks}, headers=tokens.h("admin"))
    assert r.status_code == 422, r.text[:300]
    assert r.json()["field"].startswith(field), r.json()


@pytest.mark.parametrize("value", ["f\x00", "f" * 300])
@pytest.mark.parametrize("key", ["flow", "digest", "backend"])
def test_flow_run_fields_are_bounded(client: Any, tokens: Any, key: str, value: str) -> None:
    body = {"flow": "f", key: value}
    r = client.post("/v1/flows", json=body, headers=tokens.h("admin"))
    assert r.status_code == 422 and r.json()["field"] == key, r.text[:300]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/a%00b",
        "/v1/nodes/a%00b",
        "/v1/flows/a%00b",
        "/v1/flows/x/tasks/a%00b/logs",
        "/v1/nodes?cluster=a%00b",
        "/v1/nodes?gpu=a%00b",
        "/v1/flows?flow=a%00b",
        "/v1/flows?digest=a%00b",
        "/v1/flows?state=a%00b",
        "/v1/inventory?cluster=a%00b",
        "/v1/catalog/components?name=a%00b",
        "/v1/models/" + "m" * 300,
    ],
)
def test_nul_and_overlong_in_paths_and_queries_are_4xx(client: Any, tokens: Any, path: str) -> None:
    r = client.get(path, headers=tokens.h("admin"))
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")


def test_nul_in_a_model_name_to_delete_is_4xx(client: Any, tokens: Any) -> None:
    r = client.delete("/v1/models/a%00b", headers=tokens.h("admin"))
    assert 400 <= r.status_code < 500, r.text[:300]


@pytest.mark.parametrize("name", ["a%00b", "n" * 300])
@pytest.mark.parametrize("body", [{"inventory_hash": "abcdef0123"}, {"node": None, "inventory_hash": "abcdef0123"}])
def test_heartbeat_path_is_bounded_in_the_lane_and_the_route(
    client: Any, tokens: Any, name: str, body: dict[str, Any]
) -> None:
    r = client.put(f"/v1/nodes/{name}/heartbeat", json=body, headers=tokens.h("admin"))
    assert r.status_code == 422 and r.json()["field"] == "name", r.text[:300]


def test_a_database_data_error_is_a_422_never_a_500() -> None:
    from sqlalchemy.exc import DataError

    from metadata_service.problems import unexpected_error_response

    error = DataError("INSERT INTO t VALUES (%(v)s)", {"v": "secret\x00"}, Exception("value too long"))
    response = unexpected_error_response(error, "POST", "/v1/flows")
    assert response.status_code == 422
    assert b"secret" not in response.body and b"INSERT" not in response.body


# -- 8. NaN, Infinity and numbers that do not fit never reach the solver or a JSON column ------------
HOSTILE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1E+400", "9" * 400]


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_in_a_selection_are_422(client: Any, tokens: Any, number: str) -> None:
    body = '{"model": {"name": "m", "framework": "pytorch", "min_gpu_memory_gib": NUMBER}}'.replace("NUMBER", number)
    r = client.post("/v1/select", content=body, headers={**tokens.h("reader"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("number", HOSTILE_NUMBERS)
def test_hostile_numbers_in_json_columns_are_422(client: Any, tokens: Any, number: str) -> None:
    body = '{"flow": "f", "meta": {"x": NUMBER}, "tasks": {"t": {"runtime": {"n": NUMBER}}}}'.replace("NUMBER", number)
    r = client.post("/v1/flows", content=body, headers={**tokens.h("admin"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    model = '{"name": "nan-model", "request": {"framework": "pytorch", "min_gpu_memory_gib": NUMBER}}'
    model = model.replace("NUMBER", number)
    r = client.post("/v1/models", content=model, headers={**tokens.h("admin"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    # nothing was registered, so selecting by that name is a plain 422 "no such model", not a 500
    r = client.post("/v1/select", json={"model_name": "nan-model"}, headers=tokens.h("reader"))
    assert r.status_code == 422 and r.json()["field"] == "model_name"


def test_a_5000_digit_top_is_422(client: Any, tokens: Any) -> None:
    body = '{"model": {"framework": "pytorch"}, "top": ' + "1" * 5000 + "}"
    r = client.post("/v1/select", content=body, headers={**tokens.h("reader"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]


def test_huge_but_finite_numbers_in_a_model_are_422_from_the_parser(client: Any, tokens: Any) -> None:
    r = client.post("/v1/select", json={"model": {"framework": "pytorch", "gpu_count": 10**18}},
                    headers=tokens.h("reader"))
    assert r.status_code == 422 and r.json()["field"] == "model.gpu_count", r.text[:300]


# -- 9. token revocation follows the tokens file's content, not its modification time ----------------
def _rewrite_keeping_mtime(path: Any, text: str) -> None:
    import os

    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # what cp -p, rsync -a and tar do


def test_revoked_token_is_refused_even_when_the_mtime_is_kept(
    client: Any, tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from metadata_service import auth

    monkeypatch.setattr(auth, "RELOAD_CHECK_S", 0.0)
    assert client.get("/v1/nodes", headers=tokens.h("reader")).status_code == 200
    data = yaml.safe_load(tokens.path.read_text())
    data["tokens"] = [t for t in data["tokens"] if t["name"] != "viewer"]
    _rewrite_keeping_mtime(tokens.path, yaml.safe_dump(data))
    r = client.get("/v1/nodes", headers=tokens.h("reader"))
    assert r.status_code == 401, r.text
    assert client.get("/v1/nodes", headers=tokens.h("admin")).status_code == 200


def test_bad_or_deleted_tokens_file_is_logged_and_deleted_revokes(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import hashlib

    from metadata_service import auth
    from metadata_service.errors import Unauthorized

    monkeypatch.setattr(auth, "RELOAD_CHECK_S", 0.0)
    path = tmp_path / "tokens.yaml"
    good = "tokens: [{name: ops, role: admin, sha256: " + hashlib.sha256(b"s3cret-token").hexdigest() + "}]\n"
    path.write_text(good)
    store = auth.TokenStore(path)
    assert store.authenticate("Bearer s3cret-token").name == "ops"
    _rewrite_keeping_mtime(path, "tokens: [{name: ops, role: root}]\n")  # invalid: kept, and said so
    with caplog.at_level("ERROR", logger="metadata_service"):
        assert store.authenticate("Bearer s3cret-token").name == "ops"
        store.authenticate("Bearer s3cret-token")
    invalid = [r for r in caplog.records if "is invalid" in r.getMessage()]
    assert len(invalid) == 1 and "1 tokens loaded before stay in force" in invalid[0].getMessage()
    caplog.clear()
    path.unlink()  # deleted: every token is refused until it is back, and said so
    with caplog.at_level("ERROR", logger="metadata_service"):
        with pytest.raises(Unauthorized):
            store.authenticate("Bearer s3cret-token")
    assert any("every token is refused" in r.getMessage() for r in caplog.records)
    path.write_text(good)
    assert store.authenticate("Bearer s3cret-token").name == "ops"
