"""Placement: which node and runtime each ready task gets, asked of the solver in one batch.

The engine hands the tasks that became ready together to a `Placer`. `SolverPlacer` turns each
task's `model` (Contract 1) into a request, calls `solver.select_batch` with the inventory, and
reads back Contract 3 choices; a task's own `runtime:` pins then override or extend the chosen
runtime (this is how a flow names the exact store build, e.g. `pytorch: 2.13.0+cpu`). Tasks without
a model are not sent to the solver: they run in the runner's own environment.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workflow.errors import PlacementError
from workflow.flow import Task
from workflow.store.layout import RuntimeStore

__all__ = ["Placement", "Placer", "SolverPlacer", "local_inventory"]


@dataclass(frozen=True)
class Placement:
    """Where a task runs and with which runtime; `error` is set when it cannot run anywhere."""

    task: str
    node: str | None = None
    cluster: str | None = None
    gpu: Mapping[str, Any] | None = None
    runtime: Mapping[str, str] = field(default_factory=dict)
    explanation: tuple[str, ...] = ()
    error: str | None = None

    @property
    def gpu_count(self) -> int:
        return int((self.gpu or {}).get("count") or 0)


class Placer(Protocol):
    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]: ...


def local_inventory(store: RuntimeStore | None = None) -> dict[str, Any]:
    """This machine as a Contract 2 inventory: CPU only, with the store's components cached."""
    cached = [c.ref for c in store.list()] if store is not None else []
    return {
        "nodes": [
            {
                "name": socket.gethostname() or "localhost",
                "arch": {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine()),
                "driver_version": None,
                "gpus": [],
                "cached_components": cached,
            }
        ]
    }


def _conflict_text(placement: Mapping[str, Any]) -> str:
    parts = [str(c.get("message") or c.get("rule")) for c in placement.get("conflicts") or []]
    suggestions = [str(s) for s in placement.get("suggestions") or []]
    text = "; ".join(parts) or "infeasible"
    return text + (" (suggestions: " + "; ".join(suggestions) + ")" if suggestions else "")


class SolverPlacer:
    """Places tasks with `solver.select_batch` over a catalog and an inventory.

    `request_defaults` fill Contract 1 fields a task's model leaves out (the local backend pins
    `python` to the interpreter it runs tasks with). `inventory=None` means hardware-planning mode
    (no node is chosen), which `flow export` uses without an inventory.
    """

    def __init__(
        self,
        *,
        inventory: Mapping[str, Any] | None,
        catalog: Any = None,
        catalog_path: str | os.PathLike[str] | None = None,
        request_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            import solver
        except ImportError as e:
            raise PlacementError("the solver package is not installed") from e
        if not hasattr(solver, "select_batch"):
            raise PlacementError("solver.select_batch is not available in this installation")
        self._solver = solver
        if catalog is None:
            from catalog import load_catalog

            catalog = load_catalog(catalog_path)
        self.catalog = catalog
        self.inventory = solver.parse_inventory(dict(inventory)) if inventory is not None else None
        self.request_defaults = dict(request_defaults or {})

    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        out: dict[str, Placement] = {}
        modelled: list[Task] = []
        for t in tasks:
            if t.model is None:
                out[t.name] = Placement(t.name, runtime=dict(t.runtime), explanation=("no model: runner environment",))
            else:
                modelled.append(t)
        if not modelled:
            return out
        requests = [self._solver.parse_request({**self.request_defaults, **dict(t.model or {})}) for t in modelled]
        batch = self._solver.select_batch(self.catalog, requests, self.inventory).to_dict()
        for t, p in zip(modelled, batch.get("placements") or [], strict=True):
            if not p.get("feasible"):
                out[t.name] = Placement(t.name, error=_conflict_text(p))
                continue
            choice = p.get("choice") or {}
            runtime = {str(k): str(v) for k, v in (choice.get("runtime") or {}).items()} | dict(t.runtime)
            out[t.name] = Placement(
                t.name,
                node=choice.get("node"),
                cluster=choice.get("cluster"),
                gpu=choice.get("gpu"),
                runtime=runtime,
                explanation=tuple(str(x) for x in p.get("explanation") or ()),
            )
        return out
