"""Engine creation and schema migration, the same code for SQLite and PostgreSQL.

SQLite gets WAL journaling, `synchronous=NORMAL`, a busy timeout and enforced foreign keys on
every connection, so several worker processes can share one file. `init_db` runs Alembic's
`upgrade head` programmatically on the given engine; the migrations live in
`metadata_service/migrations/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from .errors import NotReady

__all__ = ["alembic_config", "check_database", "init_db", "is_sqlite", "make_engine"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """An engine for `url`; SQLite connections are configured for concurrent use."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=pool_size,
            max_overflow=20,
            pool_pre_ping=False,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks; emit BEGIN IMMEDIATE only where we ask for it.
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to `engine` (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent; safe at every start)."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as e:
        raise NotReady(f"cannot migrate the database: {e.__class__.__name__}: {e.orig or e}") from e


def check_database(engine: Engine) -> None:
    """Raise `NotReady` unless a trivial query succeeds."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        raise NotReady(f"database unreachable: {e.__class__.__name__}") from e
