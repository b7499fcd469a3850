"""Placement: which node and runtime each task gets, for the whole flow before it starts.

Before a run starts, the engine asks the placer for a `FlowPlacement` (`plan_flow`): every task
with a `model` (Contract 1) is one stage of `solver.plan_flow`, which places the stages together
- a stage and the stages it depends on (which hand it their artifacts) prefer the same node, else
the same cluster; each stage's GPU needs are met on its node; stages that can run at the same time
share the nodes' free GPUs - and explains a stage no node can run before anything is launched.
The engine records each stage's planned node, runtime and reason (the console and `flow status`
show them) and launches each stage where the plan put it.

Without a plan (a placer that has none, or a task outside it) the tasks that became ready
together are placed in one `solver.select_batch`. Either way a task's own `runtime:` pins then
override or extend the chosen runtime (this is how a flow names the exact store build, e.g.
`pytorch: 2.13.0+cpu`). Tasks without a model are not sent to the solver: they run in the
runner's own environment.
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

__all__ = ["FlowPlacement", "Placement", "Placer", "SolverPlacer", "local_inventory", "model_stages"]


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
    why: str | None = None      # one line: where the flow plan put the task and why
    install: Mapping[str, Any] | None = None   # the answer's install recipe (stage commands, GPU scheduling)

    def stage_hints(self) -> dict[str, str]:
        """kind -> the exact `rtfit store stage` command of the install recipe."""
        rows = (self.install or {}).get("stage_components") or []
        return {str(r["kind"]): str(r["command"]) for r in rows if r.get("command")}

    @property
    def gpu_count(self) -> int:
        return int((self.gpu or {}).get("count") or 0)


@dataclass(frozen=True)
class FlowPlacement:
    """Where every model task of a flow goes (or why it cannot), decided before the flow starts."""

    placements: Mapping[str, Placement]
    co_located: int = 0          # dependency edges whose two tasks share a node
    same_cluster: int = 0        # ... a cluster but not a node
    edges: int = 0

    @property
    def feasible(self) -> bool:
        return all(p.error is None for p in self.placements.values())

    def lines(self) -> list[str]:
        """The plan for a console: one line per task, then its reasons."""
        out = [f"placement plan: {len(self.placements)} model task(s); {self.co_located} of {self.edges} "
               f"dependency edge(s) on one node, {self.same_cluster} more in one cluster"]
        for name, p in self.placements.items():
            if p.error is not None:
                out.append(f"  {name}: CANNOT BE PLACED - {p.error}")
                continue
            out.extend(f"  {x}" if i == 0 else f"      {x}" for i, x in enumerate(p.explanation))
        return out


class Placer(Protocol):
    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]: ...


def model_stages(flow_tasks: Sequence[Task]) -> list[tuple[Task, tuple[str, ...]]]:
    """The tasks with a model, each with the model tasks it depends on most closely (through
    tasks without a model): the edges along which artifacts travel between stages."""
    by_name = {t.name: t for t in flow_tasks}
    memo: dict[str, tuple[str, ...]] = {}

    def nearest(name: str) -> tuple[str, ...]:
        if name not in memo:
            memo[name] = ()
            found: list[str] = []
            for p in sorted(by_name[name].predecessors):
                for q in ((p,) if by_name[p].model is not None else nearest(p)):
                    if q not in found:
                        found.append(q)
            memo[name] = tuple(found)
        return memo[name]

    return [(t, nearest(t.name)) for t in flow_tasks if t.model is not None]


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


def _read_artifact(model: dict[str, Any]) -> dict[str, Any]:
    """A model whose `artifact:` is a path (made absolute by the flow parser) with the facts read from it,
    so a task without min_gpu_memory_gib is placed on a GPU its weights, KV cache and overhead fit."""
    if not isinstance(model.get("artifact"), str):
        return model
    from modelfile import resolve_request

    return resolve_request(model)


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
        self._planned: dict[str, Placement] = {}

    def _request(self, t: Task) -> Any:
        return self._solver.parse_request(_read_artifact({**self.request_defaults, **dict(t.model or {})}))

    def plan_flow(self, flow: Any) -> FlowPlacement | None:
        """Place every model task of `flow` together (see the module docstring); None: no model task."""
        stages = model_stages(flow.tasks)
        if not stages:
            return None
        requests: dict[str, Any] = {}
        out: dict[str, Placement] = {}
        for t, _ in list(stages):
            try:
                requests[t.name] = self._request(t)
            except (ValueError, OSError) as e:  # an unreadable artifact or a request it makes invalid
                out[t.name] = Placement(t.name, error=f"model: {e}")
        stages = [(t, tuple(a for a in after if a in requests)) for t, after in stages if t.name in requests]
        if not stages:
            self._planned = dict(out)
            return FlowPlacement(out)
        plan = self._solver.plan_flow(
            self.catalog, [self._solver.Stage(t.name, requests[t.name], after) for t, after in stages], self.inventory)
        for t, _ in stages:
            sp = plan.stages[t.name]
            if not sp.feasible or sp.choice is None:
                sel = sp.selection.to_dict() if sp.selection is not None else {}
                out[t.name] = Placement(t.name, error=_conflict_text(sel))
                continue
            choice = sp.choice.to_dict()
            runtime = {str(k): str(v) for k, v in (choice.get("runtime") or {}).items()} | dict(t.runtime)
            why = "; ".join(sp.why[1:2]) or None
            install = self._install(requests[t.name], {"feasible": True, "choice": {**choice, "runtime": runtime}})
            out[t.name] = Placement(t.name, node=choice.get("node"), cluster=choice.get("cluster"), gpu=choice.get("gpu"),
                                    runtime=runtime, explanation=tuple(sp.why), why=why, install=install)
        result = FlowPlacement(out, co_located=plan.co_located, same_cluster=plan.same_cluster, edges=plan.edges)
        self._planned = dict(out)
        return result

    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        out: dict[str, Placement] = {}
        modelled: list[Task] = []
        planned = self._planned
        for t in tasks:
            if t.model is None:
                out[t.name] = Placement(t.name, runtime=dict(t.runtime), explanation=("no model: runner environment",))
            elif t.name in planned:
                out[t.name] = planned[t.name]
            else:
                modelled.append(t)
        if not modelled:
            return out
        requests = []
        for t in list(modelled):
            try:
                requests.append(self._request(t))
            except (ValueError, OSError) as e:  # an unreadable artifact or a request it makes invalid
                out[t.name] = Placement(t.name, error=f"model: {e}")
                modelled.remove(t)
        if not modelled:
            return out
        batch = self._solver.select_batch(self.catalog, requests, self.inventory).to_dict()
        for t, request, p in zip(modelled, requests, batch.get("placements") or [], strict=True):
            if not p.get("feasible"):
                out[t.name] = Placement(t.name, error=_conflict_text(p))
                continue
            choice = p.get("choice") or {}
            runtime = {str(k): str(v) for k, v in (choice.get("runtime") or {}).items()} | dict(t.runtime)
            install = self._install(request, {**p, "choice": {**choice, "runtime": runtime}})
            out[t.name] = Placement(
                t.name,
                node=choice.get("node"),
                cluster=choice.get("cluster"),
                gpu=choice.get("gpu"),
                runtime=runtime,
                explanation=tuple(str(x) for x in p.get("explanation") or ()),
                install=install,
            )
        return out

    def _install(self, request: Any, answer: Mapping[str, Any]) -> Mapping[str, Any] | None:
        from solver.install import install_for_answer

        arches = {n.name: n.arch for n in self.inventory.nodes} if self.inventory is not None else None
        found = install_for_answer(self.catalog, request.framework, answer, node_arch=arches, request_arch=request.arch)
        return None if "unavailable" in found else found
