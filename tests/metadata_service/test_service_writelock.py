"""SQLite's write path: the cross-process write lock and the liveness batch's query plan.

The lock replaces SQLite's sleeping busy handler between writers (threads of one worker and
worker processes); these tests hold it from another process or thread and check who waits, who
does not, and how soon a waiter wakes. The query-plan test pins the index choice that made every
liveness batch walk the whole lease index (5 ms instead of 0.4 ms per batch, migration 0002).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from metadata_service.db import Database, init_db
from metadata_service.storage import nodes as node_store
from metadata_service.writelock import WriteLock

from .conftest import node_entry


def _hold_in_child(path: str, held: Any, release: Any) -> None:
    lock = WriteLock(Path(path), timeout_s=5)
    lock.acquire()
    held.set()
    release.wait(10)
    lock.release()


@pytest.fixture
def child_holding(tmp_path: Path) -> Any:
    """Start a process that holds the lock on tmp_path/db-wlock until told to let go."""
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    path = tmp_path / "db-wlock"
    proc = ctx.Process(target=_hold_in_child, args=(str(path), held, release))
    proc.start()
    assert held.wait(20), "the child never took the lock"
    yield path, release
    release.set()
    proc.join(10)
    assert proc.exitcode == 0


def test_another_process_holding_the_lock_makes_us_wait_and_wakes_us_promptly(child_holding: Any) -> None:
    path, release = child_holding
    lock = WriteLock(path, timeout_s=10)
    assert not lock.try_acquire()
    got_at: list[float] = []

    def waiter() -> None:
        lock.acquire()
        got_at.append(time.monotonic())
        lock.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    assert got_at == []  # still waiting on the other process
    released_at = time.monotonic()
    release.set()
    thread.join(10)
    assert got_at, "the waiter never got the lock"
    # flock wakes the waiter when the holder lets go: no 25-100 ms busy-handler sleep.
    assert got_at[0] - released_at < 0.25
    assert lock.try_acquire()
    lock.release()


def test_threads_of_one_process_queue_on_the_lock(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "db-wlock", timeout_s=10)
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(50):
            lock.acquire()
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.0005)
            with guard:
                inside -= 1
            lock.release()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most == 1


def test_release_from_another_thread(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "db-wlock", timeout_s=10)
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join(5)
    assert lock.try_acquire()
    lock.release()


def test_acquire_times_out_as_database_is_locked(child_holding: Any) -> None:
    path, _release = child_holding
    lock = WriteLock(path, timeout_s=0.2)
    in_process = WriteLock(path, timeout_s=0.2)
    in_process._mutex.acquire()  # noqa: SLF001 - another thread of this process holds it
    with pytest.raises(OperationalError, match="database is locked"):
        in_process.acquire()
    in_process._mutex.release()  # noqa: SLF001
    with pytest.raises(OperationalError, match="database is locked"):
        asyncio.run(lock.acquire_async())


def test_acquire_async_keeps_the_event_loop_running(child_holding: Any) -> None:
    path, release = child_holding
    lock = WriteLock(path, timeout_s=10)

    async def main() -> tuple[int, float]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, release.set)
        started = time.monotonic()
        await lock.acquire_async()
        waited = time.monotonic() - started
        lock.release()
        task.cancel()
        return ticks, waited

    ticks, waited = asyncio.run(main())
    assert waited >= 0.25
    assert ticks >= 20  # the loop kept serving other work while we waited


def _seed(db: Database, names: list[str]) -> dict[str, str]:
    digests = {}
    for name in names:
        entry = node_entry(name)
        digest = node_store.inventory_hash(entry)
        with db.write_session() as session:
            node_store.record_full(session, entry=entry, digest=digest, now=1000.0)
        digests[name] = digest
    return digests


def test_write_sessions_hold_the_lock_until_commit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'svc.db'}")
    try:
        init_db(db)
        assert db.write_lock is not None
        assert db.write_lock.path == tmp_path / "svc.db-wlock"
        with db.write_session() as session:
            session.execute(text("UPDATE inventory_state SET changed_at = 1"))
            assert not db.write_lock.try_acquire()  # held by this open transaction
            session.commit()
            assert db.write_lock.try_acquire()  # released once the connection is back in the pool
            db.write_lock.release()
        # prelocked: the caller holds the lock; the session must not try to take it again
        assert db.write_lock.try_acquire()
        with db.write_session(prelocked=True) as session:
            session.execute(text("UPDATE inventory_state SET changed_at = 2"))
            session.commit()
        assert not db.write_lock.try_acquire()  # still ours
        db.write_lock.release()
    finally:
        db.dispose()


def test_liveness_batch_update_uses_the_primary_key(tmp_path: Path) -> None:
    """The batch UPDATE and the stale queries each use the index meant for them (SQLite's plan)."""
    db = Database(f"sqlite:///{tmp_path / 'svc.db'}")
    try:
        init_db(db)
        digests = _seed(db, [f"n{i}" for i in range(5)])
        statements: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "heartbeats" in statement and not statement.startswith("EXPLAIN"):
                statements.append((statement, parameters))

        event.listen(db.writer, "before_cursor_execute", capture)
        with db.write_session() as session:
            outcomes = node_store.record_liveness_batch(
                session, pings=[(n, digests[n]) for n in ("n1", "n2", "n3")], now=2000.0
            )
        assert [o.problem for o in outcomes] == [None, None, None]
        with db.write_session() as session:
            assert node_store.stale_pending(session, now=2000.0, ttl_s=60.0)
            node_store.sweep_stale(session, now=2000.0, ttl_s=60.0)
            session.commit()
        event.remove(db.writer, "before_cursor_execute", capture)

        plans = {}
        with db.writer.connect() as conn:
            for statement, parameters in statements:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
                plans[statement.split()[0] + (" stale" if "last_seen <" in statement else "")] = " ".join(
                    str(r[-1]) for r in rows
                )
        assert "sqlite_autoindex_heartbeats_1 (node=?)" in plans["UPDATE"], plans
        assert "ix_heartbeats_live_last_seen" in plans["SELECT stale"], plans
        assert "ix_heartbeats_live_last_seen" in plans["UPDATE stale"], plans
    finally:
        db.dispose()


def test_the_loop_commit_does_not_wait_for_connections_held_by_lock_waiters(tmp_path: Path) -> None:
    """The deadlock seen under load: every pooled writer connection is held by a thread waiting
    for the lock, while the lock's holder (the loop's liveness batch) needs a connection."""
    from metadata_service.heartbeats import HeartbeatService
    from metadata_service.metrics import Metrics

    db = Database(f"sqlite:///{tmp_path / 'svc.db'}", pool_size=8)  # writer pool: 4 + 4 overflow
    try:
        init_db(db)
        digests = _seed(db, ["n1"])
        service = HeartbeatService(db, metrics=Metrics(stale_nodes=lambda: 0), clock=lambda: 2000.0, batch_s=0.0)
        assert db.write_lock is not None
        db.write_lock.acquire()  # as the loop does (acquire_async) before its batch commit

        def writer() -> None:
            with db.write_session() as session:
                session.execute(text("UPDATE inventory_state SET changed_at = 3"))  # blocks in BEGIN
                session.commit()

        threads = [threading.Thread(target=writer, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while db.writer.pool.checkedout() < 8 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)
        assert db.writer.pool.checkedout() == 8  # type: ignore[attr-defined]

        done: list[Any] = []
        commit = threading.Thread(
            target=lambda: done.append(service._commit_batch([("n1", digests["n1"])], prelocked=True)),  # noqa: SLF001
            daemon=True,
        )
        commit.start()
        commit.join(5)
        assert done and done[0][0].problem is None, "the prelocked commit waited for a pooled connection"
        db.write_lock.release()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads)
    finally:
        db.dispose()
