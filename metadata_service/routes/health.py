"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from ..deps import State

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up (no dependencies checked)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and a catalog is loaded (503 otherwise)")
async def readyz(state: State) -> dict[str, str]:
    def check() -> dict[str, str]:
        state.db.check()
        revision = state.holder.active_revision()
        return {"status": "ready", "database": state.db.dialect, "catalog_revision": revision}

    return await run_in_threadpool(check)


@router.get("/metrics", summary="Prometheus text exposition", response_class=Response)
async def metrics(request: Request) -> Response:
    state = request.app.state.rtfit
    if not state.settings.metrics_public:
        principal = state.tokens.authenticate(request.headers.get("authorization"))
        principal.require("reader")
    body = await run_in_threadpool(state.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
