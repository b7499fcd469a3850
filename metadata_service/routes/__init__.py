"""HTTP routes, one module per resource; each handler validates, calls one service or storage
function and shapes the answer. Errors are raised, never built here (see `problems.py`)."""

from __future__ import annotations

from fastapi import FastAPI

from . import catalog, flows, health, models, nodes, select

__all__ = ["include_routes"]


def include_routes(app: FastAPI) -> None:
    for router in (
        health.router,
        catalog.router,
        models.router,
        nodes.router,
        nodes.inventory_router,
        select.router,
        flows.router,
    ):
        app.include_router(router)
