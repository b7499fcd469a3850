"""The fast engine's target-rule columns are memoised on the fleet's group table per what the
target rules read, strictness included: a strict request after a non-strict one on the same
fleet index is refused on the targets `unverified-driver` refuses (a Jetson driver of unknown
CUDA version), exactly as on a fresh index. The memo key once lacked `strict`, and the strict
answer then depended on which selections the fleet index had served before."""

from __future__ import annotations

import json

import solver
from solver import CatalogIndex, FleetIndex
from solver.testing import mini_catalog, random_inventory

PRODUCTS = ["T4", "A100", "L4", "H100", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "535.104.05", "550.54.15", "570.124.04", None]
ENTRIES = ["cuda/12.4.1", "cuda/11.8.0", "python/3.11.9", "cudnn/9.1.0"]


def test_a_strict_selection_after_a_plain_one_on_the_same_fleet_index_equals_a_fresh_one() -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory(random_inventory(2, 60, PRODUCTS, DRIVERS, ENTRIES), catalog=cat)
    strict = {"framework": "pytorch", "strict": True}
    fresh = FleetIndex(CatalogIndex(cat), inv).warm()
    want = solver.select(cat, strict, inv, top=3, index=fresh).to_dict()
    assert "unverified-driver" in json.dumps(want)     # the case this holds: a strict-only refusal
    shared = FleetIndex(CatalogIndex(cat), inv).warm()
    solver.select(cat, {"framework": "tensorflow"}, inv, top=3, index=shared)
    got = solver.select(cat, strict, inv, top=3, index=shared).to_dict()
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
    # and the other way round: the plain answer after a strict one
    plain = {"framework": "pytorch"}
    want = solver.select(cat, plain, inv, top=3, index=FleetIndex(CatalogIndex(cat), inv).warm()).to_dict()
    assert json.dumps(solver.select(cat, plain, inv, top=3, index=shared).to_dict(), sort_keys=True) == \
        json.dumps(want, sort_keys=True)
