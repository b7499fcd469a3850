"""Database tables (SQLModel, table=True). The schema itself is created by Alembic migrations.

Times are float seconds since the epoch (UTC) so the same arithmetic works on SQLite and
PostgreSQL. Node liveness lives in its own narrow table (`heartbeats`, the node-lease pattern):
a liveness ping updates one small row and never touches the inventory tables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, Text, text
from sqlmodel import Field, SQLModel

__all__ = [
    "CatalogPointer",
    "CatalogRevision",
    "FlowRun",
    "FlowTask",
    "Heartbeat",
    "InventoryState",
    "ModelRecord",
    "Node",
    "NodeComponent",
    "NodeGpu",
    "SelectionAnswer",
    "SelectionAudit",
]


class CatalogRevision(SQLModel, table=True):
    """One uploaded catalog: the documents it was loaded from, keyed by content revision."""

    __tablename__ = "catalog_revisions"

    id: int | None = Field(default=None, primary_key=True)
    revision: str = Field(max_length=64, unique=True)
    documents: dict[str, Any] = Field(sa_type=JSON)
    counts: dict[str, Any] = Field(sa_type=JSON)
    source: str = Field(max_length=200, description="bundled, a path, or the admin token name")
    created_at: float


class CatalogPointer(SQLModel, table=True):
    """Which catalog revision is active (one row, key 'active'); switched in the upload's transaction."""

    __tablename__ = "catalog_pointer"

    key: str = Field(primary_key=True, max_length=16)
    revision_id: int = Field(foreign_key="catalog_revisions.id")
    activated_at: float


class ModelRecord(SQLModel, table=True):
    """A registered model request (Contract 1), stored by name."""

    __tablename__ = "models"

    name: str = Field(primary_key=True, max_length=200)
    request: dict[str, Any] = Field(sa_type=JSON)
    created_at: float
    updated_at: float


class Node(SQLModel, table=True):
    """A node's last full inventory (one Contract 2 entry) and when it last changed."""

    __tablename__ = "nodes"

    name: str = Field(primary_key=True, max_length=253)
    cluster: str | None = Field(default=None, max_length=253, index=True)
    arch: str = Field(max_length=32)
    driver_version: str | None = Field(default=None, max_length=64)
    labels: dict[str, Any] = Field(sa_type=JSON)
    entry: dict[str, Any] = Field(sa_type=JSON)
    inventory_hash: str = Field(max_length=64)
    registered_at: float
    updated_at: float


class NodeGpu(SQLModel, table=True):
    """One GPU line of a node's inventory (a product, possibly with count > 1)."""

    __tablename__ = "node_gpus"

    id: int | None = Field(default=None, primary_key=True)
    node: str = Field(
        sa_column=Column(String(253), ForeignKey("nodes.name", ondelete="CASCADE"), nullable=False, index=True)
    )
    position: int
    product: str = Field(max_length=200)
    memory_mib: int | None = None
    compute_capability: str | None = Field(default=None, max_length=16)
    count: int = 1
    free: int = 1


class NodeComponent(SQLModel, table=True):
    """A runtime component (kind/version) already cached on a node."""

    __tablename__ = "node_components"

    node: str = Field(
        sa_column=Column(String(253), ForeignKey("nodes.name", ondelete="CASCADE"), primary_key=True)
    )
    component: str = Field(primary_key=True, max_length=200)


# The predicate of the partial index below, written as SQLAlchemy renders
# `Heartbeat.available.is_(True)` on each database, so that SQLite's planner (which matches the
# WHERE term literally) can use it for the stale-node queries.
LIVE_SQLITE = "available IS 1"
LIVE_POSTGRES = "available IS true"


class Heartbeat(SQLModel, table=True):
    """The node lease: last heartbeat time, count, availability flag and the inventory hash.

    The stale-node queries (`available IS true AND last_seen < cutoff`) use a partial index of the
    available leases by `last_seen`. A plain index on (available, last_seen), as in migration 0001,
    made SQLite's planner answer `UPDATE ... WHERE node IN (...) AND available IS 1` (every
    liveness batch) by walking the index of all available nodes instead of the primary key:
    5 ms per batch of 3 at 10,000 nodes instead of 0.4 ms (migration 0002).
    """

    __tablename__ = "heartbeats"
    __table_args__ = (
        Index(
            "ix_heartbeats_live_last_seen",
            "last_seen",
            sqlite_where=text(LIVE_SQLITE),
            postgresql_where=text(LIVE_POSTGRES),
        ),
    )

    node: str = Field(sa_column=Column(String(253), ForeignKey("nodes.name", ondelete="CASCADE"), primary_key=True))
    inventory_hash: str = Field(max_length=64)
    last_seen: float
    beats: int = 0
    available: bool = True


class InventoryState(SQLModel, table=True):
    """One row: the inventory revision, bumped when node content or the live set changes."""

    __tablename__ = "inventory_state"

    id: int = Field(default=1, primary_key=True)
    revision: int = 0
    changed_at: float = 0.0


class SelectionAudit(SQLModel, table=True):
    """Every answered selection: what was asked, against which revisions, and the answer."""

    __tablename__ = "selection_audit"

    id: int | None = Field(default=None, primary_key=True)
    created_at: float = Field(index=True)
    principal: str = Field(max_length=200)
    kind: str = Field(max_length=16, description="single or batch")
    request: dict[str, Any] = Field(sa_type=JSON)
    catalog_revision: str = Field(max_length=64)
    inventory_revision: int
    feasible: bool
    cached: bool
    solve_seconds: float
    # the answer, stored once in `selection_answers` under this SHA-256 (rows before migration
    # 0003 hold the answer itself in `answer`)
    answer_hash: str | None = Field(default=None, max_length=64)
    answer: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class SelectionAnswer(SQLModel, table=True):
    """Each distinct selection answer once, under the SHA-256 of its JSON body as sent
    (`storage.selections.body_digest`; of its canonical JSON in rows written before): an audit row
    names its answer by hash, so a repeated (cached) answer costs the audit row only."""

    __tablename__ = "selection_answers"

    hash: str = Field(primary_key=True, max_length=64)
    answer: dict[str, Any] = Field(sa_type=JSON)
    created_at: float


class FlowRun(SQLModel, table=True):
    """One run of a flow, as written by the flow runner (`rtfit flow run --server`)."""

    __tablename__ = "flow_runs"

    id: str = Field(primary_key=True, max_length=100)
    flow: str = Field(max_length=200, index=True)
    digest: str | None = Field(default=None, max_length=128, index=True)
    status: str | None = Field(default=None, max_length=16, description="set by the runner; else derived")
    backend: str | None = Field(default=None, max_length=50)
    spec: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    meta: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_by: str = Field(max_length=200)
    created_at: float
    updated_at: float


class FlowTask(SQLModel, table=True):
    """The state of one task of a flow run, with its accumulated log text."""

    __tablename__ = "flow_tasks"

    run_id: str = Field(
        sa_column=Column(String(100), ForeignKey("flow_runs.id", ondelete="CASCADE"), primary_key=True)
    )
    name: str = Field(primary_key=True, max_length=200)
    position: int
    state: str = Field(max_length=16)
    attempts: int = 0
    node: str | None = Field(default=None, max_length=253)
    runtime: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    exit_code: int | None = None
    message: str | None = Field(default=None, sa_type=Text)
    started_at: float | None = None
    finished_at: float | None = None
    log: str = Field(default="", sa_type=Text)
    updated_at: float
