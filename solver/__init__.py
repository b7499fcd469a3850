"""rtfit solver: (catalog, request, inventory, policy) -> selection or explained infeasibility.

Pipeline: facts (`facts`, `rules`, `groups`, `problem`) -> engine (`fast` direct evaluation, or
`solve` with the CP-SAT `model`) -> `result` -> `explain` on failure. No I/O, no database.
See docs/solver.md (users) and docs/solver-internals.md (contributors).
"""

from solver.batch import select_batch
from solver.errors import InvalidInventory, InvalidRequest, SolverError
from solver.inventory import Inventory, Node, NodeGpu, parse_inventory
from solver.policy import Policy, parse_policy
from solver.request import ModelRequest, parse_request
from solver.result import Assignment, BatchSelection, Conflict, GpuChoice, Selection
from solver.select import select

__all__ = [
    "Assignment",
    "BatchSelection",
    "Conflict",
    "GpuChoice",
    "InvalidInventory",
    "InvalidRequest",
    "Inventory",
    "ModelRequest",
    "Node",
    "NodeGpu",
    "Policy",
    "Selection",
    "SolverError",
    "parse_inventory",
    "parse_policy",
    "parse_request",
    "select",
    "select_batch",
]
