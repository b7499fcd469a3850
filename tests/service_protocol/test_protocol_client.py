"""`ServiceClient` against a real HTTP server on a loopback port: retries with backoff, error
mapping, token files re-read, the inventory fetch, expected statuses as outcomes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from service_protocol import (
    ProtocolConfigError,
    RetryPolicy,
    ServiceClient,
    ServiceRefused,
    ServiceUnreachable,
    TokenFileInvalid,
    fetch_inventory,
)

from .conftest import Answer, ScriptedServer, free_port

FAST = RetryPolicy(budget_s=10.0, base=0.01, cap=0.05)


def test_502_503_504_are_retried_until_an_answer(server: ScriptedServer) -> None:
    server.script = [Answer(503), Answer(502, "<html>bad gateway</html>"), Answer(504)]
    with ServiceClient(server.url, "tok", retry=FAST) as client:
        assert client.request("GET", "/v1/catalog") == {"ok": True}
    assert len(server.seen) == 4
    assert all(s.headers["authorization"] == "Bearer tok" for s in server.seen)


def test_without_a_retry_policy_one_failure_is_final(server: ScriptedServer) -> None:
    server.script = [Answer(503, {"title": "Service not ready", "detail": "the database is unavailable"})]
    with ServiceClient(server.url) as client, pytest.raises(ServiceRefused) as info:
        client.request("GET", "/v1/catalog")
    assert len(server.seen) == 1 and info.value.status == 503
    assert info.value.detail == "the database is unavailable"
    assert str(info.value) == "GET /v1/catalog: 503 the database is unavailable"


def test_a_client_error_is_never_retried(server: ScriptedServer) -> None:
    server.script = [Answer(422, {"detail": "model.framework: unknown", "field": "model.framework"})]
    with ServiceClient(server.url, retry=FAST) as client, pytest.raises(ServiceRefused) as info:
        client.select({"model": {"framework": "x"}})
    assert len(server.seen) == 1
    assert info.value.status == 422 and info.value.problem is not None
    assert info.value.problem.field == "model.framework"


def test_the_budget_bounds_the_retries(server: ScriptedServer) -> None:
    server.default = Answer(503, {"detail": "still down"})
    policy = RetryPolicy(budget_s=0.3, base=0.02, cap=0.05)
    started = time.monotonic()
    with ServiceClient(server.url, retry=policy) as client, pytest.raises(ServiceRefused) as info:
        client.request("GET", "/v1/catalog")
    assert time.monotonic() - started < 2.0
    assert 3 <= len(server.seen) <= 40
    assert "gave up after" in str(info.value) and info.value.detail == "still down"


def test_retry_after_is_honoured_within_the_cap(server: ScriptedServer) -> None:
    server.script = [Answer(503, headers={"Retry-After": "0.3"})]
    with ServiceClient(server.url, retry=RetryPolicy(budget_s=5.0, base=0.01, cap=1.0)) as client:
        started = time.monotonic()
        client.request("GET", "/v1/catalog")
    assert time.monotonic() - started >= 0.3 and len(server.seen) == 2


def test_a_service_that_comes_up_late_is_reached(tmp_path: Path) -> None:
    port = free_port()
    late: list[ScriptedServer] = []

    def start_later() -> None:
        time.sleep(0.4)
        late.append(ScriptedServer(port).start())

    threading.Thread(target=start_later, daemon=True).start()
    try:
        with ServiceClient(f"http://127.0.0.1:{port}", retry=FAST) as client:
            assert client.request("GET", "/healthz") == {"ok": True}
    finally:
        for s in late:
            s.stop()


def test_unreachable_without_retries_is_one_error_with_the_cause() -> None:
    with ServiceClient(f"http://127.0.0.1:{free_port()}") as client, pytest.raises(ServiceUnreachable) as info:
        client.request("GET", "/healthz")
    assert info.value.status is None and "cannot reach http://127.0.0.1:" in str(info.value)
    assert info.value.__cause__ is not None


def test_expected_statuses_come_back_as_replies(server: ScriptedServer) -> None:
    server.script = [Answer(409, {"detail": "send the full inventory"}), Answer(404, {})]
    with ServiceClient(server.url, "t") as client:
        assert client.heartbeat("a b/c", {"node": None, "inventory_hash": "ab" * 32}).status == 409
        assert client.heartbeat("edge", {"node": None, "inventory_hash": "ab" * 32}).status == 404
    assert server.seen[0].method == "PUT" and server.seen[0].path == "/v1/nodes/a%20b%2Fc/heartbeat"


def test_the_token_file_is_read_on_every_call(server: ScriptedServer, tmp_path: Path) -> None:
    token = tmp_path / "tok"
    token.write_text("first\n")
    with ServiceClient(server.url, token_file=token) as client:
        client.request("GET", "/v1/nodes")
        token.write_text("# rotated\nsecond\n")
        client.request("GET", "/v1/nodes")
        token.write_text("")
        with pytest.raises(TokenFileInvalid):
            client.request("GET", "/v1/nodes")
    assert [s.headers["authorization"] for s in server.seen] == ["Bearer first", "Bearer second"]


def test_fetch_inventory_reads_the_live_inventory(server: ScriptedServer) -> None:
    doc = {"inventory_revision": 7, "nodes": [{"name": "edge-01", "arch": "x86_64", "gpus": []}]}
    server.default = Answer(200, doc)
    assert fetch_inventory(server.url, "reader-token", cluster="edge") == doc
    seen = server.seen[0]
    assert seen.method == "GET" and seen.path == "/v1/inventory?cluster=edge"
    assert seen.headers["authorization"] == "Bearer reader-token"
    assert fetch_inventory(server.url) == doc and "authorization" not in server.seen[1].headers
    assert server.seen[1].path == "/v1/inventory"


def test_text_bodies_and_empty_answers(server: ScriptedServer) -> None:
    server.script = [Answer(200, "line 1\nline 2\n"), Answer(204, b"")]
    with ServiceClient(server.url) as client:
        assert client.task_log("run-1", "train") == "line 1\nline 2\n"
        assert client.delete_model("m") is None
    assert server.seen[0].path == "/v1/flows/run-1/tasks/train/logs"


def test_a_server_prefix_is_kept(server: ScriptedServer) -> None:
    with ServiceClient(server.url + "/rtfit/") as client:
        client.request("GET", "/v1/models")
    assert server.seen[0].path == "/rtfit/v1/models"


@pytest.mark.parametrize("url", ["rtfit:8000", "127.0.0.1:8000", "ftp://x"])
def test_the_server_must_be_an_http_url(url: str) -> None:
    with pytest.raises(ProtocolConfigError, match="http:// or https://"):
        ServiceClient(url)


def test_one_credential_at_a_time(tmp_path: Path) -> None:
    with pytest.raises(ProtocolConfigError, match="not both"):
        ServiceClient("http://x", "t", token_file=tmp_path / "tok")


def test_a_401_without_a_token_says_how_to_give_one(server: ScriptedServer) -> None:
    """A fresh-clone trial's `rtfit select --server URL` without --token-file got '401 missing bearer token
    (send 'Authorization: Bearer <token>')': true, but a CLI user sets no header. With a token sent,
    a 401 stays as the service said it."""
    server.script = [Answer(401, {"detail": "missing bearer token"})]
    with ServiceClient(server.url) as client, pytest.raises(ServiceRefused) as info:
        client.request("GET", "/v1/nodes")
    assert str(info.value) == "GET /v1/nodes: 401 missing bearer token (no token was sent: give --token-file FILE or set RTFIT_TOKEN)"
    server.script = [Answer(401, {"detail": "unknown token"})]
    with ServiceClient(server.url, "wrong") as client, pytest.raises(ServiceRefused) as info:
        client.request("GET", "/v1/nodes")
    assert str(info.value) == "GET /v1/nodes: 401 unknown token"
