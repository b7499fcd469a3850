"""Constraint classes of the single-selection model, each a domain statement."""

from __future__ import annotations

from ortools.sat.python import cp_model

from solver.engines.model.variables import PlacementVars

__all__ = ["ExactlyOnePlacement"]


class ExactlyOnePlacement:
    """The model is placed exactly once: one runtime, on one GPU product of one node."""

    name = "exactly-one-placement"

    def __init__(self, model: cp_model.CpModel, xs: PlacementVars) -> None:
        model.AddExactlyOne(xs.x)

