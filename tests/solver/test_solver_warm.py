"""`CatalogIndex.warm`: the catalog-level tables a fleet's first selections fill, filled ahead.

- after a warm on a fleet, the first selection of every framework family on that fleet (whole or
  scoped) adds nothing to the candidate, pair-rule and verdict tables;
- a warm never changes an answer (warmed index vs a fresh one, every request, byte for byte);
- only the targets not warm yet are warmed (a second fleet adds its new targets only), and a
  warm told to stop keeps what it did and a later call finishes it.
"""

from __future__ import annotations

import json
from typing import Any

import solver
from solver import CatalogIndex, FleetIndex
from solver.inputs.request import FRAMEWORKS
from solver.testing import mini_catalog, random_inventory

PRODUCTS = ["T4", "V100", "A100", "L4", "H100", "RTX 5090", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "525.60.13", "535.104.05", "550.54.15", "570.124.04", "580.65.06", None]
ENTRIES = ["cuda/12.4.1", "cuda/12.1.0", "cuda/11.8.0", "pytorch/2.4.1+cu124", "python/3.11.9", "cudnn/9.1.0"]
# the tables a fleet's targets fill (candidates and their columns, pair rules, verdicts); not the
# explanation's per-target columns (`first_failures`, `pair_sets`), derived from the pair rules' on demand
TABLES = ("candidates", "columns", "verdicts", "needs", "checks", "paths", "table_signatures", "split", "many",
          "many_done", "failures", "driver_requirements")
REQUESTS: list[dict[str, Any]] = [
    *({"framework": f} for f in FRAMEWORKS),
    {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 20},
    {"framework": "pytorch", "framework_version": ">=2.3"}, {"framework": "tensorflow", "gpu_count": 2},
    {"framework": "none", "requires": {"cuda": ">=12"}}, {"framework": "pytorch", "gpu_count": 16},
]


def _inventory(seed: int, n: int = 60) -> Any:
    return solver.parse_inventory(random_inventory(seed, n, PRODUCTS, DRIVERS, ENTRIES), catalog=mini_catalog())


def _sizes(ix: CatalogIndex) -> dict[str, int]:
    out = {name: len(getattr(ix, name)) for name in TABLES}
    # not the chosen runtime's catalog gaps (memoised there per choice: the answer's, not the fleet's)
    out["checks"] = sum(not (isinstance(k, tuple) and k and k[0] == "choice-gaps") for k in ix.checks)
    out["verdicts per target"] = sum(len(t) for t in ix.verdicts.values())
    return out


def test_after_a_warm_the_first_selections_of_each_framework_fill_no_table() -> None:
    cat = mini_catalog()
    inv = _inventory(1)
    ix = CatalogIndex(cat)
    assert ix.warm(inv) == list(FRAMEWORKS)
    before = _sizes(ix)
    fleet = FleetIndex(ix, inv).warm()
    scoped = fleet.scoped([n.name for n in inv.nodes[::3]])
    for f in FRAMEWORKS:
        solver.select(cat, {"framework": f}, inv, top=3, index=fleet)
        solver.select(cat, {"framework": f}, scoped.inventory, top=3, index=scoped)
    assert _sizes(ix) == before
    # without the warm the same selections fill them (the check above can fail)
    cold = CatalogIndex(cat)
    cold_fleet = FleetIndex(cold, inv).warm()
    empty = _sizes(cold)
    solver.select(cat, {"framework": "pytorch"}, inv, top=3, index=cold_fleet)
    assert _sizes(cold)["verdicts per target"] > empty["verdicts per target"]


def test_a_warm_never_changes_an_answer() -> None:
    cat = mini_catalog()
    for seed in (2, 3):
        inv = _inventory(seed)
        warm = CatalogIndex(cat)
        warm.warm(inv)
        warm.warm(inv, strict=True)
        fleet = FleetIndex(warm, inv).warm()
        for request in [*REQUESTS, *({**r, "strict": True} for r in REQUESTS[:4])]:
            fresh = FleetIndex(CatalogIndex(cat), inv).warm()
            want = solver.select(cat, request, inv, top=3, index=fresh).to_dict()
            got = solver.select(cat, request, inv, top=3, index=fleet).to_dict()
            assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True), request


def test_only_new_targets_are_warmed_and_a_stopped_warm_is_finished_later() -> None:
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    first, second = _inventory(4, 20), _inventory(5, 60)
    ix.warm(first)
    assert ix.cold_targets(first) == {}
    new = ix.cold_targets(second)
    assert new and set(new) == {g.target for g in FleetIndex(ix, second).groups(True)} - ix.warm_targets[("pytorch", False)]
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2    # two chunks, then stop

    assert ix.warm(second, stop=stop) == []     # stopped within the first framework
    partly = ix.warm_targets[(FRAMEWORKS[0], False)]
    assert partly - set(ix.cold_targets(first)) and ix.cold_targets(second)
    assert ix.warm(second) == list(FRAMEWORKS)
    assert ix.cold_targets(second) == {} and ix.cold_targets(second, strict=True)
    assert ix.warm(second) == []
