"""The request middleware (pure ASGI): body-size limit, latency metric and structured access log.

It also hands liveness heartbeats to `HeartbeatLane` (heartbeat_lane.py) once their body is read;
what the lane does not take goes on to the FastAPI app.

Bodies announced larger than the limit are refused with 413 before they are read; a body
without Content-Length (chunked) is buffered up to the limit and refused with 413 as soon as
it grows past it. Access-log lines are JSON; heartbeats log at DEBUG so 10,000 agents do not flood INFO.
"""

from __future__ import annotations

import logging
import re
import time
from itertools import accumulate
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BodyTooLarge, InvalidInput
from .heartbeat_lane import TEMPLATE as LANE_TEMPLATE
from .heartbeat_lane import HeartbeatLane
from .metrics import Metrics
from .problems import problem_response

__all__ = ["MAX_JSON_DEPTH", "RequestMiddleware", "json_depth"]

# Deeper JSON is refused with 422 before parsing: a body nested a few hundred levels deep parsed
# fine but broke the response encoder (a 500 found by tests/reliability/test_rel_hostile.py).
# The check runs before authentication, so it must stay linear in the body's length: one regex
# pass that removes strings (an unterminated string runs to the end of the body, so the scan never
# restarts), one `translate` that keeps only brackets, one pass summing them.
MAX_JSON_DEPTH = 64
_STRINGS = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"?')
_FOLD = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_OPEN = ord("[")

access_log = logging.getLogger("metadata_service.access")


class RequestMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int, lane: HeartbeatLane | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.lane = lane

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
                # JSON nested deeper than MAX_JSON_DEPTH, then replay it to the app.
                body, complete = await _read_limited(receive, limit)
                if not complete:
                    await problem_response(_too_large(len(body), limit))(scope, receive, send_wrapper)
                    return
                if json_depth(body) > MAX_JSON_DEPTH:
                    error = InvalidInput(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels", field="body")
                    await problem_response(error)(scope, receive, send_wrapper)
                    return
                if self.lane is not None and await self.lane.handle(scope, body, send_wrapper):
                    template = LANE_TEMPLATE
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


def json_depth(body: bytes) -> int:
    """Deepest nesting of arrays/objects in a JSON text (strings ignored), in time linear in its length.

    Each byte is looked at a bounded number of times: the string pattern cannot fail once it has
    started (the closing quote is optional), so it never backtracks or rescans.
    """
    if b"[" not in body and b"{" not in body:
        return 0
    if b'"' in body:
        body = _STRINGS.sub(b"", body)
    brackets = body.translate(_FOLD, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(accumulate(1 if c == _OPEN else -1 for c in brackets)))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


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
