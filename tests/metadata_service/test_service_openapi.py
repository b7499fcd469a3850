"""The OpenAPI document describes the API's real answers: every error status with its
`application/problem+json` body, 405 with an exact `Allow`, and the body rules the validators
enforce (a heartbeat needs `node` or `inventory_hash`; a selection exactly one of `model` or
`model_name`). schemathesis checks the whole document against live answers on both databases
(tests/reliability/test_rel_hostile.py); these tests pin the parts that were missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from metadata_service.app import create_app
from metadata_service.settings import Settings

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'api.db'}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def doc(api: TestClient) -> dict[str, Any]:
    return api.get("/openapi.json").json()


def _responses(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return doc["paths"][path][method]["responses"]


@pytest.mark.parametrize(
    "method,path,statuses",
    [
        ("get", "/v1/nodes", {"401", "403", "422", "503"}),
        ("put", "/v1/nodes/{name}/heartbeat", {"400", "401", "403", "404", "409", "413", "422", "503"}),
        ("post", "/v1/models", {"400", "401", "403", "409", "413", "422"}),
        ("get", "/v1/models/{name}", {"401", "403", "404", "422"}),
        ("delete", "/v1/models/{name}", {"401", "403", "404"}),
        ("post", "/v1/flows", {"200", "201", "409", "413"}),
        ("put", "/v1/catalog", {"401", "403", "413", "422"}),
        ("post", "/v1/select", {"401", "403", "413", "422", "503"}),
        ("get", "/readyz", {"503"}),
    ],
)
def test_error_answers_are_documented_as_problems(doc: dict[str, Any], method: str, path: str, statuses: set[str]) -> None:
    responses = _responses(doc, method, path)
    assert statuses <= set(responses), sorted(statuses - set(responses))
    for status in statuses:
        if int(status) >= 400:
            content = responses[status]["content"]
            assert list(content) == [PROBLEM], (status, content)
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_every_authenticated_operation_documents_401_and_403(doc: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security") and not {"401", "403"} <= set(op["responses"])
    ]
    assert not missing


def test_real_answers_match_the_documented_media_type(api: TestClient) -> None:
    r = api.get("/v1/nodes")  # no token
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    r = api.put("/v1/nodes/a/heartbeat", content=b"\xff\xfe", headers={"Content-Type": "application/json",
                                                                         "Authorization": "Bearer x"})
    assert r.status_code in (400, 401, 422) and r.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/v1/catalog", "GET, HEAD, PUT"),  # Starlette's own Allow named only GET
    ("DELETE", "/v1/flows", "GET, HEAD, POST"),
    ("GET", "/v1/nodes/a/heartbeat", "PUT"),
])
def test_405_lists_every_method_of_the_path(api: TestClient, method: str, path: str, allow: str) -> None:
    r = api.request(method, path)
    assert r.status_code == 405 and r.headers["allow"] == allow


def _valid(doc: dict[str, Any], name: str, body: Any) -> bool:
    schema = doc["components"]["schemas"][name]
    resolver_doc = {"components": doc["components"], **schema}
    try:
        jsonschema.validate(body, resolver_doc)
    except jsonschema.ValidationError:
        return False
    return True


@pytest.mark.parametrize("body,valid", [
    ({}, False),
    ({"node": None}, False),
    ({"inventory_hash": "abcdef0123"}, True),
    ({"node": None, "inventory_hash": "abcdef0123"}, True),
    ({"node": {"name": "a", "arch": "x86_64"}}, True),
])
def test_heartbeat_schema_says_node_or_hash(doc: dict[str, Any], body: Any, valid: bool) -> None:
    assert _valid(doc, "HeartbeatCreate", body) is valid


@pytest.mark.parametrize("body,valid", [
    ({}, False),
    ({"model": {}, "model_name": "m"}, False),
    ({"model": None, "model_name": None}, False),
    ({"model": {}}, True),
    ({"model_name": "m", "model": None}, True),
])
def test_select_schema_says_exactly_one_of_model_or_name(doc: dict[str, Any], body: Any, valid: bool) -> None:
    assert _valid(doc, "SelectCreate", body) is valid
