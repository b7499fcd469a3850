"""Selection over HTTP: the live inventory + active catalog -> the solver -> Contract 3 answers.

Three steps per request, none on the event loop: (1) in the thread pool, resolve the model,
sweep stale nodes, read the catalog and inventory revisions and look in the cache; (2) on a
miss, run the solver in a thread bounded by `solver_threads`; (3) write the audit row. The cache
key is (canonical request JSON, top, where, plan, catalog revision, inventory revision), so an
answer is reused only while neither the catalog nor the live inventory has changed.

The solver's derived state is owned here, per revision: one `CatalogIndex` for the active
catalog and one `FleetIndex` for the live inventory revision under it, shared by every thread,
built by one builder thread before it is swapped in (`_IndexBuilder`), so no request builds one;
the same thread warms the catalog index for every target of the live fleet ahead of selections.
A new revision gets new indexes and the old ones are dropped (nothing else keeps them); a
`where` scope is a view of the whole fleet's index (its nodes, already parsed and resolved).
A cache hit costs a dictionary look-up: the revisions come from memory (`revision_watch.py`:
read again only when something may have changed), so a hit is answered on the event loop without
the thread pool (`_prepare_hit`); its answer's JSON body is kept with it (`_Answer`), and its audit
row is queued (`audit_writer.py`).
"""

from __future__ import annotations

import gc
import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool

from .audit_writer import AuditWriter
from .auth import Principal
from .catalog_state import CatalogHolder
from .db import Database
from .errors import InvalidInput, NotReady
from .metrics import Metrics
from .revision_watch import RevisionWatch, Unavailable
from .schemas import BatchSelectCreate, SelectCreate, Where
from .storage import models as model_store
from .storage import nodes as node_store
from .storage import selections as audit_store
from .storage.revisions import Revisions, read_revisions
from .usability import UsabilityCheck

__all__ = ["SelectionService", "apply_where", "render_answer", "sweep_inventory"]

log = logging.getLogger("metadata_service")


def _solver(*, batch: bool = False) -> Any:
    try:
        import solver
        import solver.errors  # noqa: F401
    except ImportError as e:
        raise NotReady("the solver package is not installed in this build") from e
    for name in ("parse_request", "parse_inventory", "select_batch" if batch else "select"):
        if not hasattr(solver, name):
            raise NotReady(f"the solver package does not provide '{name}' yet")
    return solver


def sweep_inventory(db: Database, *, now: float, ttl_s: float) -> None:
    """Mark nodes that went stale unavailable (a read first; the write lock only if needed)."""
    with db.read_session() as session:
        pending = node_store.stale_pending(session, now=now, ttl_s=ttl_s)
    if pending:
        with db.write_session() as session:
            node_store.sweep_stale(session, now=now, ttl_s=ttl_s)


def apply_where(entries: list[dict[str, Any]], where: Where | None) -> list[dict[str, Any]]:
    """The entries a `where` filter allows (cluster equality, label subset, node names)."""
    if where is None:
        return entries
    names = set(where.nodes) if where.nodes is not None else None
    out = []
    for e in entries:
        if where.cluster is not None and e.get("cluster") != where.cluster:
            continue
        labels = e.get("labels") or {}
        if any(labels.get(k) != v for k, v in where.labels.items()):
            continue
        if names is not None and e["name"] not in names:
            continue
        out.append(e)
    return out


render_answer = audit_store.render_answer   # an answer's JSON body, as the route sends it


@dataclass(frozen=True)
class _Answer:
    """One answer as the cache keeps it: the object, its JSON body (rendered once) and the hash of
    that body (`storage.selections.body_digest`, what the audit rows name)."""

    answer: dict[str, Any]
    hash: str
    body: bytes
    feasible: bool

    @classmethod
    def of(cls, answer: dict[str, Any]) -> _Answer:
        body = render_answer(answer)
        return cls(answer, audit_store.body_digest(body), body, bool(answer.get("feasible")))


@dataclass
class _Prepared:
    kind: str
    key: str
    audit_request: dict[str, Any]
    catalog_revision: str
    inventory_revision: int
    hit: _Answer | None                    # a cache hit
    catalog: Any = None
    state: _Indexes | None = None          # the indexes (and their revisions) a miss is solved on
    entries: list[dict[str, Any]] | None = None
    whole_fleet: bool = False  # no `where`: the fleet index of this revision is used as is
    where: Where | None = None
    requests: list[dict[str, Any]] | None = None
    top: int = 1
    plan: bool = False
    install: bool = False
    quotas: dict[str, int] | None = None    # batch: per cluster, the most GPUs the batch may use
    why_not: str | None = None  # judge every rule for this node (solver.explain.whynot) instead of selecting


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: Any) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)


class _Indexes:
    """The solver state of one (catalog, inventory revision), built whole before it is used and
    never changed after (but for the memo tables the solver fills, which are insert-only).

    Built by the index builder (`_IndexBuilder`), off the request path: the catalog's index (kept
    when only the inventory changed), the usable entries of that inventory revision, the whole
    fleet's index, warmed, and the selections recently asked replayed on it (so the per-framework
    tables are there too). A `where` scope is a view of the fleet's index (`FleetIndex.scoped`:
    the fleet's groups restricted, its runtime index derived, nothing rebuilt), kept per node set
    (`SCOPES`).
    """

    def __init__(self, catalog: Any, index: Any, inventory_revision: int, entries: list[dict[str, Any]],
                 fleet: Any) -> None:
        self.catalog = catalog
        self.index = index                          # solver CatalogIndex of `catalog`
        self.inventory_revision = inventory_revision
        self.entries = entries                      # the usable live entries of that revision
        self.fleet = fleet                          # solver FleetIndex of those entries
        self.scopes = _Lru(SCOPES)                  # `where` node sets -> their fleet views
        self.where = _WhereIndex(entries)

    def scoped(self, where: Where) -> Any:
        """The fleet view of a `where` scope, made once per node set and reused."""
        names = self.where.names(where)
        key = "\n".join(sorted(names))
        found = self.scopes.get(key)
        if found is None:
            found = self.fleet.scoped(names)
            self.scopes.put(key, found)
        return found


SCOPES = 1024   # distinct `where` scopes whose fleet views are kept per revision (about 20 KiB each at
                # 100 nodes: a fleet of a few hundred clusters asked in turn stays in the cache; 64 missed
                # every time when 100 clusters were asked round-robin)


class _WhereIndex:
    """One revision's usable entries by cluster and by label, so a `where` costs what it selects
    (`apply_where`'s rules: cluster equality, label subset, node names; the entries' order)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.by_cluster: dict[Any, list[int]] = {}
        self.by_label: dict[tuple[str, Any], list[int]] = {}
        self.position: dict[str, int] = {}
        for i, e in enumerate(entries):
            self.by_cluster.setdefault(e.get("cluster"), []).append(i)
            for k, v in (e.get("labels") or {}).items():
                self.by_label.setdefault((k, v), []).append(i)
            self.position[e["name"]] = i

    def names(self, where: Where) -> list[str]:
        picks: list[set[int] | list[int]] = []
        if where.cluster is not None:
            picks.append(self.by_cluster.get(where.cluster, []))
        picks += [self.by_label.get((k, v), []) for k, v in where.labels.items()]
        if where.nodes is not None:
            picks.append([self.position[n] for n in where.nodes if n in self.position])
        if not picks:
            return [e["name"] for e in self.entries]
        picks.sort(key=len)
        chosen = set(picks[0])
        for other in picks[1:]:
            chosen.intersection_update(other)
        return [self.entries[i]["name"] for i in sorted(chosen)]


class _IndexBuilder:
    """The one thread of a process that builds the next `_Indexes` and swaps it in.

    It builds when a selection asks for revisions the active indexes do not cover (`indexes_for`),
    and on its own when it sees (polling the revisions every `poll_s`, one statement) that the
    catalog or the inventory revision changed and then stayed the same for one more poll, as long
    as selections were asked within `IDLE_S`: so in a worker that serves selections the next index
    is usually ready before the next selection comes after a burst of registrations or a catalog
    upload, and a worker nobody selects from spends nothing on speculation (a build of a
    10,000-node fleet costs it about a second of CPU, more with replays, taken from its heartbeats). A build reads the revisions and the live entries in one read session (sweeping
    stale nodes first), parses and warms the fleet's index (reusing the catalog's index when only the
    inventory changed), replays the selections recently asked so their per-framework tables exist,
    and only then makes it active; the previous indexes are dropped then.

    The catalog-level tables (`solver.CatalogIndex.warm`: the candidate tables of every framework
    family and their pair-rule and verdict tables on each target of the live fleet) are warmed by
    this thread too, asked or not, so no selection pays for them (`_warm`): at worker start, on a
    new catalog and when the inventory brings targets not warm yet, once the revisions stayed the
    same for one poll; only one entry per new target key is parsed, one small selection per
    framework family and `WARM_CHUNK` targets is run, the thread pauses `warm_pause`
    (`RTFIT_SELECT_WARM_PAUSE`) times each chunk's CPU after it (heartbeats keep their share) and
    stops when a selection asks for a build (resumed on a later poll); `RTFIT_SELECT_WARM=false`
    turns it off. The catalog index is kept here (`catalog_index`) and builds reuse it.

    A selection whose revisions the active indexes do not cover either waits for the build
    (`lag` 0: the default; the answer is for the revisions it read, or newer) or, when `lag` > 0,
    is answered at once from the active indexes and their revisions as long as the inventory moved
    by at most `lag` revisions since them (a catalog swap always: the previous catalog's answers
    stay until the next catalog's index is built), recorded as such in the cache key and the audit.
    """

    def __init__(self, service: SelectionService, *, lag: int, poll_s: float, warm: bool = True,
                 warm_pause: float = 4.0) -> None:
        self._service = service
        self._warm_on = warm                # RTFIT_SELECT_WARM
        self._warm_pause = warm_pause       # RTFIT_SELECT_WARM_PAUSE
        self._lag = lag
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self.active: _Indexes | None = None
        self._requested = 0                 # build requests so far
        self._done = 0                      # the request count the last finished build covered
        self._building: tuple[Any, int] | None = None   # (catalog, inventory revision) being built
        self._error: tuple[int, BaseException] | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.asked = float("-inf")      # when a selection last needed indexes (monotonic)
        self.builds = 0
        self.last_build_cpu_s = 0.0     # process CPU during the last build (other threads' too)
        self.recent: OrderedDict[str, dict[str, Any]] = OrderedDict()   # requests to replay on a new index
        self._recent_lock = threading.Lock()
        self.catalog_index: Any = None  # the solver CatalogIndex of the newest catalog seen (builds reuse it)
        self.warmed: tuple[str, int] | None = None   # (catalog, inventory revision) whose targets are warm
        self.warm_cpu_s = 0.0           # this thread's CPU spent warming so far
        self.warm_s = 0.0               # ... and the wall time
        self._warm_keys: set[Any] = set()   # target keys (`_target_key`) of entries warmed on `catalog_index`

    def start(self) -> None:
        """Start the builder thread, or start it again after `close` (an app's lifespan can end and
        begin again on the same service, and requests can come without one): a closed builder
        that stayed closed would leave every selection waiting for a build nobody makes."""
        with self._cond:
            self._closed = False
            if self._thread is None:   # the thread clears it, under this lock, when it ends
                self._thread = threading.Thread(target=self._run, name="rtfit-index", daemon=True)
                self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the builder thread and wait (up to `timeout`) until it has ended: a warm-up stops
        at its next chunk, and nothing it does lands after the app that owns it has shut down."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def remember(self, model: dict[str, Any]) -> None:
        key = json.dumps(model, sort_keys=True, separators=(",", ":"), default=str)
        with self._recent_lock:
            self.recent[key] = model
            self.recent.move_to_end(key)
            while len(self.recent) > REPLAY:
                self.recent.popitem(last=False)

    @staticmethod
    def _covers(state: Any, catalog: Any, revision: int) -> bool:
        return state is not None and state[0] is catalog and state[1] >= revision

    def indexes_for(self, catalog: Any, revision: int, *, timeout: float = 120.0) -> _Indexes:
        """Indexes to answer a selection that read (`catalog`, `revision`): see the class docstring."""
        self.asked = time.monotonic()
        self.start()
        with self._cond:
            active = self.active
            if active is not None and self._covers((active.catalog, active.inventory_revision), catalog, revision):
                return active
            if self._covers(self._building, catalog, revision):
                ticket = self._requested
            else:
                self._requested += 1
                ticket = self._requested
                self._cond.notify_all()
            if active is not None and self._lag > 0 and (
                    active.catalog is not catalog or revision - active.inventory_revision <= self._lag):
                return active
            deadline = time.monotonic() + timeout
            while True:
                active = self.active
                if active is not None and self._covers((active.catalog, active.inventory_revision), catalog, revision):
                    return active
                if self._done >= ticket:
                    if self._error is not None and self._error[0] >= ticket:
                        raise self._error[1]
                    if active is not None:
                        return active     # built after this request: the revisions then, newer than it read
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NotReady("the selection index is still being built; try again")
                self._cond.wait(left)

    def _run(self) -> None:
        seen: tuple[str | None, int] | None = None
        settled: tuple[str | None, int] | None = None
        while True:
            with self._cond:
                if self._requested == self._done and not self._closed:
                    self._cond.wait(self._poll_s)
                if self._closed:
                    self._thread = None   # under the lock: a later `start` starts a new thread
                    return
                ticket = self._requested
            if ticket > self._done:
                self._build(ticket)
                continue
            try:    # nobody asked: has the catalog or the inventory changed, and then settled?
                now = self._service._clock()
                with self._service._db.read_session() as session:
                    revisions = read_revisions(session, stale_before=now - self._service._ttl_s)
            except Exception:  # noqa: BLE001 - the database is down: a request will say so
                continue
            key = (revisions.catalog, revisions.inventory)
            if self._warm_on and revisions.catalog is not None and self.warmed != key and key == settled:
                self._warm(key)   # catalog-level tables of new targets (or of a new catalog), asked or not
            settled = key
            if time.monotonic() - self.asked > IDLE_S:
                seen = None   # nobody selects here lately: no build on speculation (it would slow the
                continue      # heartbeats this worker serves); the next selection asks for one
            active = self.active
            if active is not None and (active.catalog.revision, active.inventory_revision) == key:
                seen = key
                continue
            if key == seen and revisions.catalog is not None:
                with self._cond:
                    self._requested += 1
                    ticket = self._requested
                self._build(ticket)
            seen = key

    def _build(self, ticket: int) -> None:
        service = self._service
        started = time.process_time()
        try:
            solver = _solver()
            now = service._clock()
            sweep_inventory(service._db, now=now, ttl_s=service._ttl_s)
            with service._db.read_session() as session:
                revisions = read_revisions(session, stale_before=now - service._ttl_s)
                catalog = service._holder.for_revision(revisions.catalog, session)
                entries = node_store.live_entries(session)
                again = read_revisions(session, stale_before=now - service._ttl_s)
            if again.inventory != revisions.inventory or again.catalog != revisions.catalog:
                with self._cond:   # read while it changed (PostgreSQL reads each statement afresh): again
                    self._requested += 1
                return
            with self._cond:
                self._building = (catalog, revisions.inventory)
            usable, _excluded = service._usability.split(entries, catalog)
            index = self._catalog_index(solver, catalog)
            fleet = solver.FleetIndex(index, solver.parse_inventory({"nodes": usable})).warm()
            with self._recent_lock:
                replay = list(self.recent.values())
            for model in replay:   # the per-framework tables of what was asked recently
                try:
                    solver.select(catalog, solver.parse_request(model), fleet.inventory, top=1, index=fleet)
                except Exception:  # noqa: BLE001, S112 - a warm-up only; the request itself will say
                    continue
            built = _Indexes(catalog, index, revisions.inventory, usable, fleet)
            with self._cond:
                current = self.active
                if current is None or current.catalog is not catalog or \
                        current.inventory_revision <= revisions.inventory:
                    self.active = built          # the previous indexes are dropped here
                self.builds += 1
                self.last_build_cpu_s = time.process_time() - started
                self._done = max(self._done, ticket)
                self._building = None
                self._cond.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to the requests waiting for this build
            log.warning("selection index build failed: %s: %s", e.__class__.__name__, e)
            with self._cond:
                self._error = (ticket, e)
                self._done = max(self._done, ticket)
                self._building = None
                self._cond.notify_all()

    def _catalog_index(self, solver: Any, catalog: Any) -> Any:
        """The CatalogIndex of `catalog`: the one kept (warm) if it is this catalog's, else a new one."""
        index = self.catalog_index
        if index is None or index.catalog is not catalog:
            active = self.active
            index = active.index if active is not None and active.catalog is catalog else solver.CatalogIndex(catalog)
            self.catalog_index = index
            self._warm_keys = set()
        return index

    def _warm(self, key: tuple[str | None, int]) -> None:
        """Warm the catalog index of the current catalog for the targets of the live inventory it
        has not warmed yet (`CatalogIndex.warm`: one small selection per framework family and
        `WARM_CHUNK` targets, paced by `RTFIT_SELECT_WARM_PAUSE`); stops early, to be resumed on a later poll,
        when a selection asks for a build or the builder closes. The live entries are read whole,
        but only one entry per distinct target key (`_target_key`) not seen before is parsed.
        `key`: the revisions the poll read (marked done if the warm-up fails, not retried)."""
        service = self._service
        cpu, wall = time.thread_time(), time.monotonic()
        try:
            now = service._clock()
            with service._db.read_session() as session:
                revisions = read_revisions(session, stale_before=now - service._ttl_s)
                if revisions.catalog is None:
                    return
                catalog = service._holder.for_revision(revisions.catalog, session)
                entries = node_store.live_entries(session)
        except Exception:  # noqa: BLE001 - the database is down: tried again on the next poll
            return
        try:
            solver = _solver()
            index = self._catalog_index(solver, catalog)
            fresh: dict[Any, dict[str, Any]] = {}
            for e in entries:
                k = _target_key(e)
                if k not in self._warm_keys and k not in fresh:
                    fresh[k] = e
            usable, _excluded = service._usability.split(fresh.values(), catalog)
            inventory = solver.parse_inventory({"nodes": usable})
            stopped = False
            last = time.thread_time()

            def stop() -> bool:   # asked between chunks: pace (`warm_pause`), then stop if asked or closed
                nonlocal stopped, last
                pause = (time.thread_time() - last) * self._warm_pause
                with self._cond:
                    if pause > 0 and not (self._closed or self._requested > self._done):
                        self._cond.wait(pause)   # woken early by a build request or `close`
                    stopped = stopped or self._closed or self._requested > self._done
                last = time.thread_time()
                return stopped

            with _background_work():
                warmed = index.warm(inventory, strict=service._strict, stop=stop)
            if warmed:
                log.info("selection index warm-up: %d new node kinds, %d frameworks warmed%s, %.2f s CPU, %.2f s",
                         len(fresh), len(warmed), " (stopped: a selection asked)" if stopped else "",
                         time.thread_time() - cpu, time.monotonic() - wall)
            if stopped:
                return    # some may be left: done on a later poll (the progress is kept)
            self._warm_keys.update(fresh)
            self.warmed = (revisions.catalog, revisions.inventory)
        except Exception as e:  # noqa: BLE001 - a warm-up only; a selection will say what is wrong
            log.warning("selection index warm-up failed: %s: %s", e.__class__.__name__, e)
            self.warmed = key   # not again until the revisions change
        finally:
            self.warm_cpu_s += time.thread_time() - cpu
            self.warm_s += time.monotonic() - wall


@contextmanager
def _background_work() -> Iterator[None]:
    """Run a long build on this thread without stalling the event loop's heartbeats.

    A warm-up creates a few hundred thousand long-lived table entries. With the collector on, they
    set off full collections of the whole heap while it runs, each holding the GIL 200-250 ms
    (measured during a warm-up of 16 targets: two such pauses); every heartbeat arriving then
    waits. So the collector is off while it runs (it is on again after, on its usual schedule),
    and the thread switch interval is lowered from 5 ms to `WARM_SWITCH_S` so the event loop
    waits less for the GIL on each hop while this thread computes. Nothing is frozen: a frozen
    heap kept dropped catalogs alive (cycles in the permanent generation are never collected).
    """
    switch = sys.getswitchinterval()
    enabled = gc.isenabled()
    gc.disable()
    sys.setswitchinterval(min(switch, WARM_SWITCH_S))
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        if enabled:
            gc.enable()


def _target_key(entry: dict[str, Any]) -> Any:
    """What of a live entry can decide its targets (GPU products, platform, drivers): all but its
    name, cluster, labels, cached components and GPU counts; entries alike here have the same targets."""
    gpus = tuple(tuple(sorted((k, v) for k, v in g.items() if k not in ("count", "free")))
                 for g in entry.get("gpus") or ())
    key = (tuple(sorted((k, v) for k, v in entry.items() if k not in _NOT_TARGET)), gpus)
    try:
        hash(key)
    except TypeError:    # a value that is not a plain scalar: its JSON text
        return json.dumps(key, sort_keys=True, default=str)
    return key


_NOT_TARGET = frozenset(("name", "cluster", "labels", "cached_components", "gpus"))


REPLAY = 8   # distinct recent requests replayed on a new index (their per-framework tables)
IDLE_S = 60.0   # the builder builds on its own only while selections were asked this recently
WARM_SWITCH_S = 0.0005   # the interpreter's thread switch interval while a warm-up runs (default 5 ms): a
                         # heartbeat on the event loop waits for the GIL at most this long per hop


class SelectionService:
    def __init__(
        self,
        db: Database,
        *,
        holder: CatalogHolder,
        metrics: Metrics,
        clock: Callable[[], float],
        ttl_s: float,
        cache_size: int,
        solver_threads: int,
        usability: UsabilityCheck | None = None,
        strict: bool = False,
        index_lag: int = 0,
        index_poll_s: float = 0.5,
        warm: bool = True,
        warm_pause: float = 4.0,
    ) -> None:
        self._strict = strict  # RTFIT_STRICT_SELECTION: every request as if it said `strict: true`
        self._db = db
        self._holder = holder
        self._metrics = metrics
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache = _Lru(cache_size)
        self._solver_threads = solver_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._usability = usability or UsabilityCheck()
        self._builder = _IndexBuilder(self, lag=index_lag, poll_s=index_poll_s, warm=warm, warm_pause=warm_pause)
        self._audits = AuditWriter(db)
        self._watch = RevisionWatch(db, ttl_s=ttl_s)   # the revisions, read again only after a change

    # -- public ------------------------------------------------------------------------------
    async def select(self, body: SelectCreate, principal: Principal) -> dict[str, Any]:
        prepared = self._prepare_hit(body) or await run_in_threadpool(self._prepare_single, body)
        return (await self._finish(prepared, principal)).answer

    async def select_json(self, body: SelectCreate, principal: Principal) -> bytes:
        """The answer as the route's JSON body (the selection lane): rendered once per answer."""
        prepared = self._prepare_hit(body) or await run_in_threadpool(self._prepare_single, body)
        return (await self._finish(prepared, principal)).body

    async def select_batch(self, body: BatchSelectCreate, principal: Principal) -> dict[str, Any]:
        prepared = await run_in_threadpool(self._prepare_batch, body)
        return (await self._finish(prepared, principal)).answer

    def flush_audits(self, timeout: float = 30.0) -> bool:
        """Wait until the audit rows of the selections answered so far are written."""
        return self._audits.flush(timeout)

    def start(self) -> None:
        """Start the index builder (it builds the first indexes before the first selection asks)."""
        self._builder.start()

    def close(self) -> None:
        self._builder.close()
        self._audits.close()
        self._watch.close()

    # -- steps -------------------------------------------------------------------------------
    async def _finish(self, prepared: _Prepared, principal: Principal) -> _Answer:
        hit = prepared.hit
        seconds = 0.0
        if hit is None:
            if self._limiter is None:
                self._limiter = anyio.CapacityLimiter(self._solver_threads)
            hit, seconds = await anyio.to_thread.run_sync(self._solve, prepared, limiter=self._limiter)
            self._metrics.solver_seconds.labels(prepared.kind).observe(seconds)
            cached = False
        else:
            cached = True
        self._metrics.selections.labels(
            prepared.kind, "feasible" if hit.feasible else "infeasible", "hit" if cached else "miss"
        ).inc()
        if not self._audit(prepared, hit, principal, cached, seconds):
            await run_in_threadpool(self._audits.wait_room)
        if not cached:   # after its audit row was queued: a hit's row is written after the answer it names
            self._cache.put(prepared.key, hit)
        return hit

    def _strict_model(self, model: Any) -> Any:
        if self._strict and isinstance(model, dict):
            return {**model, "strict": True}
        return model

    @staticmethod
    def _single_key(body: SelectCreate, model: Any) -> dict[str, Any]:
        request_key = {"model": model, "top": body.top, "where": _where_dict(body.where), "plan": body.plan}
        if body.install:
            request_key["install"] = True
        if body.why_not is not None:
            request_key["why_not"] = body.why_not
        return request_key

    def _prepare_hit(self, body: SelectCreate) -> _Prepared | None:
        """On the event loop, without blocking: the cached answer when the revisions in memory are
        good (`RevisionWatch.peek`), the catalog of that revision is loaded and the request names
        its model inline (a `model_name` is looked up in the database); None: the thread pool's way."""
        if body.model is None:
            return None
        revisions = self._watch.peek(self._clock())
        catalog = None if revisions is None else self._holder.in_memory(revisions.catalog)
        if revisions is None or catalog is None:
            return None
        request_key = self._single_key(body, self._strict_model(body.model))
        canonical = json.dumps(request_key, sort_keys=True, separators=(",", ":"), default=str)
        prepared = self._keyed("single", request_key, canonical, catalog.revision, revisions.inventory)
        return prepared if prepared.hit is not None else None

    def _prepare_single(self, body: SelectCreate) -> _Prepared:
        solver = _solver()
        InvalidRequest = solver.errors.InvalidRequest  # noqa: N806
        model = self._strict_model(self._resolve(body.model, body.model_name, field="model_name"))
        request_key = self._single_key(body, model)
        prepared = self._prepare("single", request_key)
        if prepared.hit is None:
            try:
                solver.parse_request(model)
            except InvalidRequest as e:
                raise _invalid_request(e, prefix="model" if body.model is not None else "model_name") from e
            prepared.requests = [model]
            prepared.top = body.top
            prepared.plan = body.plan
            prepared.install = body.install
            prepared.whole_fleet = body.where is None
            prepared.where = body.where
            if body.why_not is not None:
                if body.plan:
                    raise InvalidInput("why_not names a node; it cannot be combined with plan", field="why_not")
                scope = apply_where(prepared.entries or [], body.where)
                if not any(e.get("name") == body.why_not for e in scope):
                    raise InvalidInput(f"no live node named '{body.why_not}' (see GET /v1/nodes)", field="why_not")
                prepared.why_not = body.why_not
        return prepared

    def _prepare_batch(self, body: BatchSelectCreate) -> _Prepared:
        solver = _solver(batch=True)
        InvalidRequest = solver.errors.InvalidRequest  # noqa: N806
        models = []
        for i, item in enumerate(body.models):
            if set(item) == {"model_name"}:
                models.append(self._resolve(None, item["model_name"], field=f"models[{i}].model_name"))
            else:
                models.append(item)
        models = [self._strict_model(m) for m in models]
        request_key: dict[str, Any] = {"models": models, "where": _where_dict(body.where)}
        if body.quotas is not None:     # absent from the key (and the audit) when not given: old keys stay
            request_key["quotas"] = dict(sorted(body.quotas.items()))
        prepared = self._prepare("batch", request_key)
        if prepared.hit is None:
            for i, model in enumerate(models):
                try:
                    solver.parse_request(model)
                except InvalidRequest as e:
                    raise _invalid_request(e, prefix=f"models[{i}]") from e
            prepared.requests = models
            prepared.quotas = body.quotas
            prepared.whole_fleet = body.where is None
            prepared.where = body.where
        return prepared

    def _resolve(self, model: dict[str, Any] | None, name: str | None, *, field: str) -> dict[str, Any]:
        if model is not None:
            return model
        assert name is not None
        with self._db.read_session() as session:
            try:
                return dict(model_store.get_model(session, name=name).request)
            except Exception as e:
                raise InvalidInput(f"no registered model named '{name}' (see GET /v1/models)", field=field) from e

    def _prepare(self, kind: str, request_key: dict[str, Any]) -> _Prepared:
        now = self._clock()
        swept = False
        while True:   # the revisions (kept by the watch, or one statement), stale nodes swept first
            try:
                revisions = self._watch.read(now)
            except Unavailable:   # no watch, or its connection is lost: one read session, as before
                with self._db.read_session() as session:
                    revisions = read_revisions(session, stale_before=now - self._ttl_s)
                    if swept or not revisions.stale_pending:
                        return self._prepare_in(session, kind, request_key, revisions)
            else:
                if swept or not revisions.stale_pending:
                    return self._prepare_in(None, kind, request_key, revisions)
            with self._db.write_session() as write:   # then a fresh snapshot (SQLite reads are snapshots)
                node_store.sweep_stale(write, now=now, ttl_s=self._ttl_s)
            swept = True

    def _prepare_in(self, session: Any, kind: str, request_key: dict[str, Any], revisions: Revisions) -> _Prepared:
        """The cached answer if any, else the indexes to solve on (see `_IndexBuilder`); `session`:
        an open read session, or None (the catalog, when not in memory, is read in one of its own)."""
        catalog = self._holder.for_revision(revisions.catalog, session)
        canonical = json.dumps(request_key, sort_keys=True, separators=(",", ":"), default=str)
        prepared = self._keyed(kind, request_key, canonical, catalog.revision, revisions.inventory)
        if prepared.hit is not None:
            return prepared
        state = self._builder.indexes_for(catalog, revisions.inventory)
        if state.catalog is not catalog or state.inventory_revision != revisions.inventory:
            # answered for the revisions of the indexes at hand (newer, or older within the lag)
            prepared = self._keyed(kind, request_key, canonical, state.catalog.revision, state.inventory_revision)
            if prepared.hit is not None:
                return prepared
        prepared.state = state
        prepared.catalog = state.catalog
        prepared.entries = state.entries
        return prepared

    def _keyed(self, kind: str, request_key: dict[str, Any], canonical: str, catalog_revision: str,
               inventory_revision: int) -> _Prepared:
        key = f"{kind}|{catalog_revision}|{inventory_revision}|{canonical}"
        return _Prepared(kind=kind, key=key, audit_request=request_key, catalog_revision=catalog_revision,
                         inventory_revision=inventory_revision, hit=self._cache.get(key))

    def _solve(self, prepared: _Prepared) -> tuple[_Answer, float]:
        """Solve, then hash and render the answer (in this worker thread, not on the event loop)."""
        answer, seconds = self._answer(prepared)
        return _Answer.of(answer), seconds

    def _answer(self, prepared: _Prepared) -> tuple[dict[str, Any], float]:
        solver = _solver(batch=prepared.kind == "batch")
        started = time.perf_counter()
        fleet = self._fleet(solver, prepared)
        requests = [solver.parse_request(m) for m in prepared.requests or []]
        if prepared.kind == "single" and prepared.why_not is not None:
            from solver.explain.whynot import why_not

            found = why_not(prepared.catalog, requests[0], fleet.inventory, prepared.why_not, fleet=fleet)
            answer = {"feasible": found["usable"], **found}
            return answer, time.perf_counter() - started
        if prepared.kind == "single":
            if prepared.plan:
                result = solver.select(prepared.catalog, requests[0], None, top=prepared.top, index=fleet.index)
            else:
                result = solver.select(prepared.catalog, requests[0], fleet.inventory, top=prepared.top, index=fleet)
                self._builder.remember((prepared.requests or [])[0])
        else:
            result = solver.select_batch(prepared.catalog, requests, fleet.inventory, index=fleet,
                                         quotas=prepared.quotas)
        answer = result.to_dict()
        if prepared.install:
            from solver.install import install_for_answer

            scope = apply_where(prepared.entries or [], prepared.where)
            arches = {e["name"]: str(e.get("arch") or "x86_64") for e in scope}
            answer["install"] = install_for_answer(prepared.catalog, requests[0].framework, answer, node_arch=arches,
                                                   request_arch=requests[0].arch)
        return answer, time.perf_counter() - started

    def _fleet(self, solver: Any, prepared: _Prepared) -> Any:
        """The fleet index to solve on: the whole fleet's of the prepared revisions, or the view of
        a `where` scope."""
        state = prepared.state
        if prepared.where is None:
            return state.fleet
        return state.scoped(prepared.where)

    def _audit(self, prepared: _Prepared, found: _Answer, principal: Principal, cached: bool, seconds: float) -> bool:
        """Queue the audit row (written by the audit writer, off the request path); False: the
        queue is full."""
        row = dict(
            created_at=self._clock(),
            principal=principal.name,
            kind=prepared.kind,
            request=prepared.audit_request,
            catalog_revision=prepared.catalog_revision,
            inventory_revision=prepared.inventory_revision,
            feasible=found.feasible,
            cached=cached,
            solve_seconds=seconds,
            answer_hash=found.hash,
        )
        return self._audits.add(row, None if cached else (found.hash, found.body))


def _where_dict(where: Where | None) -> dict[str, Any] | None:
    return None if where is None else where.model_dump(exclude_none=True)


def _invalid_request(e: Any, *, prefix: str) -> InvalidInput:
    field = str(getattr(e, "field", "") or "")
    path = f"{prefix}.{field}" if field else prefix
    return InvalidInput(f"{path}: {getattr(e, 'reason', e)}", field=path)
