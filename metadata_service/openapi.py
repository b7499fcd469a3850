"""The OpenAPI document says what the API really answers: every error status and its media type.

FastAPI documents only the success answer and a 422 as `application/json`. Every error here is an
RFC 9457 problem (`application/problem+json`, problems.py), and the statuses an operation can give
follow from what it is:

- any operation behind a bearer token: 401 (no, malformed, unknown token) and 403 (wrong role, or
  an agent token for another node), and 503 (database down, no catalog loaded);
- an operation with parameters or a body: 422 (a bad field, named in `field`);
- an operation with a body: 400 (not UTF-8 / not decodable), 413 (over `RTFIT_MAX_BODY_BYTES`) and
  422 from the body pre-checks;
- an operation with a path parameter (and the catalog diff, whose revisions are query parameters):
  404 when the named thing does not exist;
- a heartbeat (409: send the full inventory), a model registration (409: the name is taken) and a
  flow-run write (409: the id belongs to another flow);
- `POST /v1/flows` answers 201 for a new run and 200 for an update of an existing one.

tests/reliability/test_rel_hostile.py runs schemathesis with its conformance checks on (status
codes, content types, response schemas, positive data accepted) against this document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

__all__ = ["PROBLEM_JSON", "install_openapi"]

PROBLEM_JSON = "application/problem+json"
PROBLEM = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM,
    "description": "An RFC 9457 problem: what went wrong, in words, and where (`field`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "dotted path of the bad field, e.g. node.gpus[0].count"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "every bad field (422)"},
        "problems": {"type": "array", "items": {"type": "object"}, "description": "catalog problems (422)"},
    },
    "additionalProperties": True,
}
DESCRIPTIONS = {
    400: "The body could not be read as text (e.g. not UTF-8)",
    401: "No bearer token, a malformed one, or an unknown or revoked token",
    403: "The token's role may not do this (or an agent token for another node)",
    404: "Not found",
    409: "Conflict",
    413: "The request body is larger than RTFIT_MAX_BODY_BYTES",
    422: "Invalid input: `field` names the first bad field, `errors` lists all",
    503: "Not ready: the database is unreachable or no catalog is loaded; retry",
}
CONFLICTS = {
    ("put", "/v1/nodes/{name}/heartbeat"): "Unknown node or another inventory hash: send the full inventory",
    ("post", "/v1/models"): "A model with this name is already registered",
    ("post", "/v1/flows"): "The run id belongs to a run of another flow",
}
NOT_FOUND_WITHOUT_PATH = {("get", "/ui/api/catalog/diff")}


def _problem(description: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{PROBLEM}"}
    return {"description": description, "content": {PROBLEM_JSON: {"schema": ref}}}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers (and 200 for flow updates) to every operation of `schema`, in place."""
    schema.setdefault("components", {}).setdefault("schemas", {})[PROBLEM] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            responses = op.setdefault("responses", {})
            statuses: set[int] = set()
            params = op.get("parameters") or []
            if op.get("security"):
                statuses |= {401, 403, 503}
            if params or "requestBody" in op:
                statuses.add(422)
            if "requestBody" in op:
                statuses |= {400, 413}
            if any(p.get("in") == "path" for p in params) or (method, path) in NOT_FOUND_WITHOUT_PATH:
                statuses.add(404)
            if (method, path) in CONFLICTS:
                statuses.add(409)
            if path == "/readyz":
                statuses.add(503)
            for status in sorted(statuses):
                description = CONFLICTS.get((method, path)) if status == 409 else DESCRIPTIONS[status]
                responses[str(status)] = _problem(description or DESCRIPTIONS[status])
            if (method, path) == ("post", "/v1/flows") and "201" in responses:
                responses["200"] = {**responses["201"], "description": "An existing run, updated"}
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    return schema


def document_models(schema: dict[str, Any], models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """Add the component schemas of `models` (bodies a route reads itself, named by a `$ref` in
    its `openapi_extra`), as FastAPI would have for a body parameter, in place."""
    if not models:
        return schema
    # FastAPI's own generator (it differs from plain pydantic in details: no `default: null`,
    # integer bounds), run on a throwaway app with one body parameter per model.
    scratch = FastAPI()
    for i, model in enumerate(models):
        scratch.add_api_route(f"/{i}", _body_of(model), methods=["PUT"])
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, model_schema in scratch.openapi().get("components", {}).get("schemas", {}).items():
        components.setdefault(name, model_schema)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    return schema


def _body_of(model: type[BaseModel]) -> Any:
    def endpoint(body: Any) -> None:
        """Documentation only."""

    endpoint.__annotations__ = {"body": model, "return": None}  # a real type, not a deferred string
    return endpoint


def install_openapi(app: FastAPI, *, models: Sequence[type[BaseModel]] = ()) -> None:
    """Make `app.openapi()` (and /openapi.json) return the document with the error answers."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(document_models(original(), models))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
