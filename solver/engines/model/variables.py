"""Variable container: one Boolean per allowed (candidate, node group member) pair."""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from solver.facts.candidates import Candidate
from solver.facts.groups import NodeGroup

__all__ = ["Pair", "PlacementVars"]


@dataclass(frozen=True)
class Pair:
    cand: Candidate
    group: NodeGroup
    node: str | None          # the group member this pair places on (None in planning mode)
    key: tuple[int, ...]      # Problem.key(cand, group, node)


class PlacementVars:
    """x[p] == 1 iff the selection is pair p."""

    def __init__(self, model: cp_model.CpModel, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self.x = [model.NewBoolVar(f"x_c{p.cand.index}_g{p.group.index}_{i}") for i, p in enumerate(pairs)]

    def __len__(self) -> int:
        return len(self.pairs)

    def chosen(self, solver: cp_model.CpSolver) -> Pair | None:
        for p, x in zip(self.pairs, self.x, strict=True):
            if solver.BooleanValue(x):
                return p
        return None
