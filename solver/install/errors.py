"""Why no install recipe could be derived (a catalog gap, never a crash)."""

from __future__ import annotations

from solver.errors import SolverError

__all__ = ["NoRecipe"]


class NoRecipe(SolverError):
    """The catalog has no install row for the chosen build; the message names what to add."""
