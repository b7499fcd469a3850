"""A short run of bench/load_test.py on SQLite and PostgreSQL: 0 errors and 0 lost writes.

200 agents (own tokens), 2 selectors, 1 flow runner for 10 s against a real `rtfit serve`; then
the database is read directly and every acknowledged heartbeat, selection audit row and flow log
line must be there. The verifier itself is checked to fail on a write that was never made.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rel_support import load_test, pg_schema

pytestmark = pytest.mark.slow


def _run(url: str, tmp: Path) -> tuple[dict, load_test.Acks]:
    load = load_test.Load(agents=200, interval=1.0, connections=100, selectors=2, select_rate=6.0, flows=1,
                          flow_rate=4.0, seconds=10.0)
    tokens = load_test.write_tokens(tmp / "tokens.yaml", load)
    service = load_test.ServiceProcess(tmp, url, tmp / "tokens.yaml")
    acks = load_test.Acks()
    try:
        service.start()
        figures = asyncio.run(load_test.run_load(service.port, tokens, load, acks))
    finally:
        service.stop()
    return figures, acks


def _check(url: str, figures: dict, acks: load_test.Acks, log: Path | None = None) -> None:
    for kind in ("register", "liveness", "select", "flow"):
        tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
        assert figures[kind]["errors"] == 0, (kind, figures[kind]["errors"], figures[kind]["non_2xx"], tail)
        assert figures[kind]["ok"] > 0, (kind, figures[kind])
    assert len(acks.heartbeat_last_send) == 200
    proof = load_test.verify(url, acks)
    assert proof["lost"] == {"heartbeats": 0, "selections": 0, "flow_logs": 0}, proof
    # The proof can fail: an acknowledgement the database never saw is reported as lost.
    node = next(iter(acks.heartbeat_last_send))
    acks.heartbeat_last_send[node] += 3600
    acks.selections["selector-0"] += 1
    acks.flow_lines[next(iter(acks.flow_lines))].add(10_000)
    assert load_test.verify(url, acks)["lost"] == {"heartbeats": 1, "selections": 1, "flow_logs": 1}


def test_load_sqlite_no_errors_no_lost_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'load.db'}"
    figures, acks = _run(url, tmp_path)
    _check(url, figures, acks, tmp_path / "serve.log")


@pytest.mark.postgres
def test_load_postgres_no_errors_no_lost_writes(tmp_path: Path) -> None:
    with pg_schema() as url:
        figures, acks = _run(url, tmp_path)
        _check(url, figures, acks, tmp_path / "serve.log")
