"""Shared helpers of the reliability tests: the load test module, PostgreSQL schemas, tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import load_test  # noqa: E402

PG_URL = load_test.PG_URL

__all__ = ["PG_URL", "REPO", "load_test", "pg_schema", "require_pg", "token_entry"]


def require_pg() -> None:
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except OperationalError as e:
        if os.environ.get("RTFIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL}")


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh schema; yields the service URL that uses it; dropped afterwards."""
    require_pg()
    schema = f"rel_{uuid.uuid4().hex[:10]}"
    load_test._pg_schema(True, schema)
    try:
        yield load_test.pg_url_for(schema)
    finally:
        load_test._pg_schema(False, schema)


def token_entry(name: str, role: str, node: str | None = None) -> tuple[str, dict[str, str]]:
    token = "rtfit_" + secrets.token_urlsafe(24)
    entry = {"name": name, "role": role, "sha256": hashlib.sha256(token.encode()).hexdigest()}
    if node:
        entry["node"] = node
    return token, entry
