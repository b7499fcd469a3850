"""Heartbeat handling: full inventories and liveness pings, each committed in batches.

At 10,000 nodes the write load is almost all liveness pings. Pings that arrive within
`heartbeat_batch_ms` of each other (and all that queue up while a commit is running) share one
transaction, so the commit rate stays low under load while a single ping still commits within a
few milliseconds. Each ping gets its own outcome; an unknown node or a different inventory hash
is answered 409 so the agent re-sends its full inventory.

Full inventories (a fleet registering, agents restarting) are batched the same way, in a queue of
their own: the batch is checked against the active catalog (one read), then stored on a worker
thread in one transaction of a fixed handful of Core statements (`storage.nodes.record_full_batch`),
each heartbeat keeping the outcome it would have had alone. Stored one by one through the ORM, a
registration cost about 4 ms of CPU and a transaction of its own (bench/register_profile.py).

On SQLite a liveness batch commits on the event loop itself, once `Database.write_lock` is taken without
blocking the loop: a local WAL commit of a few rows costs well under a millisecond of CPU, while
the same commit on a worker thread waited for the GIL at each of its four statements (up to the
5 ms switch interval each while the loop was busy: p50 7 ms per batch, measured). On PostgreSQL,
where each statement is a network round trip, a batch is one autocommit `UPDATE ... FROM
unnest(...) RETURNING` awaited on the loop through psycopg's asyncio support (measured on a
worker thread: 2 ms p50 to start the thread, 7 ms p50 / 25 ms p99 for the four statements); the
pings it did not renew (unknown node, other hash, node coming back) then go through the full
batch path on a worker thread.
"""

from __future__ import annotations

import asyncio
import email.message
import itertools
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from pydantic import StringConstraints, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from .auth import Principal, TokenStore
from .db import Database
from .errors import InvalidInput, NotReady, UnreadableBody
from .metrics import Metrics
from .problems import validation_error
from .schemas import NO_NUL, HeartbeatCreate, HeartbeatPublic
from .storage import nodes as node_store
from .usability import UsabilityCheck

__all__ = ["NODE_NAME_MAX", "HeartbeatService", "public_answer", "read_heartbeat"]

log = logging.getLogger("metadata_service")
MAX_BATCH = 500
MAX_FULL_BATCH = 200  # full inventories per transaction


class HeartbeatService:
    def __init__(
        self,
        db: Database,
        *,
        metrics: Metrics,
        clock: Callable[[], float],
        batch_s: float,
        catalog: Callable[[], Any] | None = None,
        usability: UsabilityCheck | None = None,
    ) -> None:
        self._db = db
        self._catalog = catalog  # the active catalog (CatalogHolder.current), for the usability check
        self._usability = usability or UsabilityCheck()
        self._metrics = metrics
        self._clock = clock
        self._batch_s = batch_s
        self._pending: list[tuple[str, str, asyncio.Future[node_store.HeartbeatOutcome]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pending_full: list[
            tuple[dict[str, Any], str, asyncio.Future[node_store.HeartbeatOutcome | Exception]]
        ] = []
        self._full_flusher: asyncio.Task[None] | None = None

    async def receive(self, name: str, body: HeartbeatCreate) -> node_store.HeartbeatOutcome:
        """Handle one heartbeat for node `name` (auth already checked). Raises for 409/422."""
        if body.node is None:
            assert body.inventory_hash is not None
            outcome = await self._liveness(name, body.inventory_hash.lower())
            kind = "liveness"
        else:
            entry = body.node.model_dump(mode="json", exclude_unset=True)
            if entry["name"] != name:
                raise InvalidInput(
                    f"node.name '{entry['name']}' does not match the URL's node '{name}'", field="node.name"
                )
            _check_with_solver(entry)
            digest = (body.inventory_hash or node_store.inventory_hash(entry)).lower()
            outcome = await self._full(entry, digest)
            kind = "full"
        self._metrics.heartbeats.labels(kind, "rejected" if outcome.problem else "ok").inc()
        if outcome.problem is not None:
            raise outcome.problem
        return outcome

    async def _full(self, entry: dict[str, Any], digest: str) -> node_store.HeartbeatOutcome:
        """Store one full inventory; those arriving together share one transaction (like liveness)."""
        if self._batch_s <= 0:
            found = (await run_in_threadpool(self._commit_full, [(entry, digest)]))[0]
        else:
            future: asyncio.Future[node_store.HeartbeatOutcome | Exception]
            future = asyncio.get_running_loop().create_future()
            self._pending_full.append((entry, digest, future))
            if self._full_flusher is None or self._full_flusher.done():
                self._full_flusher = asyncio.create_task(self._flush_full_loop())
            found = await future
        if isinstance(found, Exception):
            raise found
        return found

    async def _flush_full_loop(self) -> None:
        await asyncio.sleep(self._batch_s)
        while self._pending_full:
            batch, self._pending_full = self._pending_full[:MAX_FULL_BATCH], self._pending_full[MAX_FULL_BATCH:]
            try:
                outcomes = await run_in_threadpool(self._commit_full, [(e, d) for e, d, _ in batch])
            except Exception as e:  # the whole transaction failed: every waiter gets the error
                log.error("full-inventory batch of %d failed: %s", len(batch), e.__class__.__name__)
                outcomes = [e] * len(batch)
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    def _commit_full(
        self, items: list[tuple[dict[str, Any], str]]
    ) -> list[node_store.HeartbeatOutcome | Exception]:
        """Check each entry against the active catalog (one read for the batch), then store the
        usable ones in one transaction; a refused entry's outcome is its `InvalidInput` (422)."""
        outcomes: list[node_store.HeartbeatOutcome | Exception | None] = [None] * len(items)
        catalog = self._active_catalog()
        usable = []
        for i, (entry, _digest) in enumerate(items):
            found = None if catalog is None else self._usability.reason(entry, catalog)
            if found is None:
                usable.append(i)
            else:
                field, reason = found
                outcomes[i] = InvalidInput(f"node.{field}: {reason}", field=f"node.{field}")
        if usable:
            with self._db.write_session() as session:
                stored = node_store.record_full_batch(session, items=[items[i] for i in usable], now=self._clock())
            for i, outcome in zip(usable, stored, strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def warm(self) -> None:
        """Load the active catalog now (at startup), so that the first full heartbeats do not wait
        for this worker to parse it (0.1-0.2 s)."""
        self._active_catalog()

    def _active_catalog(self) -> Any:
        """The active catalog, to refuse (422) a GPU it cannot resolve (it would be left out of
        selection); None when there is none yet (selection re-checks when one is loaded)."""
        if self._catalog is None:
            return None
        try:
            return self._catalog()
        except NotReady:
            return None

    async def _liveness(self, name: str, digest: str) -> node_store.HeartbeatOutcome:
        if self._batch_s <= 0:
            return (await run_in_threadpool(self._commit_batch, [(name, digest)]))[0]
        future: asyncio.Future[node_store.HeartbeatOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append((name, digest, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop())
        return await future

    async def _flush_loop(self) -> None:
        await asyncio.sleep(self._batch_s)
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            pings = [(n, d) for n, d, _ in batch]
            outcomes: Sequence[node_store.HeartbeatOutcome | Exception]
            try:
                if self._db.write_lock is not None:
                    outcomes = await self._commit_batch_on_loop(pings)
                elif self._db.async_writer is not None:
                    outcomes = await self._commit_batch_async(pings)
                else:
                    outcomes = await run_in_threadpool(self._commit_batch, pings)
            except Exception as e:  # the whole transaction failed: every waiter gets the error
                log.error("liveness batch of %d failed: %s", len(batch), e.__class__.__name__)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    async def _commit_batch_on_loop(self, pings: list[tuple[str, str]]) -> list[node_store.HeartbeatOutcome]:
        lock = self._db.write_lock
        assert lock is not None
        await lock.acquire_async()
        try:
            return self._commit_batch(pings, prelocked=True)
        finally:
            lock.release()

    async def _commit_batch_async(
        self, pings: list[tuple[str, str]]
    ) -> list[node_store.HeartbeatOutcome | Exception]:
        engine = self._db.async_writer
        assert engine is not None
        async with engine.connect() as conn:
            renewed = await node_store.renew_leases_pg(conn, pings=pings, now=self._clock())
        rest = [p for p in pings if p not in renewed]
        slow: Iterator[node_store.HeartbeatOutcome | Exception]
        try:
            slow = iter(await run_in_threadpool(self._commit_batch, rest) if rest else ())
        except Exception as e:  # the renewed pings stand (committed); the others get the error
            log.error("liveness slow path for %d of %d pings failed: %s", len(rest), len(pings), e.__class__.__name__)
            slow = itertools.repeat(e)
        return [
            node_store.HeartbeatOutcome(node=name, inventory_hash=digest) if (name, digest) in renewed else next(slow)
            for name, digest in pings
        ]

    def _commit_batch(
        self, pings: list[tuple[str, str]], *, prelocked: bool = False
    ) -> list[node_store.HeartbeatOutcome]:
        with self._db.write_session(prelocked=prelocked) as session:
            return node_store.record_liveness_batch(session, pings=pings, now=self._clock())


NODE_NAME_MAX = 253
_NODE_NAME = TypeAdapter(Annotated[str, StringConstraints(max_length=NODE_NAME_MAX, pattern=NO_NUL)])


def read_heartbeat(
    tokens: TokenStore, *, authorization: str | None, content_type: str | None, name: str, body: bytes
) -> tuple[Principal, HeartbeatCreate]:
    """Who sends which heartbeat: the one authorise-and-parse step of the heartbeat lane and the
    route. Raises `Unauthorized` (401), `InvalidInput` (422, naming the field) or `Forbidden`
    (403), in that order and with the bodies FastAPI's own parsing gave: the body is JSON only
    when the content type says so (application/json or */*+json), a JSON syntax error is reported
    before anything else in the body, the path's node name before the body's fields."""
    principal = tokens.authenticate(authorization)
    payload: Any = body
    if not body:
        payload = _MISSING
    elif _is_json(content_type):
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as e:
            raise validation_error([{"loc": ("body", e.pos), "msg": "JSON decode error"}]) from e
        except UnicodeDecodeError as e:   # json.loads decodes bytes first: not UTF-8/16/32 text
            raise UnreadableBody(f"body: not UTF-8 JSON ({e.reason} at byte {e.start})") from e
    errors: list[dict[str, Any]] = []
    try:
        _NODE_NAME.validate_python(name)
    except ValidationError as e:
        errors += [{"loc": ("path", "name", *err["loc"]), "msg": err["msg"]} for err in e.errors()]
    heartbeat = None
    if payload is _MISSING:
        errors.append({"loc": ("body",), "msg": "Field required"})
    else:
        try:
            heartbeat = HeartbeatCreate.model_validate(payload, from_attributes=True)
        except ValidationError as e:
            errors += [{"loc": ("body", *err["loc"]), "msg": err["msg"]} for err in e.errors()]
    if errors or heartbeat is None:
        raise validation_error(errors)
    principal.require_node_writer(name)
    return principal, heartbeat


_MISSING = object()


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: a body without one is not parsed as JSON
    if content_type.startswith("application/json") and (len(content_type) == 16 or content_type[16] in "; "):
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def public_answer(outcome: node_store.HeartbeatOutcome, *, ttl_s: float) -> HeartbeatPublic:
    """The 200 answer to a heartbeat (the route and the heartbeat lane give the same one)."""
    return HeartbeatPublic(
        node=outcome.node,
        inventory_hash=outcome.inventory_hash,
        changed=outcome.changed,
        registered=outcome.registered,
        revived=outcome.revived,
        inventory_revision=outcome.inventory_revision,
        ttl_s=ttl_s,
    )


# The solver's inventory parser, imported with this module: imported on the first full heartbeat
# instead, it made that request (and the ~100 queued behind it in a fleet's first wave) wait 0.3 s.
try:
    from solver import parse_inventory as _parse_inventory
    from solver.errors import InvalidInventory as _InvalidInventory
except ImportError:  # the service without the solver installed
    _parse_inventory = None
    _InvalidInventory = None


def _check_with_solver(entry: dict[str, Any]) -> None:
    """Refuse an entry the solver could not use later (when the solver is installed)."""
    if _parse_inventory is None or _InvalidInventory is None:
        return
    try:
        _parse_inventory({"nodes": [node_store.contract2_entry(entry)]})
    except _InvalidInventory as e:
        field = str(getattr(e, "field", "") or "")
        field = field.removeprefix("nodes[0].").removeprefix("nodes.0.")
        raise InvalidInput(
            f"the solver cannot use this inventory: {getattr(e, 'reason', e)}",
            field=f"node.{field}" if field else "node",
        ) from e
