"""`select`: the public entry point — facts, engine, extraction, explanation, result.

Accepts parsed or plain-mapping requests and inventories, so the service and the CLI can pass
what they read. Infeasible and timeout are `Selection` results, never exceptions; only bad
input raises (`InvalidRequest`, `InvalidInventory`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from packaging.version import Version

from catalog import Catalog
from catalog.compat import candidate_gaps
from catalog.versions import TegraDriver
from solver.engines.fast import solve_fast
from solver.explain.explanation import explain_choice, explain_failure
from solver.facts.candidates import Candidate
from solver.facts.groups import NodeGroup
from solver.facts.problem import Problem, build_problem
from solver.index.catalog_index import CatalogIndex
from solver.index.fleet_index import FleetIndex
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest, parse_request
from solver.result import Assignment, Conflict, ConflictDetail, Selection

__all__ = ["choice_gaps", "confidence", "gap_lines", "select"]

log = logging.getLogger(__name__)


def choice_gaps(catalog: Catalog, cand: Candidate, choice: Assignment,
                group: NodeGroup | None = None) -> tuple[str, ...]:
    """The facts the catalog lacks for runtime `cand` on the GPU of `choice`, by the definition
    `catalog why` uses (`compat.candidate_gaps` with the chosen GPU's CC; no GPU known: counted),
    plus the gap of `group`'s driver (a Jetson driver whose CUDA is unknown).

    Single selection and batch placement both report these (`Selection.gaps`)."""
    gaps: tuple[str, ...] = ()
    if cand.gpu or cand.build is not None:
        ccs = [Version(choice.gpu.compute_capability)] if choice.gpu is not None else None
        gaps = candidate_gaps(catalog, cand.build, cand.cuda, cand.cudnn, ccs)
    driver = group.target.driver if group is not None else None
    if isinstance(driver, TegraDriver) and driver.gap:   # a Jetson driver whose CUDA is unknown
        gaps = (*gaps, driver.gap)
    return gaps


def _choice_gaps(problem: Problem, choice: Assignment, group: NodeGroup | None) -> tuple[str, ...]:
    """`choice_gaps` of the chosen runtime, the runtime's part memoised in the catalog index by
    (candidate table, candidate, the chosen GPU's CC): the catalog's facts only (`build_toolkit`
    judges a build's CUDA range against every catalog CUDA series)."""
    cand = problem.all_candidates[choice.candidate]
    cc = choice.gpu.compute_capability if choice.gpu is not None else None
    key = ("choice-gaps", problem.facts.table_key, choice.candidate, cc)
    memo = problem.index.checks
    found = memo.get(key)
    if found is None:
        found = memo.setdefault(key, choice_gaps(problem.catalog, cand, choice))
    driver = group.target.driver if group is not None else None
    if isinstance(driver, TegraDriver) and driver.gap:
        found = (*found, driver.gap)
    return found


def confidence(gaps: tuple[str, ...]) -> str:
    """`Selection.confidence` for these gaps: `verified` when there are none."""
    return "unverified" if gaps else "verified"


def gap_lines(gaps: tuple[str, ...]) -> tuple[str, ...]:
    """The explanation's sentences naming each gap."""
    return tuple(f"unverified: {g}" for g in gaps)


def select(catalog: Catalog, request: ModelRequest | Mapping[str, Any], inventory: Inventory | Mapping[str, Any] |
           list[Any] | None = None, *, top: int = 1, policy: Policy | None = None,
           sized: bool = True, index: CatalogIndex | FleetIndex | None = None) -> Selection:
    """Choose a runtime, GPU and node (or GPU product when `inventory` is None) for `request`.

    `top` is the number of answers wanted: the choice plus up to `top - 1` alternatives, each on a
    different node (in planning mode: a different GPU product). A request that names an
    `artifact` also gets a verdict and the checked changes that would make it fit (`sized=False`
    skips that: the sizing pass itself selects the changed requests that way).

    `index` is the derived state a caller keeps across selections: a `CatalogIndex(catalog)` (one
    per catalog revision) or its `FleetIndex(catalog_index, inventory)` (one per inventory
    revision; pass that inventory too). Without one, both are built for this call alone: the
    answer is the same, only slower when selections repeat.
    """
    if not isinstance(request, ModelRequest):
        request = parse_request(request)
    if inventory is not None and not isinstance(inventory, Inventory):
        inventory = parse_inventory(inventory)
    if sized and request.artifact is not None:
        from solver.sizing.verdict import sized_select

        return sized_select(catalog, request, inventory, top=top, policy=policy)
    policy = policy or Policy()
    top = max(int(top), 1)
    problem = build_problem(catalog, request, inventory, policy, index=index)
    status = "optimal"
    if policy.engine == "cpsat":
        from solver.engines.cpsat import solve_cpsat

        outcome = solve_cpsat(problem, top, time_limit_s=policy.time_limit_s)
        found = outcome.assignments
        status = outcome.status
        stats: dict[str, Any] = {"model_size": outcome.model_size, "wall_s": outcome.wall_s}
    else:
        found = solve_fast(problem, top)
        stats = {}
    stats.update(groups=len(problem.base_groups), candidates=len(problem.facts.kept_index))
    if found:
        units = len(inventory.nodes) if inventory is not None else len(problem.groups)
        group = problem.base_groups[found[0].group] if found[0].group >= 0 else None
        gaps = _choice_gaps(problem, found[0], group)
        rejected: list[ConflictDetail] = []
        explanation = tuple(explain_choice(problem, found[0], units, rejected))
        if group is not None and group.name_note:   # a shared NVML name planned as its smallest module
            explanation += (group.name_note,)
        explanation += gap_lines(gaps)
        return Selection(feasible=True, catalog_revision=catalog.revision, choice=found[0],
                         alternatives=tuple(found[1:]), explanation=explanation, rejected=tuple(rejected),
                         status=status, engine=policy.engine, stats=stats,
                         confidence=confidence(gaps), gaps=gaps)
    if status == "timeout":
        return Selection(feasible=False, catalog_revision=catalog.revision, status="timeout", engine=policy.engine,
                         conflicts=(Conflict("timeout", f"CP-SAT found no answer within {policy.time_limit_s:g} s"),),
                         suggestions=("retry with a longer time limit or the fast engine",), stats=stats)
    why = explain_failure(problem)
    log.info("infeasible: core %s", ", ".join(why.core))
    return Selection(feasible=False, catalog_revision=catalog.revision, conflicts=why.conflicts,
                     suggestions=why.suggestions, status="infeasible", engine=policy.engine, stats=stats)
