"""The 401/403 matrix of every route, agent node scoping, and the tokens file itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from metadata_service.auth import TokenStore, append_token, digest, new_token
from metadata_service.errors import Forbidden, InvalidInput, Unauthorized

from .conftest import Tokens, node_entry

# (method, path, body): every protected route of Contract 4 plus /v1/inventory.
READ_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/v1/catalog", None),
    ("GET", "/v1/catalog/components", None),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/m", None),
    ("GET", "/v1/nodes", None),
    ("GET", "/v1/nodes/node-a", None),
    ("GET", "/v1/inventory", None),
    ("GET", "/v1/flows", None),
    ("GET", "/v1/flows/r1", None),
    ("GET", "/v1/flows/r1/tasks/t/logs", None),
    ("POST", "/v1/select", {"model": {"framework": "pytorch"}}),
    ("POST", "/v1/select/batch", {"models": [{"framework": "pytorch"}]}),
]
ADMIN_ROUTES: list[tuple[str, str, Any]] = [
    ("PUT", "/v1/catalog", {"files": {"x.yaml": {}}}),
    ("POST", "/v1/models", {"name": "m2", "request": {"framework": "pytorch"}}),
    ("DELETE", "/v1/models/m", None),
    ("POST", "/v1/flows", {"flow": "f"}),
]
HEARTBEAT = ("PUT", "/v1/nodes/node-a/heartbeat", {"node": node_entry("node-a")})
OPEN_ROUTES = ["/healthz", "/readyz", "/metrics"]


def _call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> int:
    return client.request(method, path, json=body, headers=headers).status_code


def test_no_or_bad_token_is_401(client: TestClient) -> None:
    for method, path, body in [*READ_ROUTES, *ADMIN_ROUTES, HEARTBEAT]:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
            r = client.request(method, path, json=body, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.json()["title"] == "Unauthorized"


def test_role_matrix(client: TestClient, tokens: Tokens) -> None:
    for method, path, body in READ_ROUTES:
        assert _call(client, method, path, body, tokens.h("agent")) == 403, (method, path)
        for who in ("reader", "admin"):
            assert _call(client, method, path, body, tokens.h(who)) not in (401, 403), (who, method, path)
    for method, path, body in ADMIN_ROUTES:
        for who in ("reader", "agent"):
            r = client.request(method, path, json=body, headers=tokens.h(who))
            assert r.status_code == 403, (who, method, path)
            assert "admin" in r.json()["detail"]
        assert _call(client, method, path, body, tokens.h("admin")) not in (401, 403), (method, path)
    method, path, body = HEARTBEAT
    assert _call(client, method, path, body, tokens.h("reader")) == 403
    assert _call(client, method, path, body, tokens.h("agent")) == 200
    assert _call(client, method, path, body, tokens.h("admin")) == 200


def test_agent_may_only_write_its_own_node(client: TestClient, tokens: Tokens) -> None:
    r = client.put("/v1/nodes/node-b/heartbeat", json={"node": node_entry("node-b")}, headers=tokens.h("agent"))
    assert r.status_code == 403
    assert "node-a" in r.json()["detail"] and "node-b" in r.json()["detail"]
    r = client.put("/v1/nodes/node-b/heartbeat", json={"node": node_entry("node-b")}, headers=tokens.h("agent_b"))
    assert r.status_code == 200


def test_open_routes_need_no_token(client: TestClient) -> None:
    for path in OPEN_ROUTES:
        assert client.get(path).status_code == 200, path


def test_metrics_can_require_a_reader(make_client: Any, tokens: Tokens) -> None:
    client = make_client(metrics_public=False)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=tokens.h("agent")).status_code == 403
    assert client.get("/metrics", headers=tokens.h("reader")).status_code == 200


def test_without_a_tokens_file_everything_protected_is_401(make_client: Any, tokens: Tokens) -> None:
    client = make_client(tokens_file=None)
    r = client.get("/v1/nodes", headers=tokens.h("admin"))
    assert r.status_code == 401 and "RTFIT_TOKENS_FILE" in r.json()["detail"]
    assert client.get("/healthz").status_code == 200


def test_tokens_never_appear_in_answers_or_logs(
    client: TestClient, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    for who in ("admin", "reader", "agent"):
        r = client.get("/v1/nodes/nope", headers=tokens.h(who))
        assert getattr(tokens, who) not in r.text
    client.get("/v1/nodes", headers={"Authorization": "Bearer secret-guess-123"})
    text = caplog.text + "".join(str(getattr(rec, "fields", "")) for rec in caplog.records)
    for value in (tokens.admin, tokens.reader, tokens.agent, "secret-guess-123"):
        assert value not in text


# -- the tokens file ---------------------------------------------------------------------------


def test_append_token_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first = new_token()
    append_token(path, name="ops", role="admin", node=None, token=first)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert first not in path.read_text()
    assert digest(first) in path.read_text()
    store = TokenStore(path)
    assert store.authenticate(f"Bearer {first}").role == "admin"
    second = new_token()
    append_token(path, name="edge", role="agent", node="edge-01", token=second)
    store._checked = 0.0  # as if a second had passed since the last check
    principal = store.authenticate(f"bearer {second}")  # reloaded without a restart
    assert (principal.role, principal.node) == ("agent", "edge-01")
    with pytest.raises(Forbidden):
        principal.require("reader")
    with pytest.raises(Unauthorized):
        store.authenticate(f"Bearer {first}x")
    with pytest.raises(InvalidInput, match="already has a token named 'ops'"):
        append_token(path, name="ops", role="reader", node=None, token=new_token())
    with pytest.raises(InvalidInput, match="--node"):
        append_token(path, name="a2", role="agent", node=None, token=new_token())


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tokens: [{name: a, role: root, sha256: " + "a" * 64 + "}]", "tokens[0].role"),
        ("tokens: [{name: a, role: agent, sha256: " + "a" * 64 + "}]", "tokens[0].node"),
        ("tokens: [{name: a, role: admin, sha256: abc}]", "tokens[0].sha256"),
        ("tokens: [{role: admin, sha256: " + "a" * 64 + "}]", "tokens[0].name"),
        ("tokens: {a: 1}", "tokens"),
    ],
)
def test_bad_tokens_files_are_refused(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as info:
        TokenStore(path)
    assert info.value.field == field
