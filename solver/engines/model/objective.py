"""Lexicographic objective: maximise term 1, fix it, maximise term 2, ... (one solve per term)."""

from __future__ import annotations

import logging

from ortools.sat.python import cp_model

from solver.engines.model.variables import PlacementVars

__all__ = ["LexicographicObjective"]

log = logging.getLogger(__name__)


class LexicographicObjective:
    """Each pair's objective key is a tuple (bigger = better); position i is term i."""

    def __init__(self, model: cp_model.CpModel, xs: PlacementVars) -> None:
        self.model = model
        self.xs = xs
        self.width = len(xs.pairs[0].key) if xs.pairs else 0

    def term(self, i: int) -> cp_model.LinearExpr:
        return sum(p.key[i] * x for p, x in zip(self.xs.pairs, self.xs.x, strict=True) if p.key[i] != 0)

    def solve(self, solver: cp_model.CpSolver) -> int:
        """Optimise every term in order; returns the final CP-SAT status."""
        status = cp_model.UNKNOWN
        for i in range(self.width):
            values = {p.key[i] for p in self.xs.pairs}
            if len(values) == 1:
                continue
            expr = self.term(i)
            self.model.Maximize(expr)
            status = solver.Solve(self.model)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return status
            best = round(solver.ObjectiveValue())
            log.debug("lexicographic term %d: optimum %d (%s)", i, best, solver.StatusName(status))
            self.model.ClearObjective()
            self.model.Add(expr == best)
            if status != cp_model.OPTIMAL:
                return status
        status = solver.Solve(self.model)
        return status
