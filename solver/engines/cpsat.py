"""CP-SAT solve of a single selection: parameters, status mapping, extraction, top-K.

Deterministic: one worker and a fixed seed. Infeasible and timeout are results (`status`), not
exceptions. `prune=True` keeps, per node group, only the candidates on the Pareto front of the
candidate-dependent terms (cached bytes, newest rank): a dominated candidate can never be the
lexicographic optimum, so the answer is unchanged while the model shrinks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from solver.engines.fast import assignment
from solver.engines.model import ExactlyOnePlacement, LexicographicObjective, Pair, PlacementVars
from solver.facts.candidates import Candidate
from solver.facts.groups import NodeGroup
from solver.facts.problem import Problem
from solver.result import Assignment

__all__ = ["CpsatOutcome", "pareto_candidates", "solve_cpsat"]

log = logging.getLogger(__name__)


@dataclass
class CpsatOutcome:
    status: str                       # optimal | infeasible | timeout
    assignments: list[Assignment]
    model_size: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def pareto_candidates(problem: Problem, group: NodeGroup) -> list[Candidate]:
    """Candidates of `group` not dominated on (cached bytes, newest rank, lower index)."""
    feas = problem.feasible_candidates(group)
    scored = sorted(feas, key=lambda c: (-problem.cached_bytes(c, group), problem.facts.newest_rank[c.index],
                                         c.index))
    front: list[Candidate] = []
    best_newest: int | None = None
    for c in scored:
        r = problem.facts.newest_rank[c.index]
        if best_newest is None or r < best_newest:
            front.append(c)
            best_newest = r
    return front


def _pairs(problem: Problem, used: set[str], prune: bool) -> list[Pair]:
    out: list[Pair] = []
    for g in problem.open_groups():
        if problem.planning:
            if f"#{g.index}" in used:
                continue
            node = None
        else:
            node = next((n for n in g.nodes if n not in used), None)
            if node is None:
                continue
        cands = pareto_candidates(problem, g) if prune else list(problem.feasible_candidates(g))
        out.extend(Pair(c, g, node, problem.key(c, g, node)) for c in cands)
    return out


def _solver(time_limit_s: float) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = time_limit_s
    return solver


def solve_cpsat(problem: Problem, top: int = 1, *, prune: bool = True, time_limit_s: float = 10.0) -> CpsatOutcome:
    """Choose the best `top` assignments with CP-SAT (each node at most once)."""
    start = time.perf_counter()
    used: set[str] = set()
    found: list[Assignment] = []
    size: dict[str, int] = {}
    status = "optimal"
    for _ in range(max(top, 1) + len(problem.base_groups)):
        if len(found) >= max(top, 1):
            break
        pairs = _pairs(problem, used, prune)
        if not pairs:
            break
        model = cp_model.CpModel()
        xs = PlacementVars(model, pairs)
        ExactlyOnePlacement(model, xs)
        objective = LexicographicObjective(model, xs)
        solver = _solver(max(time_limit_s - (time.perf_counter() - start), 0.01))
        code = objective.solve(solver)
        if not size:
            size = {"booleans": len(xs), "groups": len({p.group.index for p in pairs}),
                    "candidates": len({p.cand.index for p in pairs})}
            log.debug("cp-sat model: %d booleans over %d groups x %d candidates", size["booleans"],
                      size["groups"], size["candidates"])
        if code == cp_model.INFEASIBLE:
            break
        chosen = xs.chosen(solver) if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None
        if chosen is None:
            status = "timeout"
            break
        if code != cp_model.OPTIMAL:
            status = "timeout"
        answer = assignment(problem, chosen.cand, chosen.group, chosen.node)
        if all(answer.to_dict() != b.to_dict() for b in found):  # CPU planning: same answer on two hosts
            found.append(answer)
        used.add(chosen.node if chosen.node is not None else f"#{chosen.group.index}")
    if not found and status == "optimal":
        status = "infeasible"
    return CpsatOutcome(status=status, assignments=found, model_size=size, wall_s=time.perf_counter() - start)
