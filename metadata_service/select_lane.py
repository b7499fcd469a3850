"""The selection lane: `POST /v1/select` answered without FastAPI's per-request machinery.

Profiling one uvicorn worker serving selections (bench/http_profile.py, docs/benchmarks.md #16)
put more of a cached selection's CPU in FastAPI (routing, the dependency graph of `Reader` and
`State`, body validation, rendering the answer dict to JSON) than in the selection itself. Called
by `RequestMiddleware` with the body it has already read (and the caller already authenticated),
this lane does what the route does with the same parts:

- the caller: `TokenStore.authenticate` and `Principal.require("reader")`;
- the body: `json.loads` and `SelectCreate.model_validate` (what FastAPI does with a JSON body);
- the work: `SelectionService.select_json`, which answers a cache hit with the JSON body rendered
  once when the answer was computed (`selection.render_answer`: FastAPI's own rendering of the
  route's `dict[str, Any]`, so the bytes are the same);
- errors raised by the work: the route's problem bodies (`lanes.respond`, the tail both lanes
  share: `problems.service_error_response` / `unexpected_error_response`).

A request the lane does not answer as the route would (not JSON, a body that does not validate,
no or the wrong token, a mounted root path) goes on to the FastAPI route untouched, which answers
it with its usual 401/403/422. `RTFIT_SELECT_LANE=false` turns the lane off;
tests/metadata_service/test_service_select_lane.py sends the same requests both ways and compares
statuses and bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.types import Scope, Send

from . import lanes
from .errors import ServiceError
from .schemas import SelectCreate

if TYPE_CHECKING:
    from .deps import ServiceState

__all__ = ["PATH", "SelectLane"]

PATH = "/v1/select"   # the route's path (metrics, access log)


class SelectLane:
    def __init__(self, state: ServiceState) -> None:
        self._state = state

    async def handle(self, scope: Scope, body: bytes, send: Send) -> bool:
        """Answer a selection and return True, or return False having done nothing."""
        if scope["method"] != "POST" or scope["path"] != PATH or scope.get("root_path"):
            return False
        authorization, content_type = lanes.headers(scope)
        if content_type != "application/json":
            return False
        state = self._state
        try:
            principal = state.tokens.authenticate(authorization)
            principal.require("reader")
        except ServiceError:
            return False
        try:
            request = SelectCreate.model_validate(json.loads(body))
        except Exception:  # noqa: BLE001 - the route says why (422), with FastAPI's own error body
            return False
        scope.setdefault("state", {})["principal_name"] = principal.name
        await lanes.respond(scope, send, state.selection.select_json(request, principal))
        return True
