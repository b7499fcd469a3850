"""rtfit workflow: the flow runner and the runtime store.

A flow (Contract 5) is a DAG of tasks; each task's node and runtime come from the solver (batch
mode), its runtime is composed from the runtime store (Contract 6) instead of a monolithic image,
and it is launched on a backend: local subprocesses, Kubernetes Jobs, or exported to Argo.
"""

from workflow.engine import Engine, RunResult
from workflow.errors import FlowInvalid, FlowProblem, WorkflowError
from workflow.expr import parse_depends, parse_expression
from workflow.flow import Flow, ServeSpec, Task, load_flow, parse_flow
from workflow.placement import Placement, Placer, SolverPlacer, local_inventory
from workflow.state import RunRecord, SqliteStateStore, TaskRecord
from workflow.store import ComposedRuntime, RuntimeStore, compose

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
