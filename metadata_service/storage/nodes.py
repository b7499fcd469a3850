"""Node inventory and liveness (the node-lease pattern), plus the inventory revision counter.

A *full* heartbeat stores a node's Contract 2 entry (nodes, node_gpus, node_components) and
renews its lease; a *liveness* heartbeat only renews the lease (one UPDATE on `heartbeats`) if
the agent's inventory hash matches what we hold. The inventory revision is bumped only when a
node's stored content or the set of available nodes changes; selection caches key on it.
A node silent for longer than the TTL is marked unavailable by `sweep_stale`, which selection
runs before reading the revision, so a cached answer never outlives a node going stale.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Session

from service_protocol.inventory import inventory_hash  # the agent's function: one definition

from ..errors import InventoryOutOfDate, NotFound
from ..tables import Heartbeat, InventoryState, Node, NodeComponent, NodeGpu

__all__ = [
    "CONTRACT2_KEYS",
    "HeartbeatOutcome",
    "NodeView",
    "contract2_entry",
    "count_stale",
    "get_node",
    "inventory_hash",
    "inventory_revision",
    "list_nodes",
    "live_entries",
    "record_full",
    "record_liveness_batch",
    "renew_leases_pg",
    "stale_pending",
    "sweep_stale",
]

CONTRACT2_KEYS = ("name", "cluster", "arch", "driver_version", "gpus", "cached_components", "labels")

def contract2_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Only the Contract 2 keys of a stored entry (what the solver gets); `None`s dropped."""
    return {k: entry[k] for k in CONTRACT2_KEYS if entry.get(k) is not None}


@dataclass(frozen=True)
class HeartbeatOutcome:
    node: str
    inventory_hash: str
    changed: bool = False
    registered: bool = False
    revived: bool = False
    inventory_revision: int | None = None
    problem: InventoryOutOfDate | None = None


@dataclass(frozen=True)
class NodeView:
    node: Node
    last_seen: float | None
    beats: int
    available: bool


def _bump(session: Session, now: float) -> int:
    session.execute(
        update(InventoryState)
        .where(InventoryState.id == 1)
        .values(revision=InventoryState.revision + 1, changed_at=now)
    )
    return int(session.scalar(select(InventoryState.revision).where(InventoryState.id == 1)))


# Statements of the per-request reads, built once (building a statement cost more CPU than running
# it on the cached-selection path).
_INVENTORY_REVISION = select(InventoryState.revision).where(InventoryState.id == 1)


def inventory_revision(session: Session) -> int:
    return int(session.scalar(_INVENTORY_REVISION) or 0)


# The liveness batch's two statements, on the table rather than the ORM entity: an ORM bulk
# UPDATE also evaluates its WHERE clause against the session's identity map, which made a batch
# of 3 pings cost 1.4 ms of CPU instead of 0.5 ms (bench/heartbeat_batch_bench.py).
# Expanding IN parameters keep one cached compiled form each.
_LEASES = Heartbeat.__table__  # type: ignore[attr-defined]
_SELECT_LEASES = select(_LEASES.c.node, _LEASES.c.inventory_hash, _LEASES.c.available).where(
    _LEASES.c.node.in_(bindparam("names", expanding=True))
)
_RENEW_LEASES = (
    update(_LEASES)
    .where(_LEASES.c.node.in_(bindparam("names", expanding=True)), _LEASES.c.available.is_(True))
    .values(last_seen=bindparam("now"), beats=_LEASES.c.beats + bindparam("repeats"))
)


def record_liveness_batch(
    session: Session, *, pings: Iterable[tuple[str, str]], now: float
) -> list[HeartbeatOutcome]:
    """Renew the leases of (node, inventory hash) pings in one transaction.

    The common case costs two statements for the whole batch: one SELECT of the leases, one
    UPDATE of those whose hash matches and that are available. Anything else (unknown node, other
    hash, a stale node coming back) takes the per-node slow path. A ping for an unknown node or
    with a different hash is not an error of the batch: its outcome carries an
    `InventoryOutOfDate` problem and the agent re-sends the full inventory.
    """
    pings = list(pings)
    names = sorted({name for name, _ in pings})
    try:
        leases = {
            row[0]: (row[1], bool(row[2])) for row in session.execute(_SELECT_LEASES, {"names": names})
        }
        repeats = Counter(n for n, d in pings if leases.get(n) == (d, True))
        by_repeat: dict[int, list[str]] = {}
        for name, k in sorted(repeats.items()):
            by_repeat.setdefault(k, []).append(name)
        for k, group in by_repeat.items():  # almost always one group: every node pinged once
            result = session.execute(_RENEW_LEASES, {"names": group, "now": now, "repeats": k})
            if result.rowcount != len(group):  # a concurrent sweep or upload: redo one by one
                session.rollback()
                repeats.clear()
                break
        fast_set = set(repeats)
        outcomes = [
            HeartbeatOutcome(node=name, inventory_hash=digest)
            if name in fast_set and leases[name][0] == digest
            else _liveness_slow_path(session, name=name, digest=digest, now=now)
            for name, digest in pings
        ]
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return outcomes


# PostgreSQL: the common case of a liveness batch as one statement, run on the event loop through
# the async engine with autocommit (one network round trip). Pings it does not renew (unknown node,
# other hash, unavailable node) go to `record_liveness_batch`, whose slow path answers them.
_RENEW_LEASES_PG = text(
    """
    UPDATE heartbeats AS h
    SET last_seen = :now, beats = h.beats + v.repeats
    FROM unnest(CAST(:names AS text[]), CAST(:hashes AS text[]), CAST(:repeats AS integer[]))
        AS v(node, inventory_hash, repeats)
    WHERE h.node = v.node AND h.inventory_hash = v.inventory_hash AND h.available
    RETURNING h.node, h.inventory_hash
    """
)


async def renew_leases_pg(conn: AsyncConnection, *, pings: Iterable[tuple[str, str]], now: float) -> set[tuple[str, str]]:
    """Renew the available leases whose hash matches, in one statement; the (node, hash) renewed."""
    counts = Counter(pings)
    if not counts:
        return set()
    keys = list(counts)
    result = await conn.execute(
        _RENEW_LEASES_PG,
        {
            "now": now,
            "names": [n for n, _ in keys],
            "hashes": [d for _, d in keys],
            "repeats": [counts[k] for k in keys],
        },
    )
    return {(row[0], row[1]) for row in result}


def _liveness_slow_path(session: Session, *, name: str, digest: str, now: float) -> HeartbeatOutcome:
    lease = session.get(Heartbeat, name, with_for_update=True)
    if lease is None:
        return HeartbeatOutcome(
            node=name,
            inventory_hash=digest,
            problem=InventoryOutOfDate(
                f"node '{name}' is not registered here; send the full inventory ({{\"node\": {{...}}}})",
                node=name,
                reason="unknown-node",
            ),
        )
    if lease.inventory_hash != digest:
        return HeartbeatOutcome(
            node=name,
            inventory_hash=digest,
            problem=InventoryOutOfDate(
                f"inventory hash {digest[:12]}... does not match the stored {lease.inventory_hash[:12]}... "
                f"for node '{name}'; send the full inventory",
                node=name,
                reason="hash-mismatch",
                stored_hash=lease.inventory_hash,
            ),
        )
    revived = not lease.available
    lease.last_seen = now
    lease.beats += 1
    lease.available = True
    revision = _bump(session, now) if revived else None
    return HeartbeatOutcome(node=name, inventory_hash=digest, revived=revived, inventory_revision=revision)


def record_full(session: Session, *, entry: dict[str, Any], digest: str, now: float) -> HeartbeatOutcome:
    """Store a node's full inventory entry (if it changed) and renew its lease, in one commit."""
    for attempt in (1, 2):
        try:
            outcome = _record_full_once(session, entry=entry, digest=digest, now=now)
            session.commit()
            return outcome
        except IntegrityError:
            session.rollback()  # two first heartbeats of the same node raced; the second retries
            if attempt == 2:
                raise
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")


def _record_full_once(
    session: Session, *, entry: dict[str, Any], digest: str, now: float
) -> HeartbeatOutcome:
    name = entry["name"]
    node = session.get(Node, name, with_for_update=True)
    lease = session.get(Heartbeat, name, with_for_update=True)
    registered = node is None
    # Only a change of the Contract 2 content (what selection sees) bumps the revision; agent
    # detail outside it is stored but does not invalidate cached selections.
    changed = registered or contract2_entry(node.entry) != contract2_entry(entry)
    revived = lease is not None and not lease.available
    if not changed and (node.entry != entry or node.inventory_hash != digest):
        node.entry = entry
        node.inventory_hash = digest
        node.updated_at = now
    if changed:
        if node is None:
            node = Node(
                name=name,
                registered_at=now,
                arch=entry["arch"],
                labels={},
                entry={},
                inventory_hash=digest,
                updated_at=now,
            )
            session.add(node)
        node.cluster = entry.get("cluster")
        node.arch = entry["arch"]
        node.driver_version = entry.get("driver_version")
        node.labels = dict(entry.get("labels") or {})
        node.entry = entry
        node.inventory_hash = digest
        node.updated_at = now
        session.flush()
        session.execute(delete(NodeGpu).where(NodeGpu.node == name))
        session.execute(delete(NodeComponent).where(NodeComponent.node == name))
        for position, gpu in enumerate(entry.get("gpus") or []):
            count = int(gpu.get("count", 1))
            session.add(
                NodeGpu(
                    node=name,
                    position=position,
                    product=gpu["product"],
                    memory_mib=gpu.get("memory_mib"),
                    compute_capability=gpu.get("compute_capability"),
                    count=count,
                    free=int(gpu["free"]) if gpu.get("free") is not None else count,
                )
            )
        for component in sorted(set(entry.get("cached_components") or [])):
            session.add(NodeComponent(node=name, component=component))
    if lease is None:
        lease = Heartbeat(node=name, inventory_hash=digest, last_seen=now, beats=1, available=True)
        session.add(lease)
    else:
        lease.inventory_hash = digest
        lease.last_seen = now
        lease.beats += 1
        lease.available = True
    session.flush()
    revision = _bump(session, now) if (changed or revived) else inventory_revision(session)
    return HeartbeatOutcome(
        node=name,
        inventory_hash=digest,
        changed=changed,
        registered=registered,
        revived=revived,
        inventory_revision=revision,
    )


def stale_pending(session: Session, *, now: float, ttl_s: float) -> bool:
    """Whether some available node is older than the TTL (a cheap read, indexed)."""
    return session.execute(_STALE_PENDING, {"before": now - ttl_s}).first() is not None


_STALE_PENDING = (
    select(Heartbeat.node)
    .where(Heartbeat.available.is_(True), Heartbeat.last_seen < bindparam("before"))
    .limit(1)
)


def sweep_stale(session: Session, *, now: float, ttl_s: float) -> int:
    """Mark nodes silent for longer than `ttl_s` unavailable; bump the revision if any were.

    Call `stale_pending` on a read session first: this one takes the write lock.
    """
    try:
        result = session.execute(
            update(Heartbeat)
            .where(Heartbeat.available.is_(True), Heartbeat.last_seen < now - ttl_s)
            .values(available=False)
        )
        swept = result.rowcount or 0
        if swept:
            _bump(session, now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return swept


def count_stale(session: Session, *, now: float, ttl_s: float) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Heartbeat).where(Heartbeat.last_seen < now - ttl_s))
        or 0
    )


def live_entries(session: Session) -> list[dict[str, Any]]:
    """Contract 2 entries of every available node, by name (call `sweep_stale` first)."""
    rows = session.execute(
        select(Node.entry)
        .join(Heartbeat, Heartbeat.node == Node.name)
        .where(Heartbeat.available.is_(True))
        .order_by(Node.name)
    ).scalars()
    return [contract2_entry(e) for e in rows]


def list_nodes(
    session: Session,
    *,
    cluster: str | None = None,
    gpu: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[NodeView]:
    query = (
        select(Node, Heartbeat.last_seen, Heartbeat.beats, Heartbeat.available)
        .join(Heartbeat, Heartbeat.node == Node.name, isouter=True)
        .order_by(Node.name)
        .limit(limit)
        .offset(offset)
    )
    if cluster is not None:
        query = query.where(Node.cluster == cluster)
    if gpu is not None:
        products = select(NodeGpu.node).where(func.lower(NodeGpu.product).contains(gpu.lower()))
        query = query.where(Node.name.in_(products))
    return [
        NodeView(node=row[0], last_seen=row[1], beats=row[2] or 0, available=bool(row[3]))
        for row in session.execute(query)
    ]


def get_node(session: Session, *, name: str) -> NodeView:
    row = session.execute(
        select(Node, Heartbeat.last_seen, Heartbeat.beats, Heartbeat.available)
        .join(Heartbeat, Heartbeat.node == Node.name, isouter=True)
        .where(Node.name == name)
    ).first()
    if row is None:
        raise NotFound(f"no node named '{name}' has sent a heartbeat", name=name)
    return NodeView(node=row[0], last_seen=row[1], beats=row[2] or 0, available=bool(row[3]))
