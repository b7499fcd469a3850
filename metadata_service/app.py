"""`create_app(settings)`: builds the FastAPI application and the objects behind it.

At startup (lifespan) the schema is migrated to head and, if no catalog revision is stored yet,
the bundled catalog (or `RTFIT_CATALOG`) is stored as the first one. A clock can be injected so
tests can move time (node staleness) without sleeping.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from .auth import TokenStore
from .catalog_state import CatalogHolder
from .db import Database, init_db
from .deps import ServiceState
from .errors import ServiceError
from .heartbeat_lane import HeartbeatLane
from .heartbeats import HeartbeatService
from .metrics import Metrics
from .middleware import RequestMiddleware
from .openapi import install_openapi
from .problems import install_problem_handlers
from .routes import include_routes
from .schemas import HeartbeatCreate
from .select_lane import SelectLane
from .selection import SelectionService
from .settings import Settings
from .storage import nodes as node_store
from .ui import mount_ui
from .usability import UsabilityCheck

__all__ = ["create_app", "prepare"]

log = logging.getLogger("metadata_service")


def prepare(state: ServiceState) -> None:
    """Migrate the schema and make sure a catalog revision is stored (idempotent)."""
    init_db(state.db)
    state.holder.bootstrap(state.settings.catalog)
    state.heartbeats.warm()  # this worker's copy of the active catalog, before the first full heartbeat


def create_app(settings: Settings | None = None, *, clock: Callable[[], float] = time.time) -> FastAPI:
    settings = settings or Settings()
    if settings.production and settings.tokens_file is None:
        raise ServiceError("RTFIT_PRODUCTION is set but RTFIT_TOKENS_FILE is not: refusing to start without auth")
    if settings.production and os.environ.get("RTFIT_DEMO") == "1":
        raise ServiceError("RTFIT_PRODUCTION is set: refusing to start in --demo mode (demo tokens and nodes)")
    db = Database(settings.resolved_database_url())
    tokens = TokenStore(settings.tokens_file)
    if settings.production:
        weak = tokens.weak_entries()
        if weak:
            raise ServiceError(
                f"RTFIT_PRODUCTION is set: refusing to start with default/demo tokens ({', '.join(weak)}); "
                "make fresh ones with `rtfit token new`"
            )
    if not tokens.configured:
        log.warning("RTFIT_TOKENS_FILE is unset: every route except /healthz, /readyz and /metrics answers 401")

    def stale_nodes() -> int | None:
        try:
            with db.read_session() as session:
                return node_store.count_stale(session, now=clock(), ttl_s=settings.node_ttl_s)
        except Exception:  # a scrape must not fail because the database is down
            return None

    metrics = Metrics(stale_nodes=stale_nodes)
    holder = CatalogHolder(db, clock=clock)
    usability = UsabilityCheck()
    state = ServiceState(
        settings=settings,
        db=db,
        tokens=tokens,
        holder=holder,
        heartbeats=HeartbeatService(
            db,
            metrics=metrics,
            clock=clock,
            batch_s=settings.heartbeat_batch_ms / 1000,
            catalog=holder.current,
            usability=usability,
        ),
        selection=SelectionService(
            db,
            holder=holder,
            metrics=metrics,
            clock=clock,
            ttl_s=settings.node_ttl_s,
            cache_size=settings.select_cache_size,
            solver_threads=settings.solver_threads,
            usability=usability,
            strict=settings.strict_selection,
            index_lag=settings.select_index_lag,
            warm=settings.select_warm,
            warm_pause=settings.select_warm_pause,
        ),
        metrics=metrics,
        clock=clock,
        usability=usability,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(prepare, state)
        state.selection.start()   # the index builder: the first indexes are built before a selection asks
        # The catalog, its memo tables and the imported libraries live for the whole process:
        # move them out of the collector's generations so full collections stay short and do
        # not land as 50-100 ms pauses on whichever request triggers them.
        gc.collect()
        gc.freeze()
        log.info("rtfit metadata service ready on %s", db.dialect)
        renewer = None
        if os.environ.get("RTFIT_DEMO") == "1":
            from .demo import renew_demo_leases

            renewer = asyncio.create_task(renew_demo_leases(state))
        try:
            yield
        finally:
            if renewer is not None:
                renewer.cancel()
            await run_in_threadpool(state.selection.close)   # the queued audit rows are written
            await db.dispose_async()
            db.dispose()

    app = FastAPI(
        title="rtfit metadata service",
        version="1",
        description="Catalog revisions, model registry, node inventory, selection and flow runs (Contract 4).",
        lifespan=lifespan,
    )
    app.state.rtfit = state
    install_problem_handlers(app)
    include_routes(app)
    mount_ui(app)  # the web console under /ui (static assets shipped in the package)
    # every error status and its problem+json body, per operation; the heartbeat body (read by the route itself)
    install_openapi(app, models=[HeartbeatCreate])
    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        lane=HeartbeatLane(state) if settings.heartbeat_lane else None,
        tokens=tokens,
        select_lane=SelectLane(state) if settings.select_lane else None,
    )
    return app
