"""The selection service survives its app's lifespan ending and beginning again.

An ASGI test client (schemathesis's, starlette's) may run the app's lifespan around each call, and
requests can also come with no lifespan at all. The lifespan's shutdown closes the index builder
and the audit writer; a builder that stayed closed left every later selection waiting 120 s for a
build nobody made (found by the PostgreSQL schema fuzzer in a fresh-clone CI run), and an audit
writer whose thread had ended kept the later rows queued and never wrote them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from metadata_service.app import create_app
from metadata_service.settings import Settings

from .conftest import Tokens, node_entry

MODEL = {"framework": "pytorch"}


def _select_within(client: TestClient, tokens: Tokens, seconds: float) -> Any:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(
        client.post("/v1/select", json={"model": MODEL}, headers=tokens.h("reader"))), daemon=True)
    t.start()
    t.join(seconds)
    assert out, f"a selection got no answer within {seconds:g} s"
    return out[0]


def test_selections_and_audits_after_the_lifespan_ended_and_began_again(
        db_url: str, tokens: Tokens, clock: Any, tmp_path: Path) -> None:
    app = create_app(Settings(database_url=db_url, data_dir=tmp_path / "data", tokens_file=tokens.path,
                              node_ttl_s=60.0), clock=clock)
    client = TestClient(app, raise_server_exceptions=False)
    with client:     # first lifespan
        r = client.put("/v1/nodes/node-a/heartbeat", json={"node": node_entry("node-a")}, headers=tokens.h("admin"))
        assert r.status_code == 200, r.text
        first = _select_within(client, tokens, 60)
        assert first.status_code == 200, first.text
    selection = app.state.rtfit.selection
    for k in range(2):   # a second lifespan on the same app, then requests with no lifespan at all
        with client:
            # a new node: the inventory revision moves, so the selection needs the builder's next index
            r = client.put(f"/v1/nodes/node-b{k}/heartbeat", json={"node": node_entry(f"node-b{k}")},
                           headers=tokens.h("admin"))
            assert r.status_code == 200, r.text
            r = _select_within(client, tokens, 30)
            assert r.status_code == 200, r.text
            assert r.json()["choice"]["node"] in {"node-a", "node-b0", "node-b1"}
            r = client.post("/v1/select", json={"model": {**MODEL, "min_gpu_memory_gib": 1}},
                            headers=tokens.h("reader"))
            assert r.status_code == 200, r.text
            assert selection.flush_audits(30), "audit rows queued after a restart were never written"
    r = client.put("/v1/nodes/node-c/heartbeat", json={"node": node_entry("node-c")}, headers=tokens.h("admin"))
    assert r.status_code == 200, r.text
    r = _select_within(client, tokens, 30)   # the lifespan has ended: no new start-up ran
    assert r.status_code == 200, r.text
    assert selection.flush_audits(30)
