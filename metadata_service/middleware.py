"""The request middleware (pure ASGI): body-size limit, latency metric and structured access log.

It also hands liveness heartbeats to `HeartbeatLane` (heartbeat_lane.py) and selections to
`SelectLane` (select_lane.py) once their body is read; what a lane does not take goes on to the
FastAPI app.

Bodies announced larger than the limit are refused with 413 before they are read; a body
without Content-Length (chunked) is buffered up to the limit and refused with 413 as soon as
it grows past it. Every route that takes a body needs a token, so a body-carrying request without
a valid one is answered 401 here, before anything looks at the body: before authentication a
request costs reading its bytes (up to the limit) and one SHA-256 of the presented token. The
JSON pre-checks (jsonscan.py, linear but a few hundred ms for 2 MiB of the worst shape) run only
for authenticated callers. Access-log lines are JSON; heartbeats log at DEBUG so 10,000 agents do not flood INFO.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import TokenStore
from .errors import BodyTooLarge, InvalidInput, Unauthorized
from .heartbeat_lane import TEMPLATE as LANE_TEMPLATE
from .heartbeat_lane import HeartbeatLane
from .jsonscan import MAX_JSON_DEPTH, body_problem, json_depth
from .metrics import Metrics
from .problems import problem_response
from .select_lane import PATH as SELECT_PATH
from .select_lane import SelectLane

__all__ = ["MAX_JSON_DEPTH", "RequestMiddleware", "json_depth"]

access_log = logging.getLogger("metadata_service.access")


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int,
        lane: HeartbeatLane | None = None,
        tokens: TokenStore | None = None,
        select_lane: SelectLane | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.lane = lane
        self.select_lane = select_lane

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        limit = self.max_body_bytes
        template = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await problem_response(_too_large(declared, limit))(scope, receive, send_wrapper)
                return
            if scope["method"] in ("POST", "PUT", "PATCH"):
                # Buffer the body up to the limit (chunked bodies have no Content-Length), refuse
                # what jsonscan.py refuses (too deep, NaN/Infinity, numbers that do not fit; all
                # checked in linear time, before authentication), then replay it to the app.
                body, complete = await _read_limited(receive, limit)
                if not complete:
                    await problem_response(_too_large(len(body), limit))(scope, receive, send_wrapper)
                    return
                if self.tokens is not None:
                    try:
                        self.tokens.authenticate(_header(scope, b"authorization"))
                    except Unauthorized as e:  # the route would say the same, after parsing the body
                        await problem_response(e)(scope, receive, send_wrapper)
                        return
                problem = body_problem(body)
                if problem is not None:
                    await problem_response(InvalidInput(problem, field="body"))(scope, receive, send_wrapper)
                    return
                if self.lane is not None and await self.lane.handle(scope, body, send_wrapper):
                    template = LANE_TEMPLATE
                    return
                if self.select_lane is not None and await self.select_lane.handle(scope, body, send_wrapper):
                    template = SELECT_PATH
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            template = template or getattr(scope.get("route"), "path", None) or "(unmatched)"
            self.metrics.request_seconds.labels(scope["method"], template, str(status)).observe(elapsed)
            level = logging.DEBUG if template.endswith("/heartbeat") or template == "/metrics" else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(level, "request", extra={"fields": _access_fields(scope, template, status, elapsed)})


async def _read_limited(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """Read the request body; (bytes read, False) as soon as it exceeds `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large(size: int, limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"request body of {size} bytes exceeds the limit of {limit} bytes", limit=limit)


def _access_fields(scope: Scope, template: str, status: int, elapsed: float) -> dict[str, Any]:
    client: Any = scope.get("client")
    record = {
        "event": "request",
        "method": scope["method"],
        "path": scope["path"],
        "route": template,
        "status": status,
        "ms": round(elapsed * 1000, 2),
        "client": client[0] if client else None,
        "principal": scope.get("state", {}).get("principal_name"),
    }
    return record
