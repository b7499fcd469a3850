"""The selection audit, written off the request path: rows are queued and written in batches.

Profiling one worker (bench/http_profile.py) put the audit row of every selection on the critical
path of the request: a thread hop, a write transaction and, on SQLite, the cross-process write
lock, for a row nobody reads during the request. A selection now queues its row (and, the first
time this process answers it, the answer to store by hash) and returns; one writer thread writes
whatever has arrived in one transaction (`storage.selections.add_audits`), in arrival order, so an
answer is always stored no later than the first row that names it.

An answer is given as the JSON body the client got (`storage.selections.render_answer`) and stored
as that text, not encoded again; one this writer has already stored (the last `remember` hashes:
a recomputed answer after a cache eviction or an inventory change that did not change it) is not
sent again. Measured with a 47 KB whole-fleet answer (400 rows, A/B back to back), the writer's
CPU per new answer went from 0.83 to 0.44 ms on SQLite and from 0.37-0.52 to 0.12-0.14 ms on
PostgreSQL (the JSON column encoded the answer again); a hit's row costs 0.04-0.06 ms on both.

Bounded: when `max_pending` rows are waiting (the database is slow or down), `add` says so and the
caller waits for room (`wait_room`) instead of growing the queue without end. A failed write is
logged and retried, the rows kept. `flush` waits until every row queued before it is written
(tests; the application's shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from .db import Database
from .storage import selections as audit_store

__all__ = ["AuditWriter"]

log = logging.getLogger("metadata_service")


class AuditWriter:
    def __init__(self, db: Database, *, linger_s: float = 0.005, max_pending: int = 10_000,
                 retry_s: float = 0.5, remember: int = 4096) -> None:
        self._db = db
        self._linger_s = linger_s
        self._max_pending = max_pending
        self._retry_s = retry_s
        self._cond = threading.Condition()
        self._rows: list[dict[str, Any]] = []
        self._answers: dict[str, tuple[bytes, float]] = {}
        self._stored: OrderedDict[str, None] = OrderedDict()   # hashes of answers this writer stored
        self._remember = remember
        self._queued = 0      # rows ever queued
        self._written = 0     # rows ever written
        self._thread: threading.Thread | None = None
        self._closed = False
        self.failures = 0     # failed batch writes (each retried)

    def add(self, row: dict[str, Any], answer: tuple[str, bytes] | None = None) -> bool:
        """Queue one row (never blocks), and `answer` (its hash and JSON body) to store unless this
        writer stored it already; False when the queue is full (then call `wait_room`)."""
        with self._cond:
            if answer is not None and answer[0] not in self._answers and answer[0] not in self._stored:
                self._answers[answer[0]] = (answer[1], row["created_at"])
            self._rows.append(row)
            self._queued += 1
            if self._thread is None:   # first row, or the first after `close` (the thread ended)
                self._closed = False
                self._thread = threading.Thread(target=self._run, name="rtfit-audit", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return len(self._rows) < self._max_pending

    def wait_room(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._rows) >= self._max_pending and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every row queued so far is written; False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._queued
            while self._written < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return self._written >= target
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._rows)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._rows and not self._closed:
                    self._cond.wait()
                if not self._rows and self._closed:
                    self._thread = None   # under the lock: the next `add` starts a new thread
                    return
            if self._linger_s:
                time.sleep(self._linger_s)   # let the rows of concurrent requests join this batch
            with self._cond:
                rows, answers = self._rows, self._answers
                self._rows, self._answers = [], {}
            try:
                with self._db.write_session(revisions=False) as session:   # not a revision change
                    audit_store.add_audits(session, rows, answers)
            except Exception as e:  # noqa: BLE001 - logged, kept and retried
                self.failures += 1
                log.warning("selection audit: writing %d rows failed (%s: %s); retrying", len(rows),
                            e.__class__.__name__, e)
                with self._cond:
                    self._rows = rows + self._rows
                    answers.update(self._answers)
                    self._answers = answers
                    if self._closed:
                        self._thread = None
                        return
                time.sleep(self._retry_s)
                continue
            with self._cond:
                self._written += len(rows)
                for h in answers:
                    self._stored[h] = None
                while len(self._stored) > self._remember:
                    self._stored.popitem(last=False)
                self._cond.notify_all()
