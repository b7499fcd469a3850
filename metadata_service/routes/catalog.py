"""The active catalog: its revision and counts, its component rows, and atomic replacement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from ..deps import Admin, Reader, ReadSession, State
from ..errors import NotReady
from ..schemas import NO_NUL, CatalogPublic, CatalogUpload
from ..storage import catalogs as catalog_store

__all__ = ["router"]

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])


@router.get("", response_model=CatalogPublic, summary="The active catalog revision and its record counts")
def get_catalog(_: Reader, session: ReadSession) -> Any:
    active = catalog_store.get_active(session)
    if active is None:
        raise NotReady("no catalog is loaded; an admin must PUT /v1/catalog")
    return CatalogPublic(
        revision=active.revision, counts=active.counts, activated_at=active.activated_at, source=active.source
    )


@router.get("/components", summary="Component rows of the active catalog (filter by kind and name)")
def get_components(
    _: Reader,
    state: State,
    kind: str | None = Query(
        default=None, max_length=64, pattern=NO_NUL, description="cuda, cudnn, python, driver, gpu, pytorch, ..."
    ),
    name: str | None = Query(
        default=None, max_length=200, pattern=NO_NUL, description="case-insensitive substring of the name"
    ),
) -> list[dict[str, Any]]:
    return state.holder.current().component_rows(kind=kind, name=name)


@router.put(
    "",
    response_model=CatalogPublic,
    summary="Replace the catalog (admin): validated whole, activated atomically; 422 keeps the old one",
)
async def put_catalog(body: CatalogUpload, principal: Admin, state: State) -> Any:
    active = await run_in_threadpool(state.holder.upload, body.files, source=f"upload by {principal.name}")
    return CatalogPublic(
        revision=active.revision, counts=active.counts, activated_at=active.activated_at, source=active.source
    )
