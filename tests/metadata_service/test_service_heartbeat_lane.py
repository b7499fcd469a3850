"""The heartbeat lane answers exactly as the FastAPI route does (both call `read_heartbeat`).

Two services on their own SQLite files, one with the lane (the default) and one without
(`heartbeat_lane=False`), get the same sequence of requests on the same clock; every answer must
match in status, content type and bytes, and so must the stored nodes afterwards. A spy on
`HeartbeatLane.handle` proves which requests the lane took, so the comparison cannot pass by
the lane never running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from metadata_service.app import create_app
from metadata_service.heartbeat_lane import HeartbeatLane
from metadata_service.settings import Settings
from metadata_service.storage.nodes import inventory_hash

from .conftest import FakeClock, Tokens, node_entry

ENTRY = node_entry()
HASH = inventory_hash(ENTRY)
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def pair(tokens: Tokens, clock: FakeClock, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    clients = []
    for lane in (True, False):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'lane-{lane}.db'}",
            data_dir=tmp_path / f"data-{lane}",
            tokens_file=tokens.path,
            node_ttl_s=60.0,
            heartbeat_lane=lane,
        )
        client = TestClient(create_app(settings, clock=clock), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
    yield clients[0], clients[1]
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What `HeartbeatLane.handle` returned, call by call."""
    calls: list[bool] = []
    real = HeartbeatLane.handle

    async def spy(self: HeartbeatLane, scope: Any, body: bytes, send: Any) -> bool:
        result = await real(self, scope, body, send)
        calls.append(result)
        return result

    monkeypatch.setattr(HeartbeatLane, "handle", spy)
    return calls


def _liveness(digest: str = HASH) -> bytes:
    return json.dumps({"node": None, "inventory_hash": digest}).encode()


def _send(client: TestClient, node: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    r = client.put(f"/v1/nodes/{node}/heartbeat", content=body, headers=headers)
    return r.status_code, r.headers.get("content-type", ""), r.content


def test_lane_and_route_answer_the_same(
    pair: tuple[TestClient, TestClient], tokens: Tokens, clock: FakeClock, taken: list[bool]
) -> None:
    lane, route = pair
    agent = {**tokens.h("agent"), **JSON}
    # (what, node, body, headers, lane takes it?)
    steps: list[tuple[str, str, bytes, dict[str, str], bool | None]] = [
        ("liveness before registration: 409 unknown node", "node-a", _liveness(), agent, True),
        ("full inventory", "node-a", json.dumps({"node": ENTRY}).encode(), agent, True),
        ("liveness", "node-a", _liveness(), agent, True),
        ("liveness, upper-case hash", "node-a", _liveness(HASH.upper()), agent, True),
        ("liveness with another hash: 409", "node-a", _liveness("ab" * 32), agent, True),
        ("admin may beat any node", "node-a", _liveness(), {**tokens.h("admin"), **JSON}, True),
        ("charset in the content type", "node-a", _liveness(),
         {**tokens.h("agent"), "Content-Type": "application/json; charset=utf-8"}, True),
        ("a +json content type is JSON", "node-a", _liveness(),
         {**tokens.h("agent"), "Content-Type": "application/merge-patch+json"}, True),
        # without a valid token the request middleware answers 401 before the lane is consulted
        ("no token: 401", "node-a", _liveness(), JSON, None),
        ("unknown token: 401", "node-a", _liveness(), {"Authorization": "Bearer nope", **JSON}, None),
        ("agent for another node: 403", "node-b", _liveness(), agent, True),
        ("reader token: 403", "node-a", _liveness(), {**tokens.h("reader"), **JSON}, True),
        ("hash not hex: 422", "node-a", _liveness("xyz"), agent, True),
        ("extra field: 422", "node-a", b'{"node": null, "inventory_hash": "' + HASH.encode() + b'", "x": 1}', agent,
         True),
        ("neither form: 422", "node-a", b'{"node": null}', agent, True),
        ("not JSON: 422", "node-a", b'{"node": nul', agent, True),
        ("a JSON list: 422", "node-a", b"[]", agent, True),
        ("empty body: 422", "node-a", b"", agent, True),
        ("text/plain body: 422", "node-a", _liveness(), {**tokens.h("agent"), "Content-Type": "text/plain"}, True),
        ("no content type: 422", "node-a", _liveness(), tokens.h("agent"), True),
        ("bad name and bad JSON: the JSON is reported", "n" * 300, b"{bad", {**tokens.h("admin"), **JSON}, True),
        ("bad name and a bad field: both, the name first", "n" * 300, b'{"node": null}',
         {**tokens.h("admin"), **JSON}, True),
        ("full inventory for another node: 422", "node-b", json.dumps({"node": ENTRY}).encode(),
         {**tokens.h("admin"), **JSON}, True),
        ("full inventory, a bad GPU count: 422", "node-a",
         json.dumps({"node": {**ENTRY, "gpus": [{**ENTRY["gpus"][0], "count": -1}]}}).encode(), agent, True),
    ]
    for what, node, body, headers, lane_takes in steps:
        before = len(taken)
        got = _send(lane, node, body, headers)
        assert taken[before:] == ([] if lane_takes is None else [lane_takes]), what
        expected = _send(route, node, body, headers)
        assert len(taken) == before + 1 or not lane_takes, what  # the route-only service has no lane
        assert got == expected, f"{what}: lane {got!r} != route {expected!r}"
        clock.advance(1)

    # A node silent past its TTL (swept by the next read) comes back through a liveness ping.
    clock.advance(120)
    for c in (lane, route):
        assert c.get("/v1/inventory", headers=tokens.h("reader")).json()["nodes"] == []
    before = len(taken)
    revived = _send(lane, "node-a", _liveness(), agent)
    assert taken[before:] == [True]
    assert revived == _send(route, "node-a", _liveness(), agent)
    assert json.loads(revived[2])["revived"] is True

    # And both services stored the same thing.
    reader = tokens.h("reader")
    nodes = [c.get("/v1/nodes/node-a", headers=reader).json() for c in (lane, route)]
    assert nodes[0] == nodes[1]
    assert nodes[0]["beats"] == 7  # the full inventory + 6 accepted liveness pings (incl. the revival)


def test_lane_counts_in_metrics_under_the_route_template(
    pair: tuple[TestClient, TestClient], tokens: Tokens, taken: list[bool]
) -> None:
    lane, _ = pair
    agent = {**tokens.h("agent"), **JSON}
    assert _send(lane, "node-a", json.dumps({"node": ENTRY}).encode(), agent)[0] == 200
    for _ in range(3):
        assert _send(lane, "node-a", _liveness(), agent)[0] == 200
    assert taken == [True, True, True, True]
    text = lane.get("/metrics").text
    lines = [
        line for line in text.splitlines()
        if line.startswith("rtfit_http_request_duration_seconds_count")
        and 'route="/v1/nodes/{name}/heartbeat"' in line and 'status="200"' in line
    ]
    assert lines and float(lines[0].rsplit(" ", 1)[1]) == 4.0, lines
    beats = [line for line in text.splitlines() if line.startswith("rtfit_heartbeats_total") and "liveness" in line]
    assert beats and any(line.endswith(" 3.0") for line in beats), beats


@pytest.mark.parametrize("body", [b"\x8a", b'{"node": null, "inventory_hash": "\xff"}'])
def test_a_body_that_is_not_utf8_is_a_400_on_lane_and_route(
    pair: tuple[TestClient, TestClient], tokens: Tokens, body: bytes
) -> None:
    """A JSON body that is not UTF-8 text is the client's error: 400 with a problem body, the same
    as every other route answers it, on the lane and on the route (it was an unhandled 500: the
    schema fuzzer found it on PostgreSQL)."""
    lane, route = pair
    agent = {**tokens.h("agent"), **JSON}
    answers = [_send(c, "node-a", body, agent) for c in (lane, route)]
    assert answers[0] == answers[1]
    status, ctype, content = answers[0]
    assert status == 400 and ctype.startswith("application/problem+json"), answers[0]
    assert "UTF-8" in json.loads(content)["detail"]
    # and a route served by FastAPI says the same kind of thing
    other = route.post("/v1/select", content=body, headers={**tokens.h("reader"), **JSON})
    assert other.status_code == 400, other.text
