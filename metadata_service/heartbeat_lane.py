"""The liveness-heartbeat lane: the hottest request answered without FastAPI's per-request machinery.

At 10,000 nodes nearly every request is `PUT /v1/nodes/{name}/heartbeat` with
`{"node": null, "inventory_hash": "<hex>"}`. Profiling one uvicorn worker at 1,000 heartbeats/s
put about 40 % of its CPU in routing, dependency solving, body reading and the exception
middlewares around the route, against a few per cent for the work itself. This lane, called by
`RequestMiddleware` with the body it has already read, does what the route does, with the same
parts:

- the caller: `TokenStore.authenticate` and `Principal.require_node_writer` (deps.py, the route);
- the body: `json.loads` and `HeartbeatCreate.model_validate` (what FastAPI does for the route);
- the work: `HeartbeatService.receive` (batched liveness commit, metrics);
- the answer: a `HeartbeatPublic` serialised by pydantic, or the route's problem bodies
  (`problems.service_error_response` / `unexpected_error_response`).

It takes a request only when it can answer it completely: a liveness ping with a JSON content
type, a valid body and a token allowed to write that node. Everything else (full inventories,
bad bodies, missing or wrong tokens, other content types, a mounted root path) goes on to the
FastAPI route, which answers exactly as before. `RTFIT_HEARTBEAT_LANE=false` turns the lane off;
tests/metadata_service/test_service_heartbeat_lane.py sends the same requests with and without
it and compares statuses and bytes.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Message, Scope, Send

from .errors import ServiceError
from .heartbeats import public_answer
from .problems import service_error_response, unexpected_error_response
from .schemas import HeartbeatCreate

if TYPE_CHECKING:
    from .deps import ServiceState

__all__ = ["TEMPLATE", "HeartbeatLane"]

TEMPLATE = "/v1/nodes/{name}/heartbeat"  # the route's path template (metrics, access log)
_PATH = re.compile(r"/v1/nodes/([^/]+)/heartbeat")


class HeartbeatLane:
    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def handle(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer a liveness heartbeat and return True, or return False having done nothing."""
        if scope["method"] != "PUT" or scope.get("root_path"):
            return False
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            return False
        authorization = content_type = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value.decode("latin-1")
        if content_type is None or content_type.partition(";")[0].strip().lower() != "application/json":
            return False
        name = match.group(1)
        if len(name) > 253 or "\x00" in name:
            return False  # the route refuses it (422 naming the path parameter)
        state = self._state
        try:
            principal = state.tokens.authenticate(authorization)
            principal.require_node_writer(name)
            heartbeat = HeartbeatCreate.model_validate(json.loads(body))
        except (ServiceError, ValidationError, ValueError):
            return False  # the route gives the 401/403/422 with its usual body
        if heartbeat.node is not None:
            return False  # a full inventory: the route (rare, and validated against the solver)
        scope.setdefault("state", {})["principal_name"] = principal.name
        response: Response
        try:
            outcome = await state.heartbeats.receive(name, heartbeat)
            answer = public_answer(outcome, ttl_s=state.settings.node_ttl_s)
            response = Response(answer.model_dump_json(), media_type="application/json")
        except ServiceError as e:  # 409: send the full inventory
            response = service_error_response(e)
        except Exception as e:
            response = unexpected_error_response(e, "PUT", scope["path"])
        await response(scope, _no_body, send)
        return True


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
