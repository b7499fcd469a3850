"""Heartbeats against a scripted fake service (httpx.MockTransport): bodies, statuses, backoff."""

from __future__ import annotations

import json
import random
from pathlib import Path

import httpx
import pytest

from node_agent.agent import AgentConfig, NodeAgent
from node_agent.errors import AgentConfigError, AuthRejected, PayloadRejected, ServerError, ServerUnreachable
from node_agent.fake import FakeDeviceSource, fake_l4, fake_node
from node_agent.inventory import HostFacts, inventory_hash
from node_agent.publisher import Backoff, HeartbeatClient, SendOutcome

HOST = HostFacts(hostname="edge-01", arch="x86_64")


class FakeService:
    """Remembers each node's accepted inventory hash; answers 409 to a liveness ping it can't match."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.hashes: dict[str, str] = {}
        self.script: list[int | Exception] = []  # forced answers, consumed first

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            forced = self.script.pop(0)
            if isinstance(forced, Exception):
                raise forced
            return httpx.Response(forced, json={"title": "forced", "detail": f"forced {forced}"})
        node = request.url.path.split("/")[3]
        body = json.loads(request.content)
        if body["node"] is not None:
            self.hashes[node] = body["inventory_hash"]
            return httpx.Response(200, json={"node": node})
        if self.hashes.get(node) != body["inventory_hash"]:
            return httpx.Response(409, json={"detail": "send the full inventory"})
        return httpx.Response(200, json={"node": node})

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]

    def kinds(self) -> list[str]:
        return ["full" if b["node"] is not None else "live" for b in self.bodies()]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("s3cret-token\n")
    return path


def _agent(service: FakeService, token_file: Path, source: FakeDeviceSource | None = None) -> NodeAgent:
    client = HeartbeatClient("http://rtfit.test:8000/", token_file, transport=httpx.MockTransport(service))
    backoff = Backoff(base=1.0, cap=8.0, rng=random.Random(7))
    source = source or FakeDeviceSource(fake_node(fake_l4()))
    return NodeAgent(
        AgentConfig(name="edge-01", interval=10.0), source, client=client, host=HOST, backoff=backoff
    )


def test_first_round_full_then_liveness_then_full_again_on_change(token_file: Path) -> None:
    service = FakeService()
    source = FakeDeviceSource(fake_node(fake_l4()))
    agent = _agent(service, token_file, source)
    assert [agent.step() for _ in range(3)] == [10.0, 10.0, 10.0]
    source.set(fake_node(fake_l4(in_use=True)))
    agent.step()
    agent.step()
    assert service.kinds() == ["full", "live", "live", "full", "live"]
    first, live = service.bodies()[:2]
    assert first["node"]["name"] == "edge-01" and first["node"]["gpus"][0]["free"] == 1
    assert first["inventory_hash"] == inventory_hash(first["node"])
    assert live == {"node": None, "inventory_hash": first["inventory_hash"]}
    assert service.bodies()[3]["node"]["gpus"][0]["free"] == 0
    req = service.requests[0]
    assert req.method == "PUT" and str(req.url) == "http://rtfit.test:8000/v1/nodes/edge-01/heartbeat"
    assert req.headers["Authorization"] == "Bearer s3cret-token"


def test_service_that_forgot_the_node_gets_the_full_inventory_in_the_same_round(token_file: Path) -> None:
    service = FakeService()
    agent = _agent(service, token_file)
    agent.step()
    service.hashes.clear()  # e.g. restarted on an empty database
    assert agent.step() == 10.0
    assert service.kinds() == ["full", "live", "full"]
    service.script = [404]
    agent.step()
    assert service.kinds()[-2:] == ["live", "full"]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.ConnectError("refused"), ServerUnreachable),
        (httpx.ReadTimeout("slow"), ServerUnreachable),
        (503, ServerError),
        (500, ServerError),
        (401, AuthRejected),
        (403, AuthRejected),
        (422, PayloadRejected),
    ],
)
def test_send_wraps_every_failure_into_our_errors(token_file: Path, answer: object, error: type) -> None:
    service = FakeService()
    service.script = [answer]  # type: ignore[list-item]
    client = HeartbeatClient("http://rtfit.test", token_file, transport=httpx.MockTransport(service))
    with pytest.raises(error) as info:
        client.send("edge-01", {"node": None, "inventory_hash": "ab" * 32})
    if isinstance(answer, int):
        assert info.value.status == answer and f"forced {answer}" in str(info.value)
    if not isinstance(answer, int):  # the transport's exception stays at the end of the chain
        assert isinstance(info.value.__cause__.__cause__, httpx.HTTPError)


def test_expected_statuses_are_outcomes(token_file: Path) -> None:
    service = FakeService()
    client = HeartbeatClient("http://rtfit.test", token_file, transport=httpx.MockTransport(service))
    service.script = [204, 404, 409]
    assert [client.send("n", {}) for _ in range(3)] == [
        SendOutcome.ACCEPTED,
        SendOutcome.NEED_INVENTORY,
        SendOutcome.NEED_INVENTORY,
    ]


def test_a_down_service_means_backoff_not_a_crash_and_recovery_resets_it(token_file: Path) -> None:
    service = FakeService()
    agent = _agent(service, token_file)
    agent.step()
    down = httpx.ConnectError("connection refused")
    service.script = [down, down, down, down, down, 503]
    delays = [agent.step() for _ in range(6)]
    # equal jitter: attempt n waits in [d/2, d], d = min(8, 2**n)
    for n, delay in enumerate(delays):
        d = min(8.0, 2.0**n)
        assert d / 2 <= delay <= d
    assert delays[-1] >= 4.0  # capped, not growing past 8
    assert agent.step() == 10.0  # the service is back
    assert agent.backoff.attempts == 0
    assert agent.stats["send_failures"] == 6 and agent.stats["rounds_ok"] == 2
    assert service.kinds()[-1] == "live"  # it still had our inventory


def test_a_failed_full_send_is_retried_as_full(token_file: Path) -> None:
    service = FakeService()
    agent = _agent(service, token_file)
    service.script = [httpx.ReadTimeout("lost")]
    agent.step()
    agent.step()
    assert service.kinds() == ["full", "full"]


def test_the_token_file_is_reread_so_a_rotated_secret_applies(token_file: Path) -> None:
    service = FakeService()
    agent = _agent(service, token_file)
    agent.step()
    token_file.write_text("rotated\n")
    agent.step()
    assert [r.headers["Authorization"] for r in service.requests] == ["Bearer s3cret-token", "Bearer rotated"]
    token_file.unlink()
    assert agent.step() > 0 and agent.stats["send_failures"] == 1


def test_collection_bug_is_logged_and_backed_off(token_file: Path) -> None:
    class Broken(FakeDeviceSource):
        def snapshot(self):  # type: ignore[override]
            raise RuntimeError("driver went away mid-call")

    service = FakeService()
    agent = _agent(service, token_file, Broken(fake_node()))
    assert 0.5 <= agent.step() <= 1.0
    assert agent.stats["collect_failures"] == 1 and service.requests == []


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "exactly one token"), ("two words\n", "exactly one token"), (None, "cannot read")],
)
def test_bad_token_file_is_a_config_error_at_start(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "tok"
    if content is not None:
        path.write_text(content)
    with pytest.raises(AgentConfigError, match=message):
        HeartbeatClient("http://x", path)


def test_server_must_be_a_url(token_file: Path) -> None:
    with pytest.raises(AgentConfigError, match="http:// or https://"):
        HeartbeatClient("rtfit:8000", token_file)


def test_node_name_is_quoted_in_the_url(token_file: Path) -> None:
    client = HeartbeatClient("http://x/", token_file)
    assert client.url("a b/c") == "http://x/v1/nodes/a%20b%2Fc/heartbeat"


def test_backoff_spreads_retries() -> None:
    first_delays = {Backoff(base=1, cap=60, rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(first_delays) > 10  # jitter: agents restarted together do not retry in step
    assert all(0.5 <= d <= 1.0 for d in first_delays)
