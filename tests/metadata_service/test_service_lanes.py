"""Both request lanes end in the same tail (`metadata_service.lanes.respond`): what their work
raises is answered exactly as the FastAPI route answers it (a 500 problem body for an unexpected
error, a 503 with Retry-After for a database that is unavailable), and a spy on `respond` proves
the lane, not the route, answered."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from metadata_service import lanes

from .conftest import Tokens, node_entry

PYTORCH = {"framework": "pytorch", "framework_version": ">=2.3"}
FAULTS = [RuntimeError("boom"), OperationalError("SELECT 1", {}, Exception("server closed the connection"))]


@pytest.fixture
def responded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = lanes.respond

    async def spy(scope: Any, send: Any, work: Any) -> None:
        calls.append(scope["path"])
        await real(scope, send, work)

    monkeypatch.setattr(lanes, "respond", spy)
    return calls


def _answer(r: Any) -> tuple[int, str | None, str | None, bytes]:
    return r.status_code, r.headers.get("content-type"), r.headers.get("retry-after"), r.content


@pytest.mark.parametrize("fault", FAULTS, ids=["unexpected", "database"])
def test_a_fault_in_the_work_is_answered_as_the_route_answers_it(
    make_client: Any, tokens: Tokens, responded: list[str], fault: Exception
) -> None:
    lane, route = make_client(), make_client(select_lane=False, heartbeat_lane=False)
    heartbeat = {"node": None, "inventory_hash": "0" * 64}
    answers: dict[str, list[tuple[int, str | None, str | None, bytes]]] = {"select": [], "heartbeat": []}
    for client in (lane, route):
        r = client.put("/v1/nodes/node-a/heartbeat", json={"node": node_entry()}, headers=tokens.h("admin"))
        assert r.status_code == 200, r.text
        state = client.app.state.rtfit

        def solve(*args: Any, **kwargs: Any) -> Any:
            raise fault

        async def receive(*args: Any, **kwargs: Any) -> Any:
            raise fault

        state.selection._solve = solve
        state.heartbeats.receive = receive
        answers["select"].append(_answer(client.post("/v1/select", json={"model": PYTORCH},
                                                     headers=tokens.h("reader"))))
        answers["heartbeat"].append(_answer(client.put("/v1/nodes/node-a/heartbeat", json=heartbeat,
                                                       headers=tokens.h("agent"))))
    # the lanes answered the first client (its registering heartbeat too), never the second
    assert responded == ["/v1/nodes/node-a/heartbeat", "/v1/select", "/v1/nodes/node-a/heartbeat"]
    for kind, (on_lane, on_route) in answers.items():
        assert on_lane == on_route, kind
        assert on_lane[0] == (500 if isinstance(fault, RuntimeError) else 503), kind
