"""The next selection index is built before it is swapped in (`selection._IndexBuilder`).

- With `select_index_lag` > 0 a selection that arrives while the next index is being built is
  answered at once from the previous index, for the previous revisions (and the audit says so);
  once the build is done the answers are for the new revisions.
- With the default (0) the same selection waits for the index of the revisions it read.
- The builder builds the index of a changed inventory on its own, before any selection asks.

A gate on `FleetIndex.warm` (called once per build, by the builder thread only) holds a build
open for as long as the test needs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from solver.index.fleet_index import FleetIndex

from .conftest import Tokens, node_entry

H100 = [{"product": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0", "count": 1, "free": 1}]
BIG = {"framework": "pytorch", "min_gpu_memory_gib": 40}   # only an H100 node fits


class Gate:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        real = FleetIndex.warm

        def warm(index: FleetIndex) -> FleetIndex:
            self.entered.set()
            assert self.open.wait(60)
            return real(index)

        monkeypatch.setattr(FleetIndex, "warm", warm)

    def close(self) -> None:
        self.entered.clear()
        self.open.clear()


def _register(client: TestClient, tokens: Tokens, name: str, **over: Any) -> None:
    r = client.put(f"/v1/nodes/{name}/heartbeat", json={"node": node_entry(name, **over)}, headers=tokens.h("admin"))
    assert r.status_code == 200, r.text


def _select(client: TestClient, tokens: Tokens, model: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/select", json={"model": model}, headers=tokens.h("reader"))
    assert r.status_code == 200, r.text
    return r.json()


def _revision(client: TestClient) -> int:
    from metadata_service.storage.revisions import read_revisions

    with client.app.state.rtfit.db.read_session() as session:
        return read_revisions(session, stale_before=0).inventory


def _last_audit_revision(client: TestClient) -> int:
    from sqlalchemy import select

    from metadata_service.tables import SelectionAudit

    assert client.app.state.rtfit.selection.flush_audits()
    with client.app.state.rtfit.db.read_session() as session:
        return session.execute(select(SelectionAudit.inventory_revision).order_by(SelectionAudit.id.desc())).first()[0]


def _builder(client: TestClient) -> Any:
    return client.app.state.rtfit.selection._builder


def test_a_selection_during_a_rebuild_is_answered_from_the_old_index(
        make_client: Any, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(select_index_lag=10)
    gate = Gate(monkeypatch)
    for i in range(3):
        _register(client, tokens, f"n{i}")
    old = _revision(client)
    assert _select(client, tokens, BIG)["feasible"] is False
    assert _builder(client).active.inventory_revision == old
    gate.close()
    _register(client, tokens, "n3", gpus=H100)
    new = _revision(client)
    assert new > old
    started = time.monotonic()
    answer = _select(client, tokens, {**BIG, "name": "during"})
    assert time.monotonic() - started < 30 and not gate.open.is_set()   # answered while the build is held
    assert gate.entered.wait(30)                                          # ... which had started
    assert answer["feasible"] is False                                    # the old inventory's answer
    assert _last_audit_revision(client) == old                            # ... recorded as such
    gate.open.set()
    deadline = time.monotonic() + 30
    while _builder(client).active.inventory_revision != new:
        assert time.monotonic() < deadline, "the next index was never swapped in"
        time.sleep(0.02)
    assert _select(client, tokens, {**BIG, "name": "after"})["feasible"] is True
    assert _last_audit_revision(client) == new


def test_without_a_lag_a_selection_waits_for_the_index_of_its_revisions(
        make_client: Any, tokens: Tokens, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client()
    gate = Gate(monkeypatch)
    _register(client, tokens, "n0")
    assert _select(client, tokens, BIG)["feasible"] is False
    gate.close()
    _register(client, tokens, "n1", gpus=H100)
    new = _revision(client)
    got: list[dict[str, Any]] = []
    asker = threading.Thread(target=lambda: got.append(_select(client, tokens, {**BIG, "name": "waits"})))
    asker.start()
    assert gate.entered.wait(30)
    asker.join(0.5)
    assert asker.is_alive() and not got            # held by the build of its revision
    gate.open.set()
    asker.join(60)
    assert got and got[0]["feasible"] is True
    assert _last_audit_revision(client) == new


def test_the_builder_builds_a_changed_inventory_before_a_selection_asks(make_client: Any, tokens: Tokens) -> None:
    client = make_client()
    _register(client, tokens, "n0")
    assert _select(client, tokens, BIG)["feasible"] is False
    _register(client, tokens, "n1", gpus=H100)
    new = _revision(client)
    builder = _builder(client)
    deadline = time.monotonic() + 30
    while builder.active.inventory_revision != new:   # nobody selects: the builder sees it settle
        assert time.monotonic() < deadline, "the builder did not build the changed inventory by itself"
        time.sleep(0.05)
    builds = builder.builds
    assert _select(client, tokens, {**BIG, "name": "prebuilt"})["feasible"] is True
    assert builder.builds == builds                 # the selection built nothing
