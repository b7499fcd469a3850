"""Full-inventory registration in batches: the same outcomes and stored rows as one by one, a
fixed handful of statements per batch, and one transaction for heartbeats that arrive together."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import event, text

import catalog
from metadata_service.db import Database, init_db
from metadata_service.errors import InvalidInput
from metadata_service.heartbeats import HeartbeatService
from metadata_service.metrics import Metrics
from metadata_service.schemas import HeartbeatCreate
from metadata_service.storage import nodes as node_store

from .conftest import node_entry


def _seed(db: Database) -> None:
    """a, b, c, d registered at 1000; a then goes stale (unavailable)."""
    for name in ("node-a", "node-b", "node-c", "node-d"):
        entry = node_entry(name)
        with db.write_session() as session:
            node_store.record_full(session, entry=entry, digest=node_store.inventory_hash(entry), now=1000.0)
    with db.write_session() as session:
        assert node_store.sweep_stale(session, now=1000.0, ttl_s=-1.0) == 4  # all stale ...
    for name in ("node-b", "node-c", "node-d"):  # ... and three of them back (one by one, revived)
        entry = node_entry(name)
        with db.write_session() as session:
            node_store.record_full(session, entry=entry, digest=node_store.inventory_hash(entry), now=1001.0)


def _items() -> list[tuple[dict[str, Any], str]]:
    """Every kind of full heartbeat, with repeats of one node inside the batch."""
    h100 = [{"product": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0", "count": 8}]
    entries = [
        node_entry("node-a"),  # unchanged content, but unavailable: revived
        node_entry("node-b"),  # unchanged
        node_entry("node-c", agent={"version": "2"}),  # agent detail only: stored, no bump
        node_entry("node-d", gpus=h100, cached_components=[]),  # content changed
        node_entry("node-e"),  # new
        node_entry("node-e"),  # the same again in the same batch: unchanged
        node_entry("node-f", cached_components=["python/3.12.1", "cuda/12.4.1", "python/3.12.1"]),  # new
        node_entry("node-e", labels={"zone": "b"}),  # third time: changed
        node_entry("node-b", driver_version="560.35.03"),  # b again: changed
    ]
    return [(e, node_store.inventory_hash(e)) for e in entries]


def _state(db: Database) -> dict[str, Any]:
    queries = {
        "nodes": "SELECT name, cluster, arch, driver_version, labels, entry, inventory_hash, registered_at, "
        "updated_at FROM nodes ORDER BY name",
        "gpus": "SELECT node, position, product, memory_mib, compute_capability, count, free FROM node_gpus "
        "ORDER BY node, position",
        "components": "SELECT node, component FROM node_components ORDER BY node, component",
        "leases": "SELECT node, inventory_hash, last_seen, beats, available FROM heartbeats ORDER BY node",
        "revision": "SELECT revision, changed_at FROM inventory_state",
    }
    with db.read_session() as session:
        conn = session.connection()
        out = {}
        for key, sql in queries.items():
            rows = []
            for row in conn.execute(text(sql)):
                # JSON columns come back as text on SQLite through text(): compare the values
                rows.append(tuple(json.loads(v) if isinstance(v, str) and v[:1] == "{" else v for v in row))
            out[key] = rows
        return out


def test_a_batch_stores_what_one_by_one_stores(db_url: str, tmp_path: Any) -> None:
    one_url = db_url if not db_url.startswith("sqlite") else f"sqlite:///{tmp_path / 'one.db'}"
    many_url = db_url if not db_url.startswith("sqlite") else f"sqlite:///{tmp_path / 'many.db'}"
    if not db_url.startswith("sqlite"):  # one schema: run one way, read, wipe, run the other way
        pytest.importorskip("psycopg")
    results: dict[str, Any] = {}
    for mode, url in (("one", one_url), ("many", many_url)):
        db = Database(url)
        try:
            init_db(db)
            if mode == "many" and url == one_url:
                with db.write_session() as session:
                    for table in ("node_components", "node_gpus", "heartbeats", "nodes"):
                        session.execute(text(f"DELETE FROM {table}"))
                    session.execute(text("UPDATE inventory_state SET revision = 0, changed_at = 0"))
                    session.commit()
            _seed(db)
            items = _items()
            if mode == "one":
                outcomes = []
                for entry, digest in items:
                    with db.write_session() as session:
                        outcomes.append(node_store.record_full(session, entry=entry, digest=digest, now=2000.0))
            else:
                with db.write_session() as session:
                    outcomes = node_store.record_full_batch(session, items=items, now=2000.0)
            results[mode] = (outcomes, _state(db))
        finally:
            db.dispose()
    one, many = results["one"], results["many"]
    assert many[0] == one[0]
    assert many[1] == one[1]
    # and what they are: seeded to revision 8 (4 registrations, 1 sweep, 3 revivals)
    flags = [(o.node, o.changed, o.registered, o.revived, o.inventory_revision) for o in many[0]]
    assert flags == [
        ("node-a", False, False, True, 9),
        ("node-b", False, False, False, 9),
        ("node-c", False, False, False, 9),
        ("node-d", True, False, False, 10),
        ("node-e", True, True, False, 11),
        ("node-e", False, False, False, 11),
        ("node-f", True, True, False, 12),
        ("node-e", True, False, False, 13),
        ("node-b", True, False, False, 14),
    ]
    state = many[1]
    assert state["revision"] == [(14, 2000.0)]
    assert ("node-d", 0, "NVIDIA H100 80GB HBM3", 81559, "9.0", 8, 8) in state["gpus"]
    assert [g for g in state["gpus"] if g[0] == "node-d"] == [("node-d", 0, "NVIDIA H100 80GB HBM3", 81559, "9.0", 8, 8)]
    assert [c for c in state["components"] if c[0] in ("node-d", "node-f")] == [
        ("node-f", "cuda/12.4.1"),
        ("node-f", "python/3.12.1"),
    ]
    beats = {lease[0]: lease[3] for lease in state["leases"]}
    assert beats == {"node-a": 2, "node-b": 4, "node-c": 3, "node-d": 3, "node-e": 3, "node-f": 1}
    entry_c = next(n[5] for n in state["nodes"] if n[0] == "node-c")
    assert entry_c["agent"] == {"version": "2"}


def _count_statements(db: Database) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA")):
            seen.append(statement.split(None, 3)[0:3][-1])

    event.listen(db.writer, "before_cursor_execute", count)
    return seen


def test_heartbeats_arriving_together_share_one_transaction(db_url: str) -> None:
    """60 registrations at once: a few statements in all, not ~10 per node (the ORM path made 600+)."""
    db = Database(db_url)
    try:
        init_db(db)
        statements = _count_statements(db)
        commits: list[int] = []
        event.listen(db.writer, "commit", lambda _conn: commits.append(1))
        service = HeartbeatService(db, metrics=Metrics(stale_nodes=lambda: 0), clock=lambda: 5000.0, batch_s=0.05)
        entries = [node_entry(f"n-{i:03d}", cached_components=["cuda/12.4.1"] if i % 2 else []) for i in range(60)]

        async def main() -> list[Any]:
            try:
                return await asyncio.gather(
                    *(service.receive(e["name"], HeartbeatCreate.model_validate({"node": e})) for e in entries)
                )
            finally:
                await db.dispose_async()

        outcomes = asyncio.run(main())
        assert [o.node for o in outcomes] == [e["name"] for e in entries]
        assert all(o.registered and o.changed for o in outcomes)
        assert sorted(o.inventory_revision for o in outcomes) == list(range(1, 61))
        assert len(commits) == 1
        assert len(statements) <= 10, statements
        with db.read_session() as session:
            assert node_store.inventory_revision(session) == 60
            assert len(node_store.live_entries(session)) == 60
    finally:
        db.dispose()


def test_a_refused_inventory_leaves_the_rest_of_its_batch_stored(db_url: str) -> None:
    """A GPU the active catalog cannot resolve is 422 for that heartbeat only."""
    db = Database(db_url)
    bundled = catalog.load_catalog()
    try:
        init_db(db)
        service = HeartbeatService(
            db, metrics=Metrics(stale_nodes=lambda: 0), clock=lambda: 5000.0, batch_s=0.05, catalog=lambda: bundled
        )
        odd = [{"product": "Imaginary GPU 9000", "count": 1}]
        entries = [node_entry("n-1"), node_entry("n-2", gpus=odd), node_entry("n-3")]

        async def main() -> list[Any]:
            try:
                return await asyncio.gather(
                    *(service.receive(e["name"], HeartbeatCreate.model_validate({"node": e})) for e in entries),
                    return_exceptions=True,
                )
            finally:
                await db.dispose_async()

        first, refused, third = asyncio.run(main())
        assert isinstance(refused, InvalidInput)
        assert refused.problem()["field"] == "node.gpus[0].product"
        assert first.registered and third.registered
        assert {first.inventory_revision, third.inventory_revision} == {1, 2}
        with db.read_session() as session:
            assert [e["name"] for e in node_store.live_entries(session)] == ["n-1", "n-3"]
    finally:
        db.dispose()


def test_a_second_worker_is_ready_for_full_heartbeats_when_it_starts(db_url: str, tmp_path: Any) -> None:
    """The first full heartbeats of a fleet must not wait for imports or a catalog parse: a worker
    that finds the catalog already stored (by the other worker) loads it at startup, and the
    solver's inventory parser is imported with the heartbeat module."""
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from metadata_service.app import create_app
    from metadata_service.settings import Settings

    probe = "import sys, metadata_service.heartbeats; print('solver.inputs.inventory' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip() == "True"
    first = create_app(Settings(database_url=db_url, data_dir=tmp_path / "d1"))
    with TestClient(first):  # stores the bundled catalog
        second = create_app(Settings(database_url=db_url, data_dir=tmp_path / "d2"))
        assert second.state.rtfit.holder._current is None
        with TestClient(second):
            assert second.state.rtfit.holder._current is not None


def test_postgres_lease_renewals_commit_asynchronously_and_nothing_else(db_url: str) -> None:
    """The liveness engine (lease renewals only) does not wait for the WAL flush; the writer does."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's synchronous_commit")
    db = Database(db_url)
    try:
        assert db.async_writer is not None

        async def lane_setting() -> str:
            try:
                async with db.async_writer.connect() as conn:
                    return str((await conn.execute(text("SHOW synchronous_commit"))).scalar_one())
            finally:
                await db.dispose_async()

        assert asyncio.run(lane_setting()) == "off"
        with db.write_session() as session:
            assert session.execute(text("SHOW synchronous_commit")).scalar_one() == "on"
    finally:
        db.dispose()
