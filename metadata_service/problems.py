"""The one place where errors become HTTP answers: JSON problem bodies, never a stack trace.

Every `ServiceError` maps to its own status; FastAPI's validation errors become 422 naming the
first bad field (dotted path, e.g. `node.gpus[0].count`) and listing all of them; unknown routes
and methods become 404/405 problems; anything unexpected is logged with its traceback on the
server and answered with a bare 500 problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import InvalidInput, NotReady, ServiceError

__all__ = [
    "field_path",
    "install_problem_handlers",
    "problem_response",
    "service_error_response",
    "unexpected_error_response",
    "validation_error",
]

log = logging.getLogger("metadata_service")
PROBLEM_JSON = "application/problem+json"


def problem_response(error: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="rtfit"'} if error.status == 401 else None
    return JSONResponse(error.problem(), status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


def service_error_response(error: ServiceError) -> JSONResponse:
    if error.status >= 500:
        log.warning("service error %s: %s", error.status, error.detail)
    return problem_response(error)


def unexpected_error_response(exc: Exception, method: str, path: str) -> JSONResponse:
    """503 (retryable) for a database that is down or locked, 422 for a value the database refused
    (the schema bounds every stored field, so this is the backstop); otherwise a logged, bare 500."""
    if _database_refused_value(exc):
        log.warning("database refused a value on %s %s: %s", method, path, exc.__class__.__name__)
        return problem_response(
            InvalidInput("the database refused a value of this request (too long, out of range or a NUL)",
                         field="body")
        )
    if _database_unavailable(exc):
        # The database is down or unreachable (or SQLite stayed locked past its timeout):
        # retryable, so 503 like /readyz, not a 500 (tests/reliability: PostgreSQL restart).
        log.warning("database unavailable on %s %s: %s", method, path, exc.__class__.__name__)
        response = problem_response(NotReady("the database is unavailable; retry shortly"))
        response.headers["Retry-After"] = "1"
        return response
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    body = {
        "type": "https://rtfit.dev/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": "the server hit an unexpected error; it has been logged",
    }
    return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'node', 'gpus', 0, 'count') -> 'node.gpus[0].count'; query/path params keep their name."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_error(errors: Sequence[Mapping[str, Any]]) -> InvalidInput:
    """pydantic/FastAPI errors (`loc` starting with body/path/query) -> the one 422 problem:
    `field` and `detail` name the first bad field, `errors` lists them all."""
    listed = [
        {"field": field_path(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))} for e in errors
    ]
    first = listed[0] if listed else {"field": "body", "message": "invalid request"}
    return InvalidInput(f"{first['field']}: {first['message']}", field=first["field"], errors=listed)


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    return problem_response(validation_error(exc.errors()))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return service_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path} (see /docs)"
        body = {
            "type": f"https://rtfit.dev/problems/http-{exc.status_code}",
            "title": titles.get(exc.status_code, "HTTP error"),
            "status": exc.status_code,
            "detail": detail,
        }
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            if allowed:
                headers["Allow"] = ", ".join(allowed)
        return JSONResponse(body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(exc, request.method, request.url.path)


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from the OpenAPI document (Starlette's own 405
    names only the first route whose path matched, e.g. GET for `PATCH /v1/catalog`, not PUT)."""
    import re

    patterns = getattr(request.app.state, "allowed_methods", None)
    if patterns is None:
        patterns = [
            (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), sorted(m.upper() for m in ops))
            for path, ops in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allowed_methods = patterns
    methods: set[str] = set()
    for pattern, allowed in patterns:
        if pattern.match(request.url.path):
            methods.update(allowed)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _database_refused_value(exc: BaseException) -> bool:
    """A value the database cannot store (PostgreSQL: too long, NUL, bad JSON number; DataError)."""
    from sqlalchemy.exc import DataError

    if isinstance(exc, DataError):
        return True
    # psycopg refuses NUL characters itself, before sending; SQLAlchemy may pass that through as is.
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.DataError)


def _database_unavailable(exc: BaseException) -> bool:
    """A connection-level database failure (not a bad statement or a constraint violation)."""
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, TimeoutError

    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
