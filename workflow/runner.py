"""Wiring: from command-line choices to an Engine (backend, placer, store, state) or an export.

Kept apart from `cli.py` so tests and the benchmark build the same objects the CLI does.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from workflow.engine import Engine, Event
from workflow.errors import PlacementError, WorkflowError
from workflow.flow import Flow, Task
from workflow.placement import FlowPlacement, Placement, Placer, SolverPlacer, local_inventory
from workflow.state import SqliteStateStore
from workflow.store.layout import RuntimeStore

__all__ = ["LazySolverPlacer", "build_engine", "export_flow", "image_request_defaults", "local_request_defaults"]


def local_request_defaults() -> dict[str, str]:
    """The local backend runs composed tasks on this interpreter's series: ask the solver for it."""
    major, minor, _ = platform.python_version_tuple()
    return {"python": f"=={major}.{minor}.*"}


def image_request_defaults(base_python: str) -> dict[str, str]:
    """Container backends (kubernetes, the Argo export) compose tasks on the base image's Python
    (`KubeOptions.base_python`): ask the solver for that series unless a task's model names one,
    as the local backend asks for this interpreter's. Without it the solver chose the newest
    Python (3.15), which no base image or store provides, and the export failed to compose."""
    return {"python": f"=={base_python}.*"}


class LazySolverPlacer:
    """Builds the `SolverPlacer` on first need, so flows without models run with no solver at all.

    A solver that cannot be built turns into a placement error on each modelled task (the task
    Fails with the reason) instead of aborting the run.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._placer: Placer | None = None
        self._error: str | None = None

    def _build(self) -> Placer | None:
        if self._placer is None and self._error is None:
            try:
                self._placer = SolverPlacer(**self._kwargs)
            except (PlacementError, WorkflowError, ValueError) as e:
                self._error = str(e)
        return self._placer

    def plan_flow(self, flow: Any) -> FlowPlacement | None:
        """The whole-flow plan (None when the flow has no model task or no solver can be built:
        each modelled task then Fails with the reason when it is placed)."""
        if all(t.model is None for t in flow.tasks):
            return None
        placer = self._build()
        return placer.plan_flow(flow) if isinstance(placer, SolverPlacer) else None

    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        if all(t.model is None for t in tasks):
            return {t.name: Placement(t.name, runtime=dict(t.runtime), explanation=("no model: runner environment",))
                    for t in tasks}
        if self._build() is None:
            return {t.name: Placement(t.name, error=self._error) if t.model is not None
                    else Placement(t.name, runtime=dict(t.runtime), explanation=("no model: runner environment",))
                    for t in tasks}
        return self._placer.place(tasks)  # type: ignore[union-attr]


def build_engine(
    *,
    backend: str,
    store: RuntimeStore,
    state_dir: Path,
    parallel: int = 4,
    inventory: Mapping[str, Any] | None = None,
    catalog: str | os.PathLike[str] | None = None,
    server: str | None = None,
    namespace: str = "default",
    store_pvc: str = "rtfit-runtime-store",
    store_image_prefix: str | None = None,
    kubeconfig: str | None = None,
    on_event: Event | None = None,
    on_plan: Callable[[FlowPlacement], None] | None = None,
    api_client: Any = None,
) -> Engine:
    """An Engine for `backend` ('local' or 'kubernetes') as `rtfit flow run` builds it."""
    state: Any
    if server is not None:
        from workflow.remote import RemoteStateStore

        state = RemoteStateStore(server)
    else:
        state = SqliteStateStore(state_dir)
    if backend == "local":
        from workflow.backends.local import LocalBackend

        if inventory is not None:   # the plan would name nodes the tasks never run on
            raise WorkflowError("an inventory describes where the kubernetes backend runs tasks; the local "
                                "backend runs every task on this machine and places it there")
        be: Any = LocalBackend(state_dir=state_dir)
        placer = LazySolverPlacer(inventory=local_inventory(store), catalog_path=catalog,
                                  request_defaults=local_request_defaults())
    elif backend == "kubernetes":
        from workflow.backends.kube_objects import KubeOptions
        from workflow.backends.kubernetes import KubernetesBackend

        opts = KubeOptions(namespace=namespace, store_pvc=store_pvc, store_image_prefix=store_image_prefix)
        be = KubernetesBackend(opts, api_client=api_client, kubeconfig=kubeconfig)
        placer = LazySolverPlacer(inventory=inventory, catalog_path=catalog,
                                  request_defaults=image_request_defaults(opts.base_python))
    else:
        raise WorkflowError(f"unknown backend {backend!r} (local | kubernetes)")
    return Engine(backend=be, placer=placer, store=store, state=state, logs_root=Path(state_dir) / "runs",
                  parallel=parallel, on_event=on_event, on_plan=on_plan)


def export_flow(
    flow: Flow,
    *,
    store: RuntimeStore,
    inventory: Mapping[str, Any] | None = None,
    catalog: str | os.PathLike[str] | None = None,
    namespace: str = "default",
    store_pvc: str = "rtfit-runtime-store",
    store_image_prefix: str | None = None,
    placer: Placer | None = None,
) -> dict[str, Any]:
    """The flow as an Argo Workflow: every task placed (the whole-flow plan) and composed up front."""
    from workflow.backends.argo import argo_workflow
    from workflow.backends.kube_objects import KubeOptions

    opts = KubeOptions(namespace=namespace, store_pvc=store_pvc, store_image_prefix=store_image_prefix)
    placer = placer or LazySolverPlacer(inventory=inventory, catalog_path=catalog,
                                        request_defaults=image_request_defaults(opts.base_python))
    plan_flow = getattr(placer, "plan_flow", None)
    if plan_flow is not None:       # the whole flow placed jointly first; `place` then follows the plan
        plan_flow(flow)
    placements = placer.place(list(flow.tasks))
    problems = [f"task '{n}': {p.error}" for n, p in placements.items() if p.error]
    if problems:
        raise PlacementError("cannot place: " + "; ".join(problems))
    return argo_workflow(flow, placements, store=store, opts=opts)
