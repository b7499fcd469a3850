"""Database access, the same code for SQLite and PostgreSQL.

SQLite gets WAL journaling, `synchronous=NORMAL`, a busy timeout and enforced foreign keys on
every connection, so several worker processes can share one file. Because a SQLite transaction
that starts by reading cannot later take the write lock if another process wrote in between
(SQLITE_BUSY_SNAPSHOT, which the busy timeout does not cover), writes go through a second
engine whose transactions begin with `BEGIN IMMEDIATE`; reads use plain deferred transactions.
Before `BEGIN IMMEDIATE` a writer takes `Database.write_lock` (metadata_service/writelock.py),
which queues writers of every thread and worker process and wakes the next one as soon as the
holder's connection goes back to the pool, instead of SQLite's sleeping busy handler.
On PostgreSQL both are the same engine and there is no such lock; the liveness lane's async engine
commits without waiting for the WAL flush (`_asynchronous_commit` says why that is safe). `init_db` runs Alembic's `upgrade head` programmatically;
the migrations live in `metadata_service/migrations/`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import Session

from .errors import NotReady
from .writelock import WriteLock

__all__ = ["Database", "alembic_config", "init_db"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _begin_*)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_HOLDS_LOCK = "rtfit_write_lock"
PRELOCKED = "rtfit_prelocked"  # execution option: the caller already holds the write lock


def _begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_engine(url: str, *, write_lock: WriteLock | None, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=pool_size,
        max_overflow=pool_size,
    )
    event.listen(engine, "connect", _sqlite_connect)
    if write_lock is None:
        event.listen(engine, "begin", _begin_deferred)
        return engine

    def begin_immediate(conn: Any) -> None:
        if not conn.get_execution_options().get(PRELOCKED) and not conn.info.get(_HOLDS_LOCK):
            write_lock.acquire()
            conn.info[_HOLDS_LOCK] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    def checkin(_dbapi_connection: Any, record: Any) -> None:  # after COMMIT or ROLLBACK
        if record is not None and record.info.pop(_HOLDS_LOCK, False):
            write_lock.release()

    event.listen(engine, "begin", begin_immediate)
    event.listen(engine.pool, "checkin", checkin)
    return engine


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _asynchronous_commit(dbapi_connection: Any, _record: Any) -> None:
    """PostgreSQL, the liveness engine only: a commit returns without waiting for its WAL flush.

    That engine runs one statement, `storage.nodes.renew_leases_pg`: it moves `last_seen` and
    `beats` of leases that are live and unchanged, and never the inventory or its revision (a
    node coming back, or anything else that bumps the revision, goes through the writer engine
    and commits synchronously). A crash of PostgreSQL can lose at most the renewals of the last
    few hundred milliseconds (`wal_writer_delay`), never a change any answer was based on; the
    agents renew again within their interval, far inside the node TTL. Waiting for the flush was
    most of a renewal's latency on a busy host (p50 4-11 ms, p99 16-41 ms against 0.4 / 9 ms;
    docs/benchmarks.md, #16).
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO off")
    cursor.close()


class _WriteSession(Session):
    """A session on the writer: after each commit it calls the database's commit hooks
    (`Database.on_commit`; the revision watch learns of this process's own writes there)."""


def _after_commit(session: Session) -> None:
    db = session.info.get(_DATABASE)
    if db is not None:
        for hook in db._commit_hooks:
            hook()


_DATABASE = "rtfit_database"
event.listen(_WriteSession, "after_commit", _after_commit)


class Database:
    """A reader and a writer engine over one database (the same engine except on SQLite)."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = url
        self.write_lock: WriteLock | None = None
        self.async_writer: AsyncEngine | None = None  # PostgreSQL: liveness batches on the event loop
        self._commit_hooks: list[Callable[[], None]] = []
        if url.startswith("sqlite"):
            path = _sqlite_file(url)
            self.write_lock = WriteLock(
                None if path is None else path.with_name(path.name + "-wlock"),
                timeout_s=SQLITE_BUSY_TIMEOUT_MS / 1000,
            )
            self.reader = _sqlite_engine(url, write_lock=None, pool_size=pool_size)
            self.writer = _sqlite_engine(url, write_lock=self.write_lock, pool_size=max(4, pool_size // 2))
            # The caller that takes the lock itself (the event loop's liveness batches) gets its own
            # connection: from the shared pool it could wait for a connection held by a thread that
            # is itself waiting for the lock (a 30 s stall, until the pool timeout; seen under load).
            self._prelocked_engine: Engine = _sqlite_engine(url, write_lock=self.write_lock, pool_size=1)
        else:
            self.reader = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
            self.writer = self.reader
            if self.reader.dialect.name == "postgresql" and self.reader.dialect.driver == "psycopg":
                # psycopg 3 speaks asyncio itself; connections open lazily, on the loop that uses them.
                self.async_writer = create_async_engine(
                    url, pool_size=2, max_overflow=2, pool_pre_ping=True, isolation_level="AUTOCOMMIT"
                )
                event.listen(self.async_writer.sync_engine, "connect", _asynchronous_commit)
            self._prelocked_engine = self.writer
        self._writer_prelocked = self._prelocked_engine.execution_options(**{PRELOCKED: True})

    @property
    def dialect(self) -> str:
        return self.reader.dialect.name

    def read_session(self) -> Session:
        return Session(self.reader, expire_on_commit=False)

    def write_session(self, *, prelocked: bool = False, revisions: bool = True) -> Session:
        """A session on the writer; `prelocked`: the caller holds `write_lock` (SQLite) itself,
        and gets a connection of its own (one caller at a time: the event loop's liveness batches);
        `revisions=False`: its commits change neither the catalog, the inventory nor a lease (the
        selection audit), so they do not call the commit hooks (`on_commit`)."""
        return _WriteSession(self._writer_prelocked if prelocked else self.writer, expire_on_commit=False,
                             info={_DATABASE: self} if revisions else None)

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every commit of a `write_session` (in the committing thread)."""
        self._commit_hooks.append(hook)

    def check(self) -> None:
        """Raise `NotReady` unless a trivial query succeeds."""
        try:
            with self.reader.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as e:
            raise NotReady(f"database unreachable ({e.__class__.__name__})") from e

    async def dispose_async(self) -> None:
        """Close the async engine's connections (on the event loop that opened them)."""
        if self.async_writer is not None:
            await self.async_writer.dispose()

    def dispose(self) -> None:
        self.reader.dispose()
        if self.writer is not self.reader:
            self.writer.dispose()
        if self._prelocked_engine is not self.writer:
            self._prelocked_engine.dispose()
        if self.write_lock is not None:
            self.write_lock.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to `engine` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["engine"] = engine
    return cfg


def init_db(db: Database) -> None:
    """Bring the schema to the newest migration (idempotent; safe at every start)."""
    try:
        command.upgrade(alembic_config(db.writer), "head")
    except SQLAlchemyError as e:
        raise NotReady(f"cannot migrate the database ({e.__class__.__name__}: {getattr(e, 'orig', None) or e})") from e
