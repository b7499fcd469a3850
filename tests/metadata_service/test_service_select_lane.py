"""The selection lane answers exactly as the FastAPI route does.

Two services on their own SQLite files, one with the lane (the default) and one without
(`select_lane=False`: FastAPI validates the body and renders the route's `dict` return itself),
get the same sequence of requests on the same clock; every answer must match in status, content
type and bytes: cold answers, cache hits (the lane sends the body it rendered when the answer was
computed), `where`, `plan`, `why_not`, `install`, `model_name`, and the refusals (bad tokens, bad
bodies, unknown node or model). A spy on `SelectLane.handle` proves which requests the lane
took, so the comparison cannot pass by the lane never running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from metadata_service.app import create_app
from metadata_service.select_lane import SelectLane
from metadata_service.settings import Settings

from .conftest import FakeClock, Tokens, node_entry

PYTORCH = {"framework": "pytorch", "framework_version": ">=2.3"}


@pytest.fixture
def pair(tokens: Tokens, clock: FakeClock, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    clients = []
    for lane in (True, False):
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'lane-{lane}.db'}",
            data_dir=tmp_path / f"data-{lane}",
            tokens_file=tokens.path,
            node_ttl_s=60.0,
            select_lane=lane,
        )
        client = TestClient(create_app(settings, clock=clock), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
    yield clients[0], clients[1]
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What `SelectLane.handle` returned, call by call."""
    calls: list[bool] = []
    real = SelectLane.handle

    async def spy(self: SelectLane, scope: Any, body: bytes, send: Any) -> bool:
        result = await real(self, scope, body, send)
        calls.append(result)
        return result

    monkeypatch.setattr(SelectLane, "handle", spy)
    return calls


def _both(pair: tuple[TestClient, TestClient], method: str, path: str, *, content: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    answers = []
    for client in pair:
        r = client.request(method, path, content=content, headers=headers or {})
        answers.append((r.status_code, r.headers.get("content-type"), r.content))
    assert answers[0] == answers[1], (method, path, content, answers)
    return answers[0][0], answers[0][2]


def test_lane_and_route_send_the_same_bytes(pair: tuple[TestClient, TestClient], tokens: Tokens,
                                            taken: list[bool]) -> None:
    json_h = {"Content-Type": "application/json"}
    reader = {**tokens.h("reader"), **json_h}
    for i, (cluster, product, mem, cc) in enumerate([("c0", "NVIDIA L4", 23034, "8.9"),
                                                     ("c1", "NVIDIA H100 80GB HBM3", 81559, "9.0"),
                                                     ("c1", "Tesla T4", 15360, "7.5")]):
        entry = node_entry(f"n{i}", cluster=cluster, gpus=[
            {"product": product, "memory_mib": mem, "compute_capability": cc, "count": 2, "free": 2}])
        status, _ = _both(pair, "PUT", f"/v1/nodes/n{i}/heartbeat", content=json.dumps({"node": entry}).encode(),
                          headers={**tokens.h("admin"), **json_h})
        assert status == 200
    status, _ = _both(pair, "POST", "/v1/models", content=json.dumps({"name": "m1", "request": PYTORCH}).encode(),
                      headers={**tokens.h("admin"), **json_h})
    assert status in (200, 201)
    taken.clear()
    bodies: list[tuple[dict[str, Any] | bytes, int, bool]] = [   # body, status, lane takes it
        ({"model": PYTORCH}, 200, True),
        ({"model": PYTORCH}, 200, True),                                   # a cache hit: the stored bytes
        ({"model": PYTORCH, "top": 3, "where": {"cluster": "c1"}}, 200, True),
        ({"model": PYTORCH, "top": 3, "where": {"cluster": "c1"}}, 200, True),
        ({"model": {"framework": "onnxruntime"}, "plan": True}, 200, True),
        ({"model": PYTORCH, "why_not": "n2"}, 200, True),
        ({"model": PYTORCH, "install": True}, 200, True),
        ({"model_name": "m1", "top": 2}, 200, True),
        ({"model": {"framework": "pytorch", "gpu_count": 64}}, 200, True),   # infeasible: still a 200 answer
        ({"model": {"framework": "tensorflow", "nonsense": 1}}, 422, True),  # the solver refuses the request
        ({"model": PYTORCH, "why_not": "nope"}, 422, True),                  # no such live node
        ({"model_name": "absent"}, 422, True),                               # no such model
        ({"model": PYTORCH, "top": 0}, 422, False),                          # the body does not validate
        ({"model": PYTORCH, "model_name": "m1"}, 422, False),
        ({"model": PYTORCH, "extra": 1}, 422, False),
        (b"{not json", 422, False),
    ]
    for body, want, lane in bodies:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _ = _both(pair, "POST", "/v1/select", content=content, headers=reader)
        assert status == want, body
        assert taken[-1] is lane, body
    for headers in ({**tokens.h("agent"), **json_h}, json_h, {**reader, "Content-Type": "text/plain"}):
        status, _ = _both(pair, "POST", "/v1/select", content=json.dumps({"model": PYTORCH}).encode(), headers=headers)
        assert status in (401, 403, 415, 422) and taken[-1] is False
    assert taken.count(True) == 12
