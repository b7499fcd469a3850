"""The revisions a selection is keyed on, kept in memory while nothing may have changed.

Every selection needs the active catalog revision, the inventory revision and whether a node
went stale (`storage/revisions.py`, one statement). Read through an ORM session on every request
that statement was most of a cache hit's CPU (160 us on SQLite, 570 us of client CPU plus the
server's on PostgreSQL, pool checkout and pre-ping included). A `RevisionWatch` keeps one
connection of its own per process and the last result, and runs the statement again only when
something may have changed:

- SQLite: `PRAGMA data_version` on the watch's connection changes when any other connection has
  committed (every writer of every process is another connection): unchanged, the kept result
  stands; changed, the statement runs again on that connection.
- PostgreSQL: migration 0004 adds triggers that `pg_notify('rtfit_revisions', <schema>)` when the
  inventory revision row or the active catalog pointer changes; the watch's connection LISTENs and
  is polled without blocking (`consume_input` / `notifies`): a notification for this schema, and
  the statement runs again on that connection. A notification reaches the other processes when
  the writer commits (plus the time its packet takes; docs/service.md): that is how long another
  worker may still answer for the previous revisions.
- Both: every commit of this process's own write sessions (`Database.on_commit`) marks the kept
  result dirty, so a worker always sees its own writes at once.
- Stale nodes: the statement returns the oldest lease of an available node; the kept result is
  good only until that lease can go stale (`Revisions.next_stale_at`), then the statement runs
  again and the caller sweeps as before. Renewals and registrations only move that bound later.
- The kept result is also read again after `max_age_s` (default 5 s) whatever happened, a bound
  for what no signal says (a listen connection that died without the socket saying so).

Any error, or a lost connection, drops the kept result and the connection: `read` raises
`Unavailable`, the caller reads the statement through a session as before (correct, slower),
and the watch connects again after `retry_s`.

`peek` is for the event loop: it never blocks (it skips when another thread holds the
connection) and answers only from memory; `read` may run the statement.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from .db import Database
from .storage.revisions import Revisions, revisions_of, revisions_sql

__all__ = ["CHANNEL", "RevisionWatch", "Unavailable"]

log = logging.getLogger("metadata_service")

CHANNEL = "rtfit_revisions"   # migrations/versions/0004_revision_notify.py
TRIGGERS = ("rtfit_inventory_state_notify", "rtfit_catalog_pointer_notify")
MAX_AGE_S = 5.0
RETRY_S = 1.0


class Unavailable(Exception):
    """The watch cannot answer now: read the revisions the ordinary way."""


def _own_connection(db: Database) -> Any:
    """A DBAPI connection of the reader's (its URL, connect arguments and events), taken out of
    its pool for good: the watch's own."""
    fairy = db.reader.raw_connection()
    conn = fairy.driver_connection
    fairy.detach()
    return conn


class _Sqlite:
    def __init__(self, db: Database) -> None:
        self._conn = _own_connection(db)   # autocommit (db._sqlite_connect)
        self._sql = revisions_sql(db.reader.dialect)
        self._version: int | None = None

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        return self._data_version() != self._version

    def read(self) -> tuple:
        self._version = self._data_version()   # before: a commit in between reads again next time
        return tuple(self._conn.execute(self._sql).fetchone())

    def close(self) -> None:
        self._conn.close()


class _Postgres:
    def __init__(self, db: Database) -> None:
        conn = _own_connection(db)
        try:
            conn.rollback()               # the pool's pre-ping may have begun a transaction
            conn.autocommit = True        # LISTEN delivers only outside transactions
            row = conn.execute(
                "SELECT n.nspname, (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid IN (to_regclass('inventory_state'),"
                " to_regclass('catalog_pointer')) AND t.tgname = ANY(%s)) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('inventory_state')",
                (list(TRIGGERS),),
            ).fetchone()
            if row is None or row[1] != len(TRIGGERS):
                raise Unavailable("the revision triggers are not installed (migration 0004)")
            self._schema = str(row[0])
            self._pending = False
            self._lost = False
            conn.add_notify_handler(self._notified)   # notifications that come in while a query runs
            conn.add_notice_handler(self._noticed)    # a FATAL error (pg_terminate_backend) comes as one
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._pgconn = conn.pgconn
        self._sql = revisions_sql(db.reader.dialect)

    def _notified(self, notify: Any) -> None:
        if notify.payload == self._schema:
            self._pending = True

    def _noticed(self, diagnostic: Any) -> None:
        if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
            self._lost = True       # the server ends this connection; the socket's EOF may come later

    def changed(self) -> bool:
        pgconn = self._pgconn
        pgconn.consume_input()      # never blocks (libpq's socket is non-blocking); raises when lost
        while (n := pgconn.notifies()) is not None:   # parses the input: notices go to _noticed
            if n.extra.decode() == self._schema:
                self._pending = True
        if self._lost or pgconn.status != 0:      # CONNECTION_OK
            raise Unavailable("the listen connection is lost")
        return self._pending

    def read(self) -> tuple:
        self.changed()              # what came in so far is covered by this read
        self._pending = False
        return tuple(self._conn.execute(self._sql).fetchone())

    def close(self) -> None:
        self._conn.close()


class RevisionWatch:
    def __init__(self, db: Database, *, ttl_s: float, max_age_s: float = MAX_AGE_S, retry_s: float = RETRY_S) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self.max_age_s = max_age_s
        self.retry_s = retry_s
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._epoch = 0                 # changed by every own commit
        self._known: tuple[Revisions, int, float] | None = None   # (revisions, epoch before the read, read at)
        self._source: _Sqlite | _Postgres | None = None
        self._lost_at = float("-inf")
        self._failing = False
        self.reads = 0                  # statements run by the watch
        self.failures = 0               # connections lost or refused
        if db.dialect == "sqlite":
            self._kind: type[_Sqlite] | type[_Postgres] | None = _Sqlite
            from .db import _sqlite_file

            if _sqlite_file(db.url) is None:   # in memory: another connection is another database
                self._kind = None
        elif db.dialect == "postgresql" and db.reader.dialect.driver == "psycopg":
            self._kind = _Postgres
        else:
            self._kind = None
        if self._kind is not None:
            db.on_commit(self.changed)

    def changed(self) -> None:
        """Something this process committed: the kept revisions are not trusted any longer."""
        self._epoch = next(self._counter)

    def _fresh(self, known: tuple[Revisions, int, float] | None, now: float) -> Revisions | None:
        if known is None or known[1] != self._epoch or time.monotonic() - known[2] > self.max_age_s:
            return None
        revisions = known[0]
        if now >= revisions.next_stale_at(self._ttl_s):
            return None
        return revisions

    def peek(self, now: float) -> Revisions | None:
        """The kept revisions if nothing may have changed, else None; never blocks, never reads."""
        if self._fresh(self._known, now) is None or not self._lock.acquire(blocking=False):
            return None
        try:
            source, known = self._source, self._known
            if source is None or self._fresh(known, now) is None:
                return None
            if source.changed():
                self._known = None
                return None
            return known[0] if known is not None else None
        except Exception as e:  # noqa: BLE001 - a lost connection: the ordinary way until it is back
            self._lose(e)
            return None
        finally:
            self._lock.release()

    def read(self, now: float) -> Revisions:
        """The kept revisions, or the statement run again on the watch's connection; `Unavailable`
        when the watch cannot say (the caller reads them through a session)."""
        if self._kind is None:
            raise Unavailable("no revision watch for this database")
        with self._lock:
            source = self._source
            if source is None and time.monotonic() < self._lost_at + self.retry_s:
                raise Unavailable("the watch connects again later")
            try:
                if source is None:
                    source = self._source = self._kind(self._db)
                    self._known = None
                    if self._failing:
                        log.warning("revision watch: connected again")
                        self._failing = False
                known = self._known
                if self._fresh(known, now) is not None and not source.changed():
                    return known[0]   # type: ignore[index]
                epoch = self._epoch
                row = source.read()
                self.reads += 1
                revisions = revisions_of(row, stale_before=now - self._ttl_s)
                self._known = (revisions, epoch, time.monotonic())
                return revisions
            except Exception as e:  # noqa: BLE001
                self._lose(e)
                raise Unavailable(str(e)) from e

    def _lose(self, error: BaseException) -> None:
        """Under the lock: drop the connection and what it said; connect again after `retry_s`."""
        self._known = None
        self.failures += 1
        self._lost_at = time.monotonic()
        source, self._source = self._source, None
        if not self._failing:
            log.warning("revision watch: %s: %s; revisions are read per request until it is back",
                        error.__class__.__name__, error)
            self._failing = True
        if source is not None:
            try:
                source.close()
            except Exception:  # noqa: BLE001, S110 - it is gone either way
                pass

    def close(self) -> None:
        with self._lock:
            self._known = None
            source, self._source = self._source, None
            if source is not None:
                try:
                    source.close()
                except Exception:  # noqa: BLE001, S110
                    pass
