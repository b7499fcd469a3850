"""Operations: health, readiness, metrics, body limits, no tracebacks, migrations, logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from metadata_service.app import create_app
from metadata_service.db import Database, init_db
from metadata_service.logs import JsonFormatter
from metadata_service.settings import Settings

from .conftest import Tokens, node_entry


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["database"] in ("sqlite", "postgresql")


def test_readyz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2", data_dir=tmp_path)
    client = TestClient(create_app(settings), raise_server_exceptions=False)  # no lifespan: never migrated
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["title"] == "Service not ready" and "database" in r.json()["detail"]
    assert "Traceback" not in r.text


def test_without_a_valid_catalog_readyz_is_503_until_one_is_uploaded(
    make_client: Any, tokens: Tokens, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-catalog"
    bad.mkdir()
    (bad / "gpus.yaml").write_text("gpus: [{id: x}]\n")
    client = make_client(catalog=bad)
    r = client.get("/readyz")
    assert r.status_code == 503 and "PUT /v1/catalog" in r.json()["detail"]
    assert client.get("/v1/catalog", headers=tokens.h("reader")).status_code == 503
    import catalog

    docs = json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))
    assert client.put("/v1/catalog", json={"files": docs}, headers=tokens.h("admin")).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_metrics_exposition(client: TestClient, tokens: Tokens) -> None:
    client.put("/v1/nodes/node-a/heartbeat", json={"node": node_entry()}, headers=tokens.h("agent"))
    client.post("/v1/select", json={"model": {"framework": "pytorch"}}, headers=tokens.h("reader"))
    text = client.get("/metrics").text
    assert 'rtfit_http_request_duration_seconds_bucket{le="0.05",method="PUT",route="/v1/nodes/{name}/heartbeat",status="200"}' in text
    assert 'rtfit_heartbeats_total{kind="full",outcome="ok"} 1.0' in text
    assert "rtfit_solver_seconds_count" in text
    assert "rtfit_selections_total" in text
    assert "rtfit_stale_nodes 0.0" in text


def test_bodies_over_the_limit_are_413(make_client: Any, tokens: Tokens) -> None:
    client = make_client(max_body_bytes=2000)
    big = {"model": {"framework": "pytorch", "name": "x" * 5000}}
    r = client.post("/v1/select", json=big, headers=tokens.h("reader"))
    assert r.status_code == 413 and r.json()["limit"] == 2000

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        yield b'{"model": {"name": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}}'

    r = client.post("/v1/select", content=chunks(), headers={**tokens.h("reader"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["status"] == 413


def test_unexpected_errors_are_a_bare_500(client: TestClient, tokens: Tokens, monkeypatch: Any) -> None:
    from metadata_service.storage import models as model_store

    def explode(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(model_store, "list_models", explode)
    r = client.get("/v1/models", headers=tokens.h("reader"))
    assert r.status_code == 500
    assert r.json()["title"] == "Internal error"
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_unknown_routes_and_methods_are_problems(client: TestClient) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["detail"].startswith("no route GET /v1/nothing")
    r = client.delete("/healthz")
    assert r.status_code == 405 and r.json()["status"] == 405
    r = client.post("/v1/select", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (401, 422)


def test_malformed_json_is_422(client: TestClient, tokens: Tokens) -> None:
    r = client.post("/v1/select", content=b"{not json", headers={**tokens.h("reader"), "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"]


def test_migrations_match_the_tables(db_url: str) -> None:
    db = Database(db_url)
    try:
        init_db(db)
        init_db(db)  # idempotent
        with db.writer.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == []
    finally:
        db.dispose()


def test_json_log_lines() -> None:
    record = logging.LogRecord("metadata_service.access", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"status": 200, "route": "/healthz"}
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "request" and line["status"] == 200 and line["level"] == "info"


def test_production_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    from metadata_service.errors import ServiceError

    with pytest.raises(ServiceError, match="RTFIT_TOKENS_FILE"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", production=True, tokens_file=None))


def test_demo_inventory_is_labelled_and_selectable(client: TestClient, tokens: Tokens) -> None:
    from metadata_service.demo import DEMO_LABEL, seed_demo

    names = seed_demo(client.app.state.rtfit)
    assert {"demo-cloud-h100", "demo-edge-l4"} <= set(names)
    nodes = {n["name"]: n for n in client.get("/v1/nodes", headers=tokens.h("reader")).json()}
    for name in names:
        if name.startswith("demo-"):
            assert nodes[name]["labels"][DEMO_LABEL] == "true" and nodes[name]["cluster"] == "demo"
    body = {"model": {"framework": "pytorch", "framework_version": ">=2.3"}, "where": {"labels": {DEMO_LABEL: "true"}}}
    answer = client.post("/v1/select", json=body, headers=tokens.h("reader")).json()
    assert answer["feasible"] is True and answer["choice"]["node"].startswith("demo-")
