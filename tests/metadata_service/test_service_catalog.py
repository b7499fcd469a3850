"""Catalog revisions: the bundled catalog at first start, listings, and atomic replacement."""

from __future__ import annotations

import copy
from typing import Any

from fastapi.testclient import TestClient

import catalog

from .conftest import Tokens


def _documents() -> dict[str, Any]:
    import json

    return json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))


def _put(client: TestClient, tokens: Tokens, files: dict[str, Any]) -> Any:
    return client.put("/v1/catalog", json={"files": files}, headers=tokens.h("admin"))


def test_bundled_catalog_is_active_at_first_start(client: TestClient, tokens: Tokens) -> None:
    bundled = catalog.load_catalog()
    r = client.get("/v1/catalog", headers=tokens.h("reader"))
    assert r.status_code == 200
    body = r.json()
    assert body["revision"] == bundled.revision
    assert body["counts"] == bundled.counts()
    assert body["source"] == "bundled"
    assert client.get("/readyz").json()["catalog_revision"] == bundled.revision


def test_components_filter(client: TestClient, tokens: Tokens) -> None:
    bundled = catalog.load_catalog()
    r = client.get("/v1/catalog/components?kind=cuda", headers=tokens.h("reader"))
    assert r.json() == bundled.component_rows(kind="cuda")
    assert r.json() and all(row["kind"] == "cuda" for row in r.json())
    r = client.get("/v1/catalog/components?kind=gpu&name=l4", headers=tokens.h("reader"))
    assert r.json() == bundled.component_rows(kind="gpu", name="l4")
    assert any(row["name"] == "NVIDIA L4" for row in r.json())


def test_upload_switches_the_active_revision(client: TestClient, tokens: Tokens, clock: Any) -> None:
    docs = _documents()
    old = client.get("/v1/catalog", headers=tokens.h("reader")).json()
    name = next(iter(docs))
    changed = copy.deepcopy(docs)
    # A valid change: a free-text note changes the content revision, not the validity.
    _section, records = next((s, r) for s, r in changed[name].items() if isinstance(r, list) and r and s != "sources")
    records[0]["note"] = "edited through PUT /v1/catalog"
    clock.advance(5)
    r = _put(client, tokens, changed)
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["revision"] != old["revision"]
    assert new["revision"] == catalog.load_catalog_from_documents(changed).revision
    assert new["activated_at"] == clock.now and new["source"] == "upload by ops"
    assert client.get("/v1/catalog", headers=tokens.h("reader")).json()["revision"] == new["revision"]
    # Re-uploading the original re-activates the stored revision.
    r = _put(client, tokens, docs)
    assert r.json()["revision"] == old["revision"]


def test_bad_upload_is_422_and_leaves_the_old_revision_active(client: TestClient, tokens: Tokens) -> None:
    before = client.get("/v1/catalog", headers=tokens.h("reader")).json()
    broken = _documents()
    gpus_file = next(f for f, d in broken.items() if isinstance(d, dict) and "gpus" in d)
    broken[gpus_file]["gpus"][0]["cc"] = "99.9"
    broken["notes.txt"] = {}
    r = _put(client, tokens, broken)
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"].endswith("/catalog-rejected")
    assert "unchanged" in problem["detail"]
    files = {p["file"] for p in problem["problems"]}
    assert gpus_file in files and "notes.txt" in files
    assert all({"file", "record", "field", "message"} <= set(p) for p in problem["problems"])
    after = client.get("/v1/catalog", headers=tokens.h("reader")).json()
    assert after == before
    # Selection still works on the old revision.
    r = client.post("/v1/select", json={"model": {"framework": "pytorch"}, "plan": True}, headers=tokens.h("reader"))
    assert r.status_code == 200 and r.json()["catalog_revision"] == before["revision"]


def test_upload_body_shape_errors_name_the_field(client: TestClient, tokens: Tokens) -> None:
    r = client.put("/v1/catalog", json={"documents": {}}, headers=tokens.h("admin"))
    assert r.status_code == 422 and r.json()["field"] in ("files", "documents")
    r = client.put("/v1/catalog", json={"files": {}}, headers=tokens.h("admin"))
    assert r.status_code == 422 and r.json()["problems"]


def test_a_second_process_sees_an_upload(make_client: Any, tokens: Tokens) -> None:
    """Two apps on one database (two workers): an upload through one is used by the other."""
    one, two = make_client(), make_client()
    docs = _documents()
    name = next(iter(docs))
    section = next(s for s, r in docs[name].items() if isinstance(r, list) and r and s != "sources")
    docs[name][section][0]["note"] = "seen by the other worker"
    new = _put(one, tokens, docs).json()["revision"]
    answer = two.post("/v1/select", json={"model": {"framework": "pytorch"}, "plan": True}, headers=tokens.h("reader"))
    assert answer.json()["catalog_revision"] == new
