"""Node inventory and liveness (the node-lease pattern), plus the inventory revision counter.

A *full* heartbeat stores a node's Contract 2 entry (nodes, node_gpus, node_components) and
renews its lease; a *liveness* heartbeat only renews the lease (one UPDATE on `heartbeats`) if
the agent's inventory hash matches what we hold. The inventory revision is bumped only when a
node's stored content or the set of available nodes changes; selection caches key on it.
A node silent for longer than the TTL is marked unavailable by `sweep_stale`, which selection
runs before reading the revision, so a cached answer never outlives a node going stale.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
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
    "record_full_batch",
    "record_liveness_batch",
    "renew_leases_pg",
    "stale_pending",
    "sweep_stale",
]

CONTRACT2_KEYS = ("name", "cluster", "arch", "driver_version", "cuda_driver_version", "l4t_version", "gpus",
                  "cached_components", "labels")

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
    return record_full_batch(session, items=[(entry, digest)], now=now)[0]


# The full-inventory statements, on the tables (Core) rather than the ORM entities: the ORM path
# (two `session.get`s, object construction, a unit-of-work flush per node) cost about 3 ms of CPU
# per registration; these cost a fixed handful of statements per batch (bench/register_profile.py).
_NODES = Node.__table__  # type: ignore[attr-defined]
_GPUS = NodeGpu.__table__  # type: ignore[attr-defined]
_COMPONENTS = NodeComponent.__table__  # type: ignore[attr-defined]
_STATE = InventoryState.__table__  # type: ignore[attr-defined]
_NAMES = bindparam("names", expanding=True)
# Row locks (PostgreSQL; nothing on SQLite, where the write transaction holds the database) are
# taken in name order, nodes before leases, so that two batches cannot deadlock on each other.
_LOCK_NODES = (
    select(_NODES.c.name, _NODES.c.entry, _NODES.c.inventory_hash)
    .where(_NODES.c.name.in_(_NAMES))
    .order_by(_NODES.c.name)
    .with_for_update()
)
_LOCK_LEASES = (
    select(_LEASES.c.node, _LEASES.c.available)
    .where(_LEASES.c.node.in_(_NAMES))
    .order_by(_LEASES.c.node)
    .with_for_update()
)
_INSERT_NODE = _NODES.insert()
_UPDATE_NODE = (
    update(_NODES)
    .where(_NODES.c.name == bindparam("b_name"))
    .values(
        cluster=bindparam("cluster"),
        arch=bindparam("arch"),
        driver_version=bindparam("driver_version"),
        labels=bindparam("labels", type_=_NODES.c.labels.type),
        entry=bindparam("entry", type_=_NODES.c.entry.type),
        inventory_hash=bindparam("inventory_hash"),
        updated_at=bindparam("updated_at"),
    )
)
_UPDATE_NODE_DETAIL = (
    update(_NODES)
    .where(_NODES.c.name == bindparam("b_name"))
    .values(
        entry=bindparam("entry", type_=_NODES.c.entry.type),
        inventory_hash=bindparam("inventory_hash"),
        updated_at=bindparam("updated_at"),
    )
)
_DELETE_GPUS = delete(_GPUS).where(_GPUS.c.node.in_(_NAMES))
_DELETE_COMPONENTS = delete(_COMPONENTS).where(_COMPONENTS.c.node.in_(_NAMES))
_INSERT_GPU = _GPUS.insert()
_INSERT_COMPONENT = _COMPONENTS.insert()
_INSERT_LEASE = _LEASES.insert()
_RENEW_LEASE = (
    update(_LEASES)
    .where(_LEASES.c.node == bindparam("b_node"))
    .values(
        inventory_hash=bindparam("inventory_hash"),
        last_seen=bindparam("last_seen"),
        beats=_LEASES.c.beats + 1,
        available=True,
    )
)
_BUMP = (
    update(_STATE)
    .where(_STATE.c.id == 1)
    .values(revision=_STATE.c.revision + bindparam("bumps"), changed_at=bindparam("now"))
    .returning(_STATE.c.revision)
)
_REVISION = select(_STATE.c.revision).where(_STATE.c.id == 1)


def record_full_batch(
    session: Session, *, items: Sequence[tuple[dict[str, Any], str]], now: float
) -> list[HeartbeatOutcome]:
    """Store full inventories `(entry, digest)` and renew their leases, all in one commit.

    The outcomes are those of the same heartbeats stored one by one, in order: each `changed`
    (Contract 2 content differs, or a new node) or `revived` heartbeat bumps the inventory
    revision by one and reports the revision after its bump; the others report the revision as
    it stood at their turn. A node sent twice in one batch is stored twice, in order.
    """
    for attempt in (1, 2, 3):
        try:
            outcomes = _record_full_batch_once(session, items=items, now=now)
            session.commit()
            return outcomes
        except IntegrityError:
            session.rollback()  # two first heartbeats of the same node raced; the second retries
            if attempt == 3:
                raise
        except OperationalError as e:
            session.rollback()  # PostgreSQL chose this transaction as a deadlock victim: retry
            if attempt == 3 or getattr(getattr(e, "orig", None), "sqlstate", None) != "40P01":
                raise
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")


def _rounds(count: int, names: Sequence[str]) -> list[list[int]]:
    """Indexes 0..count-1 in rounds of distinct node names, each round in arrival order."""
    rounds: list[list[int]] = []
    seen: dict[str, int] = {}  # name -> rounds it already has
    for i in range(count):
        k = seen.get(names[i], 0)
        seen[names[i]] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(i)
    return rounds


def _record_full_batch_once(
    session: Session, *, items: Sequence[tuple[dict[str, Any], str]], now: float
) -> list[HeartbeatOutcome]:
    conn = session.connection()
    names = [entry["name"] for entry, _ in items]
    bumped: list[bool] = [False] * len(items)
    flags: list[tuple[bool, bool, bool]] = [(False, False, False)] * len(items)  # changed, registered, revived
    for indexes in _rounds(len(items), names):
        group = sorted({names[i] for i in indexes})
        stored = {row[0]: (row[1], row[2]) for row in conn.execute(_LOCK_NODES, {"names": group})}
        leases = {row[0]: bool(row[1]) for row in conn.execute(_LOCK_LEASES, {"names": group})}
        new_nodes: list[dict[str, Any]] = []
        updated: list[dict[str, Any]] = []
        detail: list[dict[str, Any]] = []
        gpus: list[dict[str, Any]] = []
        components: list[dict[str, Any]] = []
        new_leases: list[dict[str, Any]] = []
        renewed: list[dict[str, Any]] = []
        for i in indexes:
            entry, digest = items[i]
            name = names[i]
            node = stored.get(name)
            registered = node is None
            # Only a change of the Contract 2 content (what selection sees) bumps the revision;
            # agent detail outside it is stored but does not invalidate cached selections.
            changed = registered or contract2_entry(node[0]) != contract2_entry(entry)
            available = leases.get(name)
            revived = available is False
            if changed:
                values = {
                    "cluster": entry.get("cluster"),
                    "arch": entry["arch"],
                    "driver_version": entry.get("driver_version"),
                    "labels": dict(entry.get("labels") or {}),
                    "entry": entry,
                    "inventory_hash": digest,
                    "updated_at": now,
                }
                if registered:
                    new_nodes.append({"name": name, "registered_at": now, **values})
                else:
                    updated.append({"b_name": name, **values})
                for position, gpu in enumerate(entry.get("gpus") or []):
                    count = int(gpu.get("count", 1))
                    gpus.append(
                        {
                            "node": name,
                            "position": position,
                            "product": gpu["product"],
                            "memory_mib": gpu.get("memory_mib"),
                            "compute_capability": gpu.get("compute_capability"),
                            "count": count,
                            "free": int(gpu["free"]) if gpu.get("free") is not None else count,
                        }
                    )
                components += [
                    {"node": name, "component": c} for c in sorted(set(entry.get("cached_components") or []))
                ]
            elif node[0] != entry or node[1] != digest:
                detail.append({"b_name": name, "entry": entry, "inventory_hash": digest, "updated_at": now})
            if available is None:
                new_leases.append(
                    {"node": name, "inventory_hash": digest, "last_seen": now, "beats": 1, "available": True}
                )
            else:
                renewed.append({"b_node": name, "inventory_hash": digest, "last_seen": now})
            flags[i] = (changed, registered, revived)
            bumped[i] = changed or revived
        write = _write_round_pg if conn.dialect.name == "postgresql" else _write_round
        write(conn, new_nodes, updated, detail, gpus, components, new_leases, renewed)
    # The revision: one UPDATE for all the bumps of the batch (last, so its row lock is held briefly).
    bumps = sum(bumped)
    if bumps:
        revision = int(conn.execute(_BUMP, {"bumps": bumps, "now": now}).scalar_one()) - bumps
    else:
        revision = int(conn.scalar(_REVISION) or 0)
    outcomes = []
    for i, (_entry, digest) in enumerate(items):
        revision += bumped[i]
        changed, registered, revived = flags[i]
        outcomes.append(
            HeartbeatOutcome(
                node=names[i],
                inventory_hash=digest,
                changed=changed,
                registered=registered,
                revived=revived,
                inventory_revision=revision,
            )
        )
    return outcomes



Rows = list[dict[str, Any]]


def _write_round(
    conn: Any, new_nodes: Rows, updated: Rows, detail: Rows, gpus: Rows, components: Rows, new_leases: Rows,
    renewed: Rows,
) -> None:
    """One round's writes as executemany statements (SQLite: each a loop in C, no round trips)."""
    if new_nodes:
        conn.execute(_INSERT_NODE, new_nodes)
    if updated:
        conn.execute(_UPDATE_NODE, updated)
        # the old GPU and component rows of the changed nodes go (new nodes have none)
        conn.execute(_DELETE_GPUS, {"names": [u["b_name"] for u in updated]})
        conn.execute(_DELETE_COMPONENTS, {"names": [u["b_name"] for u in updated]})
    if detail:
        conn.execute(_UPDATE_NODE_DETAIL, detail)
    if gpus:
        conn.execute(_INSERT_GPU, gpus)
    if components:
        conn.execute(_INSERT_COMPONENT, components)
    if new_leases:
        conn.execute(_INSERT_LEASE, new_leases)
    if renewed:
        conn.execute(_RENEW_LEASE, renewed)


# PostgreSQL: each of those as ONE statement over arrays (`unnest`), as the liveness lane does. An
# executemany is one protocol message per row there (psycopg's pipeline): 5-13 ms per 100 rows
# and statement, against about 1 ms for the array form (/tmp timing of a batch of 100).
def _pg(sql: str) -> Any:
    return text(sql)


_PG_INSERT_NODES = _pg(
    """
    INSERT INTO nodes (name, cluster, arch, driver_version, labels, entry, inventory_hash, registered_at, updated_at)
    SELECT v.name, v.cluster, v.arch, v.driver_version, CAST(v.labels AS json), CAST(v.entry AS json),
        v.inventory_hash, v.registered_at, v.updated_at
    FROM unnest(CAST(:name AS text[]), CAST(:cluster AS text[]), CAST(:arch AS text[]),
        CAST(:driver_version AS text[]), CAST(:labels AS text[]), CAST(:entry AS text[]),
        CAST(:inventory_hash AS text[]), CAST(:registered_at AS float8[]), CAST(:updated_at AS float8[]))
        AS v(name, cluster, arch, driver_version, labels, entry, inventory_hash, registered_at, updated_at)
    """
)
_PG_UPDATE_NODES = _pg(
    """
    UPDATE nodes AS n
    SET cluster = v.cluster, arch = v.arch, driver_version = v.driver_version, labels = CAST(v.labels AS json),
        entry = CAST(v.entry AS json), inventory_hash = v.inventory_hash, updated_at = v.updated_at
    FROM unnest(CAST(:b_name AS text[]), CAST(:cluster AS text[]), CAST(:arch AS text[]),
        CAST(:driver_version AS text[]), CAST(:labels AS text[]), CAST(:entry AS text[]),
        CAST(:inventory_hash AS text[]), CAST(:updated_at AS float8[]))
        AS v(name, cluster, arch, driver_version, labels, entry, inventory_hash, updated_at)
    WHERE n.name = v.name
    """
)
_PG_UPDATE_DETAIL = _pg(
    """
    UPDATE nodes AS n
    SET entry = CAST(v.entry AS json), inventory_hash = v.inventory_hash, updated_at = v.updated_at
    FROM unnest(CAST(:b_name AS text[]), CAST(:entry AS text[]), CAST(:inventory_hash AS text[]),
        CAST(:updated_at AS float8[])) AS v(name, entry, inventory_hash, updated_at)
    WHERE n.name = v.name
    """
)
_PG_DELETE_GPUS = _pg("DELETE FROM node_gpus WHERE node = ANY(CAST(:names AS text[]))")
_PG_DELETE_COMPONENTS = _pg("DELETE FROM node_components WHERE node = ANY(CAST(:names AS text[]))")
_PG_INSERT_GPUS = _pg(
    """
    INSERT INTO node_gpus (node, position, product, memory_mib, compute_capability, count, free)
    SELECT * FROM unnest(CAST(:node AS text[]), CAST(:position AS integer[]), CAST(:product AS text[]),
        CAST(:memory_mib AS integer[]), CAST(:compute_capability AS text[]), CAST(:count AS integer[]),
        CAST(:free AS integer[]))
    """
)
_PG_INSERT_COMPONENTS = _pg(
    "INSERT INTO node_components (node, component) "
    "SELECT * FROM unnest(CAST(:node AS text[]), CAST(:component AS text[]))"
)
_PG_INSERT_LEASES = _pg(
    """
    INSERT INTO heartbeats (node, inventory_hash, last_seen, beats, available)
    SELECT * FROM unnest(CAST(:node AS text[]), CAST(:inventory_hash AS text[]), CAST(:last_seen AS float8[]),
        CAST(:beats AS integer[]), CAST(:available AS boolean[]))
    """
)
_PG_RENEW_LEASES = _pg(
    """
    UPDATE heartbeats AS h
    SET inventory_hash = v.inventory_hash, last_seen = v.last_seen, beats = h.beats + 1, available = true
    FROM unnest(CAST(:b_node AS text[]), CAST(:inventory_hash AS text[]), CAST(:last_seen AS float8[]))
        AS v(node, inventory_hash, last_seen)
    WHERE h.node = v.node
    """
)
_JSON_COLUMNS = ("labels", "entry")


def _columns(rows: Rows) -> dict[str, list[Any]]:
    """Rows of one shape as one array per column (JSON columns as the JSON text SQLAlchemy writes)."""
    out: dict[str, list[Any]] = {key: [row[key] for row in rows] for key in rows[0]}
    for key in _JSON_COLUMNS:
        if key in out:
            out[key] = [json.dumps(v) for v in out[key]]
    return out


def _write_round_pg(
    conn: Any, new_nodes: Rows, updated: Rows, detail: Rows, gpus: Rows, components: Rows, new_leases: Rows,
    renewed: Rows,
) -> None:
    if new_nodes:
        conn.execute(_PG_INSERT_NODES, _columns(new_nodes))
    if updated:
        conn.execute(_PG_UPDATE_NODES, _columns(updated))
        names = {"names": [u["b_name"] for u in updated]}
        conn.execute(_PG_DELETE_GPUS, names)
        conn.execute(_PG_DELETE_COMPONENTS, names)
    if detail:
        conn.execute(_PG_UPDATE_DETAIL, _columns(detail))
    if gpus:
        conn.execute(_PG_INSERT_GPUS, _columns(gpus))
    if components:
        conn.execute(_PG_INSERT_COMPONENTS, _columns(components))
    if new_leases:
        conn.execute(_PG_INSERT_LEASES, _columns(new_leases))
    if renewed:
        conn.execute(_PG_RENEW_LEASES, _columns(renewed))


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
