"""rtfit solver: (catalog, request, inventory, policy) -> selection or explained infeasibility.

Pipeline, one sub-package per phase: `inputs` (parse and freeze) -> `facts` (candidates, node
groups, the problem) judged by `rules` with `index` -> `engines` (`fast` direct evaluation, or
`cpsat` with its `model`) -> `result` -> `explain` on failure; `check` verifies any answer
independently. No I/O, no database. The file table is in solver/README.md.
See docs/solver.md (users) and docs/solver-internals.md (contributors).
"""

from typing import Any

from solver.errors import InvalidInventory, InvalidPolicy, InvalidRequest, SolverError
from solver.index.catalog_index import CatalogIndex
from solver.index.fleet_index import FleetIndex
from solver.inputs.inventory import Inventory, Node, NodeGpu, parse_inventory
from solver.inputs.policy import Policy, parse_policy
from solver.inputs.request import ModelRequest, parse_request
from solver.result import Assignment, BatchSelection, Conflict, GpuChoice, Selection
from solver.select import select

__all__ = [
    "Assignment",
    "BatchSelection",
    "CatalogIndex",
    "Conflict",
    "FlowPlan",
    "FleetIndex",
    "GpuChoice",
    "InvalidInventory",
    "InvalidPolicy",
    "InvalidRequest",
    "Inventory",
    "ModelRequest",
    "Node",
    "NodeGpu",
    "Policy",
    "Selection",
    "SolverError",
    "Stage",
    "parse_inventory",
    "parse_policy",
    "parse_request",
    "plan_flow",
    "select",
    "select_batch",
]


def __getattr__(name: str) -> Any:
    """`select_batch` loads CP-SAT (which pulls in pandas): imported on first use, so a single
    selection (`rtfit select`, `POST /v1/select`) never pays for it."""
    if name == "select_batch":
        from solver.engines.batch import select_batch

        return select_batch
    if name in ("FlowPlan", "Stage", "plan_flow"):
        from solver.engines import flowplan

        return getattr(flowplan, name)
    raise AttributeError(f"module 'solver' has no attribute {name!r}")
