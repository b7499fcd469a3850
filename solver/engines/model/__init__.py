"""CP-SAT model of a single selection: variable containers, one class per constraint, objective.

Rules are applied when the variables are made: only (candidate, node) pairs that every rule
accepts get a Boolean (the table of allowed assignments). `PlacementVars` holds them,
`ExactlyOnePlacement` picks one, and `LexicographicObjective` optimises the policy terms one
after another, fixing each optimum before the next (cpsat-primer's lexicographic pattern).
"""

from solver.engines.model.constraints import ExactlyOnePlacement
from solver.engines.model.objective import LexicographicObjective
from solver.engines.model.variables import Pair, PlacementVars

__all__ = ["ExactlyOnePlacement", "LexicographicObjective", "Pair", "PlacementVars"]
