"""An answer's hash is the SHA-256 of the JSON body the client got (rendered once, hashed as sent),
and each distinct answer is stored once under it, whichever worker (process) answered it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from metadata_service.storage.selections import answer_digest, audit_answer, body_digest, render_answer
from metadata_service.tables import SelectionAnswer, SelectionAudit

from .conftest import Tokens, node_entry

PYTORCH = {"framework": "pytorch", "framework_version": ">=2.3"}
ROOT = Path(__file__).resolve().parents[2]


def _fleet() -> list[dict[str, Any]]:
    """Nodes the request rejects for different reasons (the answer lists each) and one it uses."""
    return [
        node_entry("node-a"),
        node_entry("node-b", cluster="edge-busan", gpus=[]),
        node_entry("node-c", driver_version="470.57.02", labels={"zone": "b"}),
        node_entry("node-d", arch="aarch64", cached_components=[]),
    ]


def _rows(client: TestClient) -> tuple[list[SelectionAudit], list[SelectionAnswer]]:
    assert client.app.state.rtfit.selection.flush_audits()
    with client.app.state.rtfit.db.read_session() as session:
        audits = list(session.execute(select(SelectionAudit).order_by(SelectionAudit.id)).scalars())
        answers = list(session.execute(select(SelectionAnswer)).scalars())
        return audits, answers


@pytest.mark.parametrize("lane", [True, False])
def test_answer_hash_is_the_digest_of_the_body_sent(make_client: Any, tokens: Tokens, lane: bool) -> None:
    client = make_client(select_lane=lane)
    for entry in _fleet():
        r = client.put(f"/v1/nodes/{entry['name']}/heartbeat", json={"node": entry}, headers=tokens.h("admin"))
        assert r.status_code == 200, r.text
    bodies = [client.post("/v1/select", json={"model": PYTORCH, "top": 2}, headers=tokens.h("reader")).content
              for _ in range(2)]
    batch = client.post("/v1/select/batch", json={"models": [PYTORCH, PYTORCH]},
                        headers=tokens.h("reader"))
    assert batch.status_code == 200, batch.text
    assert bodies[0] == bodies[1]
    audits, answers = _rows(client)
    assert [a.cached for a in audits] == [False, True, False]
    sent = hashlib.sha256(bodies[0]).hexdigest()
    assert [a.answer_hash for a in audits] == [sent, sent, hashlib.sha256(batch.content).hexdigest()]
    assert sent == body_digest(bodies[0]) == answer_digest(json.loads(bodies[0]))
    assert render_answer(json.loads(bodies[0])) == bodies[0]
    assert {a.hash for a in answers} == {a.answer_hash for a in audits}
    with client.app.state.rtfit.db.read_session() as session:
        assert audit_answer(session, audits[0]) == json.loads(bodies[0])


def test_rows_naming_the_old_canonical_hash_stay_readable(client: TestClient) -> None:
    """Rows written when the hash was that of the canonical JSON (sorted keys) read back by it."""
    answer = {"feasible": False, "selected": [], "conflicts": [{"rule": "no-gpu", "nodes": ["n1"]}]}
    old = hashlib.sha256(json.dumps(answer, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert old != answer_digest(answer)
    db = client.app.state.rtfit.db
    with db.write_session() as session:
        session.execute(insert(SelectionAnswer.__table__), {"hash": old, "answer": answer, "created_at": 1.0})
        session.add(SelectionAudit(created_at=1.0, principal="p", kind="single", request={}, catalog_revision="c",
                                   inventory_revision=1, feasible=False, cached=False, solve_seconds=0.0,
                                   answer_hash=old))
        session.commit()
    with db.read_session() as session:
        row = session.execute(select(SelectionAudit)).scalars().one()
        assert audit_answer(session, row) == answer


_WORKER = textwrap.dedent("""
    import hashlib, json, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from metadata_service.app import create_app
    from metadata_service.settings import Settings

    url, data, tokens_file, reader, admin, fleet = sys.argv[1:]
    settings = Settings(database_url=url, data_dir=Path(data), tokens_file=Path(tokens_file), node_ttl_s=1e9)
    with TestClient(create_app(settings)) as client:
        for entry in json.loads(fleet):
            r = client.put(f"/v1/nodes/{entry['name']}/heartbeat", json={"node": entry},
                           headers={"Authorization": "Bearer " + admin})
            assert r.status_code == 200, r.text
        r = client.post("/v1/select", json={"model": {"framework": "pytorch", "framework_version": ">=2.3"},
                        "top": 2}, headers={"Authorization": "Bearer " + reader})
        assert r.status_code == 200, r.text
        assert client.app.state.rtfit.selection.flush_audits()
        print(hashlib.sha256(r.content).hexdigest())
""")


def test_an_answer_is_stored_once_across_workers(db_url: str, tokens: Tokens, tmp_path: Path,
                                                  make_client: Any) -> None:
    """Two worker processes (different hash seeds: set and dict orders differ) answer the same
    selection cold: the same bytes, one stored answer, every audit row naming it."""
    sent = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", _WORKER, db_url, str(tmp_path / "data"), str(tokens.path), tokens.reader,
             tokens.admin, json.dumps(_fleet())],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        sent.append(out.stdout.strip().splitlines()[-1])
    assert sent[0] == sent[1]
    audits, answers = _rows(make_client())
    assert [(a.cached, a.answer_hash) for a in audits] == [(False, sent[0])] * 2
    assert [a.hash for a in answers] == [sent[0]]


def test_an_answer_this_worker_stored_is_not_sent_again(make_client: Any, tokens: Tokens) -> None:
    """A recomputed answer (its cache entry evicted) that the audit writer already stored is not
    sent to the database again: its row names it by hash only."""
    from sqlalchemy import event

    client = make_client(select_cache_size=1)
    for entry in _fleet():
        r = client.put(f"/v1/nodes/{entry['name']}/heartbeat", json={"node": entry}, headers=tokens.h("admin"))
        assert r.status_code == 200, r.text
    sent: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if "INSERT INTO selection_answers" in statement:
            rows = parameters if executemany else [parameters]
            sent.extend(p["hash"] if isinstance(p, dict) else p[0] for p in rows)

    engine = client.app.state.rtfit.db.writer
    event.listen(engine, "before_cursor_execute", count)
    try:
        bodies = []
        for top in (1, 2, 1, 2):   # a cache of one answer: each is a miss, solved again
            r = client.post("/v1/select", json={"model": PYTORCH, "top": top}, headers=tokens.h("reader"))
            assert r.status_code == 200, r.text
            bodies.append(r.content)
            assert client.app.state.rtfit.selection.flush_audits()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    audits, answers = _rows(client)
    hashes = [hashlib.sha256(b).hexdigest() for b in bodies]
    assert [a.cached for a in audits] == [False] * 4
    assert [a.answer_hash for a in audits] == hashes and hashes[0] != hashes[1]
    assert sorted(sent) == sorted(hashes[:2])          # each answer sent once
    assert sorted(a.hash for a in answers) == sorted(hashes[:2])
