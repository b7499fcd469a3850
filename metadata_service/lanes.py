"""What the request lanes share (`select_lane`, `heartbeat_lane`): reading the two headers they use,
and the tail that answers the request as the route would.

A lane's work is a coroutine giving the JSON body of the 200 answer; what it raises is answered
with the route's problem bodies (`problems.service_error_response` for a `ServiceError`,
`unexpected_error_response` otherwise: 503 for a database that is down, 500 logged).
"""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.responses import Response
from starlette.types import Message, Scope, Send

from .errors import ServiceError
from .problems import service_error_response, unexpected_error_response

__all__ = ["headers", "respond"]


def headers(scope: Scope) -> tuple[str | None, str | None]:
    """The request's Authorization and Content-Type headers (None when absent)."""
    authorization = content_type = None
    for key, value in scope["headers"]:
        if key == b"authorization":
            authorization = value.decode("latin-1")
        elif key == b"content-type":
            content_type = value.decode("latin-1")
    return authorization, content_type


async def respond(scope: Scope, send: Send, work: Awaitable[bytes | str]) -> None:
    """Send the JSON body `work` gives, or the route's problem body for what it raises."""
    response: Response
    try:
        response = Response(await work, media_type="application/json")
    except ServiceError as e:
        response = service_error_response(e)
    except Exception as e:
        response = unexpected_error_response(e, scope["method"], scope["path"])
    await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
