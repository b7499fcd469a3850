"""The revisions a selection is keyed on come from memory (`metadata_service/revision_watch.py`).

- A cache hit runs no SQL statement through SQLAlchemy, and is answered without the thread pool.
- A change committed by another app on the same database is seen by the next selection (SQLite:
  `PRAGMA data_version`; PostgreSQL: the trigger's notification, within the delivery wait that
  docs/service.md states), with the watch's periodic re-read switched off so only the signal counts.
- A node whose lease expires is swept by the next selection without any other write.
- PostgreSQL: when the listen connection is killed (pg_terminate_backend) selections read the
  revisions per request (and see changes), and the watch connects again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from .conftest import FakeClock, Tokens
from .test_service_index_swap import _register, _select

H100 = [{"product": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0", "count": 1, "free": 1}]
BIG = {"framework": "pytorch", "min_gpu_memory_gib": 40}   # only an H100 node fits
SMALL = {"framework": "pytorch"}
DELIVERY_S = 2.0   # the notification's delivery wait these tests allow (docs/service.md: milliseconds)


def _service(client: TestClient) -> Any:
    return client.app.state.rtfit.selection


class _Statements:
    """SQL statements run through SQLAlchemy by request threads (not the index builder's polls
    or the audit writer's batches, which run on their own threads)."""

    def __init__(self, client: TestClient) -> None:
        db = client.app.state.rtfit.db
        self.engines = {db.reader, db.writer, db._prelocked_engine}
        self.seen: list[str] = []

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name not in ("rtfit-index", "rtfit-audit"):
            self.seen.append(statement)

    def __enter__(self) -> _Statements:
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: Any) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._count)


def test_cache_hit_runs_no_statement(client: TestClient, tokens: Tokens, clock: FakeClock,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _register(client, tokens, "node-a")
    first = _select(client, tokens, SMALL)      # a miss: solved, cached
    service = _service(client)
    prepared_in_pool: list[Any] = []
    real = service._prepare_single
    monkeypatch.setattr(service, "_prepare_single", lambda body: prepared_in_pool.append(body) or real(body))
    for _ in range(3):
        assert service.flush_audits()           # the previous hit's audit row is committed ...
        service._watch.read(clock())            # ... and known (SQLite: another connection's commit)
        reads = service._watch.reads
        with _Statements(client) as statements:
            assert _select(client, tokens, SMALL) == first
        assert statements.seen == []
        assert service._watch.reads == reads    # no statement on the watch's connection either
    assert prepared_in_pool == []               # answered on the event loop, no thread-pool hop


def test_change_by_another_app_is_seen(make_client: Any, tokens: Tokens) -> None:
    a, b = make_client(), make_client()          # two apps (as two workers) on one database
    _register(a, tokens, "node-a")
    assert _select(a, tokens, BIG)["feasible"] is False
    watch = _service(a)._watch
    watch.max_age_s = 3600.0                     # only the signal may make it read again
    assert _select(a, tokens, BIG)["feasible"] is False    # from memory
    _register(b, tokens, "node-h", gpus=H100)    # committed by the other app
    deadline = time.monotonic() + DELIVERY_S
    while True:
        answer = _select(a, tokens, BIG)
        if answer["feasible"] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert answer["feasible"] is True
    assert "node-h" in str(answer)


def test_catalog_switch_by_another_app_is_seen(make_client: Any, tokens: Tokens, db_url: str) -> None:
    """A direct write of the active catalog pointer (another process's upload) is seen."""
    a = make_client()
    _register(a, tokens, "node-a")
    _select(a, tokens, SMALL)
    watch = _service(a)._watch
    watch.max_age_s = 3600.0
    from metadata_service.db import Database

    other = Database(db_url)
    try:
        with other.write_session() as session:   # a copy of the active revision under another name
            from sqlalchemy import select

            from metadata_service.tables import CatalogPointer, CatalogRevision

            active = session.execute(select(CatalogRevision).join(
                CatalogPointer, CatalogPointer.revision_id == CatalogRevision.id)).scalar_one()
            copy = CatalogRevision(revision="f" * 64, documents=active.documents, counts=active.counts,
                                   source="test", created_at=0.0)
            session.add(copy)
            session.flush()
            session.execute(text("UPDATE catalog_pointer SET revision_id = :id WHERE key = 'active'"), {"id": copy.id})
            session.commit()
    finally:
        other.dispose()
    deadline = time.monotonic() + DELIVERY_S
    while True:     # the revisions the selection used (the answer names the loaded catalog's own revision)
        _select(a, tokens, SMALL)
        if watch._known is not None and watch._known[0].catalog == "f" * 64 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert watch._known is not None and watch._known[0].catalog == "f" * 64


def test_stale_node_swept_without_other_write(client: TestClient, tokens: Tokens, clock: FakeClock) -> None:
    _register(client, tokens, "node-h", gpus=H100)
    assert _select(client, tokens, BIG)["feasible"] is True
    _service(client)._watch.max_age_s = 3600.0
    assert _select(client, tokens, BIG)["feasible"] is True     # from memory
    clock.advance(61.0)                          # node_ttl_s is 60: the lease expires, nothing is written
    assert _select(client, tokens, BIG)["feasible"] is False


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_killed_listen_connection_falls_back(make_client: Any, tokens: Tokens, db_url: str) -> None:
    a, b = make_client(), make_client()
    _register(a, tokens, "node-a")
    assert _select(a, tokens, BIG)["feasible"] is False
    watch = _service(a)._watch
    watch.max_age_s = 3600.0
    watch.retry_s = 3600.0                       # stays on the fallback until the test lets it reconnect
    pid = watch._source._pgconn.backend_pid
    with a.app.state.rtfit.db.writer.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True
        for _ in range(200):
            if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar():
                break
            time.sleep(0.01)
    _register(b, tokens, "node-h", gpus=H100)    # another app: no own-commit hook in `a`
    answer = _select(a, tokens, BIG)             # read per request: the change is there at once
    assert answer["feasible"] is True
    assert watch._source is None and watch.failures >= 1
    watch.retry_s = 0.0
    _select(a, tokens, SMALL)
    assert watch._source is not None and watch._source._pgconn.backend_pid != pid   # connected again
