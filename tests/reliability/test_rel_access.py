"""Access: every route x every kind of caller, generated from the app's route table; tokens compared
in constant time and never logged; production mode refuses to start with default or demo secrets.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from rel_support import REPO, token_entry
from starlette.routing import Route

from metadata_service.app import create_app
from metadata_service.errors import ServiceError
from metadata_service.settings import Settings

CALLERS = ("none", "wrong", "reader", "agent_other", "agent_own", "admin")
OK = {200, 201, 204, 307, 404, 409, 422}  # allowed through auth; the answer depends on the data
PUBLIC = {c: OK for c in CALLERS}
READ = {"none": {401}, "wrong": {401}, "reader": OK, "agent_other": {403}, "agent_own": {403}, "admin": OK}
ANY_TOKEN = {"none": {401}, "wrong": {401}, "reader": OK, "agent_other": OK, "agent_own": OK, "admin": OK}
WRITE = {"none": {401}, "wrong": {401}, "reader": {403}, "agent_other": {403}, "agent_own": {403}, "admin": OK}
NODE = {"none": {401}, "wrong": {401}, "reader": {403}, "agent_other": {403}, "agent_own": OK, "admin": OK}
TINY = {"framework": "none", "gpu_count": 0}

# (method, path template) -> (expected status per caller, request body). A new route without an
# entry here fails test_every_route_has_an_expectation.
EXPECT: dict[tuple[str, str], tuple[dict[str, set[int]], Any]] = {
    ("GET", "/openapi.json"): (PUBLIC, None),
    ("GET", "/docs"): (PUBLIC, None),
    ("GET", "/docs/oauth2-redirect"): (PUBLIC, None),
    ("GET", "/redoc"): (PUBLIC, None),
    ("GET", "/healthz"): (PUBLIC, None),
    ("GET", "/readyz"): (PUBLIC, None),
    ("GET", "/metrics"): (PUBLIC, None),
    ("GET", "/ui"): (PUBLIC, None),
    ("GET", "/ui/"): (PUBLIC, None),
    ("GET", "/ui/favicon.svg"): (PUBLIC, None),
    ("GET", "/ui/api/whoami"): (ANY_TOKEN, None),
    ("GET", "/ui/api/matrix"): (READ, None),
    ("GET", "/ui/api/catalog/revisions"): (READ, None),
    ("GET", "/ui/api/catalog/diff"): (READ, None),
    ("GET", "/ui/api/drivers"): (READ, None),
    ("GET", "/v1/catalog"): (READ, None),
    ("GET", "/v1/catalog/components"): (READ, None),
    ("PUT", "/v1/catalog"): (WRITE, {"files": {}}),
    ("GET", "/v1/models"): (READ, None),
    ("POST", "/v1/models"): (WRITE, {"name": "m-acl", "request": TINY}),
    ("GET", "/v1/models/{name}"): (READ, None),
    ("DELETE", "/v1/models/{name}"): (WRITE, None),
    ("PUT", "/v1/nodes/{name}/heartbeat"): (NODE, {"node": {"name": "node-a", "arch": "x86_64"}}),
    ("GET", "/v1/nodes"): (READ, None),
    ("GET", "/v1/nodes/{name}"): (READ, None),
    ("GET", "/v1/inventory"): (READ, None),
    ("POST", "/v1/select"): (READ, {"model": TINY}),
    ("POST", "/v1/select/batch"): (READ, {"models": [TINY]}),
    ("POST", "/v1/flows"): (WRITE, {"flow": "acl", "tasks": {}}),
    ("GET", "/v1/flows"): (READ, None),
    ("GET", "/v1/flows/{run_id}"): (READ, None),
    ("GET", "/v1/flows/{run_id}/tasks/{task}/logs"): (READ, None),
}
PATH_VALUES = {"name": "node-a", "run_id": "no-such-run", "task": "train"}


def _routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(r, APIRoute | Route):
            for method in sorted((r.methods or set()) - {"HEAD"}):
                yield method, r.path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("acl")
    tokens, entries = {}, []
    for caller, role, node in (("reader", "reader", None), ("agent_other", "agent", "node-b"),
                               ("agent_own", "agent", "node-a"), ("admin", "admin", None)):
        tokens[caller], entry = token_entry(f"acl-{caller}", role, node)
        entries.append(entry)
    (tmp / "tokens.yaml").write_text(yaml.safe_dump({"tokens": entries}))
    tokens["wrong"] = "rtfit_" + "x" * 43
    app = create_app(Settings(database_url=f"sqlite:///{tmp / 'acl.db'}", tokens_file=tmp / "tokens.yaml"))
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client, tokens


def test_every_route_has_an_expectation(world: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = world
    routes = set(_routes(client.app.router.routes))  # type: ignore[attr-defined]
    assert routes, "no routes found"
    missing = routes - set(EXPECT)
    assert not missing, f"routes without an access expectation (add them to EXPECT): {sorted(missing)}"
    assert not set(EXPECT) - routes, f"expectations for routes that no longer exist: {sorted(set(EXPECT) - routes)}"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", sorted(EXPECT), ids=lambda r: f"{r[0]} {r[1]}")
def test_access_matrix(world: tuple[TestClient, dict[str, str]], route: tuple[str, str], caller: str) -> None:
    client, tokens = world
    method, template = route
    expected, body = EXPECT[route]
    path = template.format(**PATH_VALUES)
    headers = {} if caller == "none" else {"Authorization": f"Bearer {tokens[caller]}"}
    r = client.request(method, path, json=body, headers=headers)
    assert r.status_code in expected[caller], f"{method} {path} as {caller}: {r.status_code} {r.text[:200]}"
    if r.status_code == 401:
        assert r.headers.get("www-authenticate", "").startswith("Bearer")


def test_tokens_never_logged(world: tuple[TestClient, dict[str, str]], caplog: pytest.LogCaptureFixture) -> None:
    client, tokens = world
    caplog.set_level(logging.DEBUG)
    for token in tokens.values():
        h = {"Authorization": f"Bearer {token}"}
        client.get("/v1/nodes", headers=h)
        client.put("/v1/nodes/node-a/heartbeat", json={"node": {"name": "node-a", "arch": "x86_64"}}, headers=h)
        client.post("/v1/select", json={"model": TINY}, headers=h)
        client.get("/v1/flows/nope", headers=h)
    assert caplog.records, "nothing was logged: the check would be vacuous"
    texts = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    for caller, token in tokens.items():
        leaked = [t for t in texts if token in t]
        assert not leaked, f"the {caller} token appears in a log record: {leaked[0][:300]}"


def test_tokens_are_compared_in_constant_time() -> None:
    tree = ast.parse((REPO / "metadata_service" / "auth.py").read_text())
    auth = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "authenticate")
    calls = [n for n in ast.walk(auth) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "compare_digest"]
    assert calls, "authenticate() must confirm tokens with hmac.compare_digest"
    secretish = ("token", "digest", "presented", "stored", "sha")
    for node in ast.walk(auth):  # the request path: no ==/in on the presented token or a digest
        if isinstance(node, ast.Compare) and any(isinstance(op, ast.Eq | ast.NotEq | ast.In) for op in node.ops):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not any(s in name for name in names for s in secretish if name != "name"), (
                f"line {node.lineno}: a token/digest compared with ==/in (not constant time)")


def _settings(tmp: Path, tokens: list[dict[str, str]] | None) -> Settings:
    tokens_file = None
    if tokens is not None:
        tokens_file = tmp / "tokens.yaml"
        tokens_file.write_text(yaml.safe_dump({"tokens": tokens}))
    return Settings(database_url=f"sqlite:///{tmp / 'p.db'}", tokens_file=tokens_file, production=True)


def test_production_refuses_default_or_demo_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    with pytest.raises(ServiceError, match="RTFIT_TOKENS_FILE"):
        create_app(_settings(tmp_path, None))
    weak = {"name": "ops", "role": "admin", "sha256": hashlib.sha256(b"changeme").hexdigest()}
    with pytest.raises(ServiceError, match="default/demo tokens \\(ops\\)"):
        create_app(_settings(tmp_path, [weak]))
    _, demo = token_entry("demo-admin-123", "admin")
    with pytest.raises(ServiceError, match="demo-admin-123"):
        create_app(_settings(tmp_path, [demo]))
    _, good = token_entry("ops", "admin")
    create_app(_settings(tmp_path, [good]))  # a fresh random token: starts
    monkeypatch.setenv("RTFIT_DEMO", "1")
    with pytest.raises(ServiceError, match="--demo"):
        create_app(_settings(tmp_path, [good]))
    # ...and the same weak file is fine outside production mode (development).
    monkeypatch.delenv("RTFIT_DEMO")
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'd.db'}", tokens_file=tmp_path / "tokens.yaml"))
