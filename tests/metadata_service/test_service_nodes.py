"""Heartbeats (full and liveness), node listings, staleness and the inventory revision."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from metadata_service.storage.nodes import inventory_hash

from .conftest import FakeClock, Tokens, node_entry


def _beat(client: TestClient, tokens: Tokens, body: dict[str, Any], node: str = "node-a", who: str = "agent") -> Any:
    return client.put(f"/v1/nodes/{node}/heartbeat", json=body, headers=tokens.h(who))


def _revision(client: TestClient, tokens: Tokens) -> int:
    return client.get("/v1/inventory", headers=tokens.h("reader")).json()["inventory_revision"]


def test_full_then_liveness_heartbeat(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    entry = node_entry()
    r = _beat(client, tokens, {"node": entry})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["registered"] and first["changed"]
    assert first["inventory_hash"] == inventory_hash(entry)
    clock.advance(10)
    r = _beat(client, tokens, {"node": None, "inventory_hash": first["inventory_hash"]})
    assert r.status_code == 200, r.text
    assert not r.json()["changed"] and not r.json()["registered"]
    node = client.get("/v1/nodes/node-a", headers=tokens.h("reader")).json()
    assert node["beats"] == 2
    assert node["last_seen"] == clock.now
    assert node["gpus"][0]["product"] == "NVIDIA L4"
    assert node["cached_components"] == ["cuda/12.4.1", "python/3.11.9"]
    assert node["stale"] is False


def test_agent_supplied_hash_is_kept(client: TestClient, tokens: Tokens) -> None:
    digest = "ab" * 32
    r = _beat(client, tokens, {"node": node_entry(), "inventory_hash": digest})
    assert r.json()["inventory_hash"] == digest
    assert _beat(client, tokens, {"node": None, "inventory_hash": digest}).status_code == 200
    r = _beat(client, tokens, {"node": None, "inventory_hash": inventory_hash(node_entry())})
    assert r.status_code == 409


def test_liveness_for_unknown_node_is_409(client: TestClient, tokens: Tokens) -> None:
    r = _beat(client, tokens, {"node": None, "inventory_hash": "0" * 64})
    assert r.status_code == 409
    body = r.json()
    assert body["reason"] == "unknown-node"
    assert "full inventory" in body["detail"]
    assert body["type"].endswith("/inventory-needed")


def test_liveness_with_other_hash_is_409_and_full_resend_fixes_it(client: TestClient, tokens: Tokens) -> None:
    _beat(client, tokens, {"node": node_entry()})
    r = _beat(client, tokens, {"node": None, "inventory_hash": "f" * 64})
    assert r.status_code == 409
    assert r.json()["reason"] == "hash-mismatch"
    changed = node_entry(driver_version="555.42.02")
    r = _beat(client, tokens, {"node": changed})
    assert r.status_code == 200 and r.json()["changed"]
    assert client.get("/v1/nodes/node-a", headers=tokens.h("reader")).json()["driver_version"] == "555.42.02"


def test_revision_bumps_only_on_content_or_availability_change(
    client: TestClient, tokens: Tokens, clock: FakeClock
) -> None:
    r0 = _revision(client, tokens)
    digest = _beat(client, tokens, {"node": node_entry()}).json()["inventory_hash"]
    r1 = _revision(client, tokens)
    assert r1 == r0 + 1
    _beat(client, tokens, {"node": None, "inventory_hash": digest})
    _beat(client, tokens, {"node": node_entry()})  # same content again
    agent_detail = node_entry(agent={"hostname": "x", "devices": [{"memory_used_mib": 5}]})
    _beat(client, tokens, {"node": agent_detail})  # only agent detail differs
    assert _revision(client, tokens) == r1
    _beat(client, tokens, {"node": node_entry(labels={"zone": "b"})})
    r2 = _revision(client, tokens)
    assert r2 == r1 + 1
    clock.advance(61)
    r3 = _revision(client, tokens)  # the sweep marks node-a unavailable
    assert r3 == r2 + 1
    digest = client.get("/v1/nodes/node-a", headers=tokens.h("reader")).json()["inventory_hash"]
    r = _beat(client, tokens, {"node": None, "inventory_hash": digest})
    assert r.status_code == 200 and r.json()["revived"]
    assert _revision(client, tokens) == r3 + 1


def test_stale_nodes_are_flagged_and_left_out_of_the_inventory(
    client: TestClient, tokens: Tokens, clock: FakeClock
) -> None:
    _beat(client, tokens, {"node": node_entry("node-a")})
    clock.advance(50)
    _beat(client, tokens, {"node": node_entry("node-b")}, node="node-b", who="agent_b")
    clock.advance(20)  # node-a: 70 s silent (> 60), node-b: 20 s
    nodes = {n["name"]: n for n in client.get("/v1/nodes", headers=tokens.h("reader")).json()}
    assert nodes["node-a"]["stale"] is True and nodes["node-b"]["stale"] is False
    assert nodes["node-a"]["age_s"] == 70
    live = client.get("/v1/nodes?stale=false", headers=tokens.h("reader")).json()
    assert [n["name"] for n in live] == ["node-b"]
    inventory = client.get("/v1/inventory", headers=tokens.h("reader")).json()
    assert [n["name"] for n in inventory["nodes"]] == ["node-b"]
    assert set(inventory["nodes"][0]) <= {"name", "cluster", "arch", "driver_version", "gpus", "cached_components", "labels"}


def test_node_listing_filters(client: TestClient, tokens: Tokens) -> None:
    _beat(client, tokens, {"node": node_entry("node-a")})
    _beat(
        client,
        tokens,
        {"node": node_entry("node-b", cluster="cloud", gpus=[{"product": "NVIDIA H100 80GB HBM3", "count": 8}])},
        node="node-b",
        who="agent_b",
    )
    by = lambda q: [n["name"] for n in client.get(f"/v1/nodes?{q}", headers=tokens.h("reader")).json()]  # noqa: E731
    assert by("cluster=cloud") == ["node-b"]
    assert by("gpu=h100") == ["node-b"]
    assert by("gpu=l4") == ["node-a"]
    assert by("limit=1") == ["node-a"]
    assert by("limit=1&offset=1") == ["node-b"]


def test_unknown_node_is_404_problem(client: TestClient, tokens: Tokens) -> None:
    r = client.get("/v1/nodes/nope", headers=tokens.h("reader"))
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]


def test_bad_heartbeat_bodies_name_the_field(client: TestClient, tokens: Tokens) -> None:
    cases = [
        ({"node": node_entry(gpus=[{"product": "NVIDIA L4", "count": 0}])}, "node.gpus[0].count"),
        ({"node": node_entry(gpus=[{"product": "NVIDIA L4", "count": 1, "free": 3}])}, "node.gpus[0]"),
        ({"node": {k: v for k, v in node_entry().items() if k != "arch"}}, "node.arch"),
        ({"node": node_entry(driver_version="latest")}, "node.driver_version"),
        ({"node": node_entry(name="node-z")}, "node.name"),
        ({"node": None, "inventory_hash": "xyz"}, "inventory_hash"),
        ({"node": None}, "body"),
        ({"node": node_entry(), "extra": 1}, "extra"),
    ]
    for body, field in cases:
        r = _beat(client, tokens, body)
        assert r.status_code == 422, (body, r.text)
        problem = r.json()
        assert problem["field"] == field, (field, problem)
        assert problem["status"] == 422 and problem["detail"]


def test_heartbeat_batch_outcomes_are_per_node(client: TestClient, tokens: Tokens) -> None:
    """Concurrent liveness pings share commits but each gets its own answer."""
    import concurrent.futures

    digest = _beat(client, tokens, {"node": node_entry("node-a")}).json()["inventory_hash"]

    def ping(i: int) -> int:
        if i % 2:
            return _beat(client, tokens, {"node": None, "inventory_hash": digest}).status_code
        return _beat(client, tokens, {"node": None, "inventory_hash": "e" * 64}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(ping, range(40)))
    assert codes == [409 if i % 2 == 0 else 200 for i in range(40)]
    assert client.get("/v1/nodes/node-a", headers=tokens.h("reader")).json()["beats"] == 21


def test_one_liveness_batch_with_every_kind_of_ping(db_url: str) -> None:
    """One batch (SQLite: on the loop; PostgreSQL: one async statement + the slow path) answers each ping."""
    import asyncio

    from metadata_service.db import Database, init_db
    from metadata_service.errors import InventoryOutOfDate
    from metadata_service.heartbeats import HeartbeatService
    from metadata_service.metrics import Metrics
    from metadata_service.schemas import HeartbeatCreate
    from metadata_service.storage import nodes as node_store

    db = Database(db_url)
    now = [1000.0]
    assert (db.write_lock is not None) == db_url.startswith("sqlite")  # the path under test
    assert (db.async_writer is not None) == db_url.startswith("postgresql")
    try:
        init_db(db)
        digests = {}
        for name, at in (("node-b", 1000.0), ("node-a", 1090.0)):
            entry = node_entry(name)
            digests[name] = node_store.inventory_hash(entry)
            with db.write_session() as session:
                node_store.record_full(session, entry=entry, digest=digests[name], now=at)
        now[0] = 1100.0
        with db.write_session() as session:  # node-b goes stale
            node_store.sweep_stale(session, now=now[0], ttl_s=60.0)
            session.commit()
        service = HeartbeatService(
            db, metrics=Metrics(stale_nodes=lambda: 0), clock=lambda: now[0], batch_s=0.05
        )
        pings = [
            ("node-a", digests["node-a"]),  # renewed
            ("node-a", digests["node-a"]),  # the same node twice in one batch: both renewed
            ("node-a", "e" * 64),  # another hash: 409
            ("node-z", digests["node-a"]),  # unknown: 409
            ("node-b", digests["node-b"]),  # stale, coming back: revived
        ]

        async def main() -> list[Any]:
            try:
                return await asyncio.gather(
                    *(service.receive(n, HeartbeatCreate(node=None, inventory_hash=d)) for n, d in pings),
                    return_exceptions=True,
                )
            finally:
                await db.dispose_async()

        results = asyncio.run(main())
        ok_a, ok_a2, other, unknown, revived = results
        assert ok_a.problem is None and ok_a2.problem is None and not ok_a.revived
        assert isinstance(other, InventoryOutOfDate) and other.problem()["reason"] == "hash-mismatch"
        assert isinstance(unknown, InventoryOutOfDate) and unknown.problem()["reason"] == "unknown-node"
        assert revived.revived and revived.inventory_revision is not None
        with db.read_session() as session:
            views = {v.node.name: v for v in node_store.list_nodes(session)}
        assert views["node-a"].beats == 3 and views["node-a"].last_seen == 1100.0
        assert views["node-b"].beats == 2 and views["node-b"].available
    finally:
        db.dispose()
