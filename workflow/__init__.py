"""rtfit workflow: the flow runner and the runtime store.

A flow (Contract 5) is a DAG of tasks; each task's node and runtime come from the solver (batch
mode), its runtime is composed from the runtime store (Contract 6) instead of a monolithic image,
and it is launched on a backend: local subprocesses, Kubernetes Jobs, or exported to Argo.
"""

import importlib
from typing import Any

_LAZY = {
    "Engine": "workflow.engine",
    "RunResult": "workflow.engine",
    "FlowInvalid": "workflow.errors",
    "FlowProblem": "workflow.errors",
    "WorkflowError": "workflow.errors",
    "parse_depends": "workflow.expr",
    "parse_expression": "workflow.expr",
    "Flow": "workflow.flow",
    "ServeSpec": "workflow.flow",
    "Task": "workflow.flow",
    "load_flow": "workflow.flow",
    "parse_flow": "workflow.flow",
    "Placement": "workflow.placement",
    "Placer": "workflow.placement",
    "SolverPlacer": "workflow.placement",
    "local_inventory": "workflow.placement",
    "RunRecord": "workflow.state",
    "SqliteStateStore": "workflow.state",
    "TaskRecord": "workflow.state",
    "ComposedRuntime": "workflow.store",
    "RuntimeStore": "workflow.store",
    "compose": "workflow.store",
}

__all__ = [
    "ComposedRuntime",
    "Engine",
    "Flow",
    "FlowInvalid",
    "FlowProblem",
    "Placement",
    "Placer",
    "RunRecord",
    "RunResult",
    "RuntimeStore",
    "ServeSpec",
    "SolverPlacer",
    "SqliteStateStore",
    "Task",
    "TaskRecord",
    "WorkflowError",
    "compose",
    "load_flow",
    "local_inventory",
    "parse_depends",
    "parse_expression",
    "parse_flow",
]


def __getattr__(name: str) -> Any:
    """Exports are imported on first use, so `rtfit --help` does not pay for the runner's imports."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'workflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
