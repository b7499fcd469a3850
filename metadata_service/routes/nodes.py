"""Node inventory: agent heartbeats in, node listings out (with staleness computed at read time)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request

from ..deps import BEARER, Reader, ReadSession, ServiceState, State
from ..errors import NotReady
from ..heartbeats import NODE_NAME_MAX, public_answer, read_heartbeat
from ..schemas import NO_NUL, HeartbeatPublic, NodePublic
from ..selection import sweep_inventory
from ..storage import nodes as node_store

__all__ = ["router"]

router = APIRouter(prefix="/v1/nodes", tags=["nodes"])
NodeName = Path(max_length=253, pattern=NO_NUL)


@router.put(
    "/{name}/heartbeat",
    response_model=HeartbeatPublic,
    summary="Agent heartbeat: full inventory, or liveness with the inventory hash (409: send it in full)",
    dependencies=[BEARER],
    # The body and the node name are read by `read_heartbeat` (shared with the heartbeat lane), so
    # FastAPI does not parse them; the document still shows what that function accepts.
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HeartbeatCreate"}}},
            "required": True,
        }
    },
)
async def heartbeat(
    request: Request,
    state: State,
    name: str = Path(json_schema_extra={"maxLength": NODE_NAME_MAX, "pattern": NO_NUL}),
) -> Any:
    principal, body = read_heartbeat(
        state.tokens,
        authorization=request.headers.get("authorization"),
        content_type=request.headers.get("content-type"),
        name=name,
        body=await request.body(),
    )
    request.state.principal_name = principal.name
    outcome = await state.heartbeats.receive(name, body)
    return public_answer(outcome, ttl_s=state.settings.node_ttl_s)


def _excluder(state: ServiceState) -> Any:
    """entry -> why selection leaves the node out (None: used), against the active catalog."""
    try:
        catalog = state.holder.current()
    except NotReady:
        return lambda _entry: None

    def excluded(entry: dict[str, Any]) -> str | None:
        found = state.usability.reason(entry, catalog)
        return None if found is None else f"{found[0]}: {found[1]}"

    return excluded


def _public(
    view: node_store.NodeView, *, now: float, ttl_s: float, detail: bool, excluded: str | None = None
) -> NodePublic:
    node = view.node
    entry = node.entry
    age = None if view.last_seen is None else max(0.0, now - view.last_seen)
    return NodePublic(
        name=node.name,
        cluster=node.cluster,
        arch=node.arch,
        driver_version=node.driver_version,
        gpus=list(entry.get("gpus") or []),
        cached_components=list(entry.get("cached_components") or []),
        labels=dict(node.labels or {}),
        inventory_hash=node.inventory_hash,
        last_seen=view.last_seen,
        age_s=age,
        stale=age is None or age > ttl_s,
        beats=view.beats,
        registered_at=node.registered_at,
        updated_at=node.updated_at,
        agent=entry.get("agent") if detail else None,
        excluded=excluded,
    )


@router.get("", response_model=list[NodePublic], summary="Nodes (stale: no heartbeat within the TTL)")
def list_nodes(
    _: Reader,
    session: ReadSession,
    state: State,
    cluster: str | None = Query(default=None, max_length=253, pattern=NO_NUL),
    gpu: str | None = Query(
        default=None, max_length=200, pattern=NO_NUL, description="case-insensitive substring of a GPU product"
    ),
    stale: bool | None = Query(default=None, description="only stale (true) or only live (false) nodes"),
    limit: int = Query(default=1000, ge=1, le=10_000),
    offset: int = Query(default=0, ge=0, le=2**31 - 1),  # larger: 500 on SQLite (fuzzing found it)
) -> Any:
    now, ttl = state.clock(), state.settings.node_ttl_s
    views = node_store.list_nodes(session, cluster=cluster, gpu=gpu, limit=limit, offset=offset)
    excluded = _excluder(state)
    out = [_public(v, now=now, ttl_s=ttl, detail=False, excluded=excluded(v.node.entry)) for v in views]
    return out if stale is None else [n for n in out if n.stale == stale]


@router.get("/{name}", response_model=NodePublic, summary="One node, with the agent's detail")
def get_node(_: Reader, session: ReadSession, state: State, name: str = NodeName) -> Any:
    view = node_store.get_node(session, name=name)
    excluded = _excluder(state)(view.node.entry)
    return _public(view, now=state.clock(), ttl_s=state.settings.node_ttl_s, detail=True, excluded=excluded)


inventory_router = APIRouter(prefix="/v1/inventory", tags=["nodes"])


@inventory_router.get("", summary="The live inventory as one Contract 2 document (stale nodes left out)")
def get_inventory(
    _: Reader, state: State, cluster: str | None = Query(default=None, max_length=253, pattern=NO_NUL)
) -> dict[str, Any]:
    sweep_inventory(state.db, now=state.clock(), ttl_s=state.settings.node_ttl_s)
    with state.db.read_session() as session:
        revision = node_store.inventory_revision(session)
        entries = node_store.live_entries(session)
    if cluster is not None:
        entries = [e for e in entries if e.get("cluster") == cluster]
    return {"inventory_revision": revision, "nodes": entries}
