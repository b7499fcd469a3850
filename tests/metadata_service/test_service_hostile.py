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


def test_too_deep_body_is_refused_before_auth(client: Any) -> None:
    nested = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    r = client.post("/v1/select", content=b'{"model": ' + nested + b"}", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "body"


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
