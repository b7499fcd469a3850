"""The heartbeat lane: the hottest request answered without FastAPI's per-request machinery.

At 10,000 nodes nearly every request is `PUT /v1/nodes/{name}/heartbeat`, mostly the liveness
body `{"node": null, "inventory_hash": "<hex>"}`. Profiling one uvicorn worker at 1,000
heartbeats/s put about 40 % of its CPU in routing, dependency solving, body reading and the
exception middlewares around the route, against a few per cent for the work itself. This lane,
called by `RequestMiddleware` with the body it has already read, answers every heartbeat (full
inventories and refusals too) with exactly the parts the route uses:

- the caller and the body: `heartbeats.read_heartbeat`, the one authorise-and-parse function of
  the lane and the route (401, 422 naming the field, 403);
- the work: `HeartbeatService.receive` (batched liveness commit, full inventory, metrics);
- the answer: a `HeartbeatPublic` serialised by pydantic, or the problem bodies (`lanes.respond`,
  the tail both lanes share: `problems.service_error_response` / `unexpected_error_response`).

A mounted root path goes on to the FastAPI route. `RTFIT_HEARTBEAT_LANE=false` turns the lane
off; tests/metadata_service/test_service_heartbeat_lane.py sends the same requests with and
without it and compares statuses and bytes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from starlette.types import Scope, Send

from . import lanes
from .heartbeats import public_answer, read_heartbeat

if TYPE_CHECKING:
    from .deps import ServiceState

__all__ = ["TEMPLATE", "HeartbeatLane"]

TEMPLATE = "/v1/nodes/{name}/heartbeat"  # the route's path template (metrics, access log)
_PATH = re.compile(r"/v1/nodes/([^/]+)/heartbeat")


class HeartbeatLane:
    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def handle(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer a heartbeat and return True, or return False having done nothing."""
        if scope["method"] != "PUT" or scope.get("root_path"):
            return False
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            return False
        authorization, content_type = lanes.headers(scope)
        await lanes.respond(scope, send, self._answer(scope, match.group(1), authorization, content_type, body))
        return True

    async def _answer(self, scope: Scope, name: str, authorization: str | None, content_type: str | None,
                      body: bytes) -> str:
        """The 200 body; raises for 401/403/422, and 409 (send the full inventory)."""
        state = self._state
        principal, heartbeat = read_heartbeat(
            state.tokens, authorization=authorization, content_type=content_type, name=name, body=body
        )
        scope.setdefault("state", {})["principal_name"] = principal.name
        outcome = await state.heartbeats.receive(name, heartbeat)
        return public_answer(outcome, ttl_s=state.settings.node_ttl_s).model_dump_json()
