"""Fixtures of the metadata-service tests: every API test runs on SQLite and on PostgreSQL.

`db_url` is parametrised: "sqlite" (a file in tmp_path) and "postgres" (marked `postgres`; a
fresh schema per test on RTFIT_TEST_PG_URL or 127.0.0.1:5432/test, dropped afterwards). When
PostgreSQL is unreachable the PG cases skip, unless RTFIT_REQUIRE_POSTGRES=1, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from metadata_service.app import create_app
from metadata_service.settings import Settings

PG_URL = os.environ.get("RTFIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class FakeClock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Tokens:
    admin: str
    reader: str
    agent: str  # for node "node-a"
    agent_b: str  # for node "node-b"
    path: Path

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, who)}"}


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except OperationalError as e:
        return str(e).splitlines()[0]


@pytest.fixture(scope="session")
def pg_problem() -> str | None:
    return _pg_available()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_problem: str | None) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    if pg_problem is not None:
        message = f"PostgreSQL at {PG_URL} is unreachable: {pg_problem}"
        if os.environ.get("RTFIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message + " (RTFIT_REQUIRE_POSTGRES=1)")
        pytest.skip(message)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    values = {k: "t_" + secrets.token_urlsafe(24) for k in ("admin", "reader", "agent", "agent_b")}
    entries = [
        {"name": "ops", "role": "admin", "sha256": hashlib.sha256(values["admin"].encode()).hexdigest()},
        {"name": "viewer", "role": "reader", "sha256": hashlib.sha256(values["reader"].encode()).hexdigest()},
        {"name": "agent-a", "role": "agent", "node": "node-a",
         "sha256": hashlib.sha256(values["agent"].encode()).hexdigest()},
        {"name": "agent-b", "role": "agent", "node": "node-b",
         "sha256": hashlib.sha256(values["agent_b"].encode()).hexdigest()},
    ]
    path = tmp_path / "tokens.yaml"
    path.write_text(yaml.safe_dump({"tokens": entries}), encoding="utf-8")
    return Tokens(path=path, **values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(db_url: str, tokens: Tokens, clock: FakeClock, tmp_path: Path) -> Iterator[Any]:
    """Build a started TestClient; keyword arguments override Settings fields."""
    opened: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        fields: dict[str, Any] = {
            "database_url": db_url,
            "data_dir": tmp_path / "data",
            "tokens_file": tokens.path,
            "node_ttl_s": 60.0,
        }
        fields.update(overrides)
        client = TestClient(create_app(Settings(**fields), clock=clock), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Any) -> TestClient:
    return make_client()


def node_entry(name: str = "node-a", **over: Any) -> dict[str, Any]:
    """A Contract 2 entry the bundled catalog knows (an L4 box)."""
    entry: dict[str, Any] = {
        "name": name,
        "cluster": "edge-seoul",
        "arch": "x86_64",
        "driver_version": "550.54.15",
        "gpus": [{"product": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9", "count": 2, "free": 2}],
        "cached_components": ["cuda/12.4.1", "python/3.11.9"],
        "labels": {"zone": "a"},
    }
    entry.update(over)
    return entry
