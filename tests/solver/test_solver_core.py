"""The enumerated conflict core equals the CP-SAT one whenever enumeration answers.

`explain._smallest_hitting_set` skips CP-SAT for small cores: it must return exactly what the
CP-SAT model of `_min_core` returns (fewest rules, then earliest in `rules.RULES`), and give up
(None) on ties at the optimum, where CP-SAT's pick among equals is its own.
"""

from __future__ import annotations

import random

import pytest

from solver.explain import explanation as explain
from solver.rules.definitions import RULES

NAMES = list(RULES)


def _cpsat_core(sets: list[frozenset[str]]) -> tuple[str, ...]:
    limit = explain._ENUMERATE_LIMIT
    explain._ENUMERATE_LIMIT = 0          # every call goes to CP-SAT
    try:
        return explain._min_core(sets)
    finally:
        explain._ENUMERATE_LIMIT = limit


@pytest.mark.parametrize("seed", range(40))
def test_enumerated_core_equals_the_cpsat_core(seed: int) -> None:
    rng = random.Random(seed)
    pool = rng.sample(NAMES, rng.randint(2, 9))
    sets = [frozenset(rng.sample(pool, rng.randint(1, min(4, len(pool))))) for _ in range(rng.randint(1, 30))]
    rules = sorted({r for s in sets for r in s}, key=lambda r: (explain._RULE_ORDER.get(r, 99), r))
    found = explain._smallest_hitting_set(rules, sets)
    want = _cpsat_core(sets)
    assert all(set(s) & set(want) for s in sets)
    if found is not None:
        assert found == want, (sets, found, want)
    assert explain._min_core(sets) == want


def test_a_tie_at_the_optimum_is_left_to_cpsat() -> None:
    a, b, c, d = NAMES[1], NAMES[2], NAMES[3], NAMES[4]     # positions 0..3 among the rules
    # {a, d} and {b, c} both hit every set with 2 rules and position sum 3
    sets = [frozenset({a, b}), frozenset({a, c}), frozenset({d, b}), frozenset({d, c})]
    assert explain._smallest_hitting_set([a, b, c, d], sets) is None
    assert len(explain._min_core(sets)) == 2


def test_a_unique_optimum_is_found_without_cpsat() -> None:
    a, b, c = NAMES[1], NAMES[2], NAMES[3]
    sets = [frozenset({a, b}), frozenset({b, c}), frozenset({b})]
    assert explain._smallest_hitting_set([a, b, c], sets) == (b,)
