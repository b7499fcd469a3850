"""Read-only views the console needs and the public API does not offer, under `/ui/api`.

- `GET /ui/api/whoami`: the caller's token name and role, so pages can hide write actions.
- `GET /ui/api/matrix?kind=builds&framework=pytorch&latest=6` / `?kind=drivers`: the catalog's
  compatibility matrices (`catalog.matrix`) with each cell's checks and their cited sources.
- `GET /ui/api/catalog/revisions`, `GET /ui/api/catalog/diff?old=REV&new=REV`: stored revisions
  and a record-by-record diff between two of them (`catalog.diff.diff_catalogs`).
- `GET /ui/api/drivers?version=535.104.05`: the newest CUDA each driver version runs natively.

All of them use the service's own auth (a reader token is enough) and its active catalog; none
writes anything. Errors are the service's problem objects.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from catalog import Catalog
from catalog.compat import Check
from catalog.diff import diff_catalogs
from catalog.matrix import Matrix, build_gpu_matrix, driver_cuda_matrix
from catalog.versions import parse_driver

from ..deps import AnyPrincipal, Reader, ReadSession, State
from ..errors import InvalidInput
from .revisions import RevisionCache, list_revisions, resolve_revision

__all__ = ["matrix_dict", "router"]

router = APIRouter(prefix="/ui/api", tags=["console"])
REVISION = r"^[0-9a-fA-F]{6,64}$"  # a revision or a prefix of one (the schema says what is refused)
DriverText = Annotated[str, Field(pattern=r"^\d+(\.\d+){0,3}$", max_length=64)]  # as a node's driver_version
_revisions = RevisionCache()


@router.get("/whoami", summary="The calling token's name and role (console: which actions to offer)")
def whoami(principal: AnyPrincipal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "role": principal.role,
        "node": principal.node,
        "can_read": principal.has("reader"),
        "can_write": principal.has("admin"),
    }


def _check_dict(cat: Catalog, check: Check) -> dict[str, Any]:
    sources = []
    for sid in check.sources:
        src = cat.sources.get(sid)
        sources.append({"id": sid, "doc": getattr(src, "doc", None), "url": getattr(src, "url", None)})
    return {"rule": check.rule, "ok": check.ok, "message": check.message, "sources": sources,
            "suggestion": check.suggestion}


def matrix_dict(cat: Catalog, matrix: Matrix) -> dict[str, Any]:
    """`Matrix.to_dict()` plus, per cell, the checks behind it with their sources resolved."""
    out = matrix.to_dict()
    for row, (_name, cells) in zip(out["rows"], matrix.rows, strict=True):
        for cell_out, cell in zip(row["cells"], cells, strict=True):
            cell_out["checks"] = [_check_dict(cat, c) for c in cell.checks]
    out["catalog_revision"] = cat.revision
    return out


@router.get("/matrix", summary="A compatibility matrix of the active catalog, with each cell's reason and sources")
async def matrix(
    _: Reader,
    state: State,
    kind: Literal["builds", "drivers"] = Query("builds", description="builds: framework builds x GPUs"),
    framework: str = Query("pytorch", description="for kind=builds"),
    latest: int | None = Query(None, ge=1, le=100, description="only the newest N releases"),
) -> dict[str, Any]:
    def build() -> dict[str, Any]:
        cat = state.holder.current()
        frameworks = sorted({r.framework for r in cat.frameworks})
        if kind == "drivers":
            out = matrix_dict(cat, driver_cuda_matrix(cat))
        else:
            if framework not in frameworks:
                raise InvalidInput(
                    f"framework '{framework}' is not in the catalog (known: {', '.join(frameworks)})",
                    field="framework",
                )
            out = matrix_dict(cat, build_gpu_matrix(cat, framework=framework, latest=latest))
        out["kind"] = kind
        out["frameworks"] = frameworks
        return out

    return await run_in_threadpool(build)


@router.get("/catalog/revisions", summary="Stored catalog revisions, newest first (which one is active)")
def revisions(_: Reader, session: ReadSession) -> list[dict[str, Any]]:
    return list_revisions(session)


@router.get("/catalog/diff", summary="Record-by-record differences between two stored catalog revisions")
def catalog_diff(
    _: Reader,
    session: ReadSession,
    old: str = Query(..., pattern=REVISION, description="a stored revision or a unique prefix (>= 6 characters)"),
    new: str = Query(..., pattern=REVISION, description="a stored revision or a unique prefix (>= 6 characters)"),
) -> dict[str, Any]:
    old_rev = resolve_revision(session, old, field="old")
    new_rev = resolve_revision(session, new, field="new")
    out = diff_catalogs(_revisions.get(session, old_rev), _revisions.get(session, new_rev)).to_dict()
    out["old_revision"], out["new_revision"] = old_rev, new_rev
    return out


@router.get("/drivers", summary="Newest CUDA each driver version supports natively (active catalog)")
def drivers(
    _: Reader, state: State, version: list[DriverText] = Query(default_factory=list, max_length=500)
) -> dict[str, Any]:
    cat = state.holder.current()
    out: dict[str, Any] = {}
    for text in version:
        try:
            parsed = parse_driver(text)
        except ValueError as e:
            raise InvalidInput(f"version: '{text}' is not a driver version", field="version") from e
        found = cat.driver_max_cuda(parsed)
        out[text] = None if found is None else {
            "max_cuda": str(found[0]), "branch": f"R{found[1].branch}", "record": found[1].id,
            "sources": list(found[1].sources),
        }
    return out
