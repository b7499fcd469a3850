"""Policy defaults a platform team would choose: small cached components never decide a selection,
Python is preferred by how widely the framework ships wheels for it; both documented and overridable."""

from __future__ import annotations

import pytest

import solver
from catalog import load_catalog
from solver.facts.candidates import mature_pythons, python_coverage


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


INV = {"nodes": [
    # an older driver: only CUDA 11.x / 12.x-MVC builds, but Python is already cached here
    {"name": "a-cached-python", "driver_version": "470.82.01", "gpus": [{"product": "T4"}],
     "cached_components": ["python/3.11.9"]},
    {"name": "b-current", "driver_version": "580.65.06", "gpus": [{"product": "T4"}]},
]}


def test_cached_python_does_not_outrank_a_newer_framework(cat):
    sel = solver.select(cat, {"framework": "pytorch"}, INV).to_dict()
    assert sel["choice"]["node"] == "b-current", sel["choice"]
    old = solver.select(cat, {"framework": "pytorch"}, INV, policy=solver.Policy(cached_min_bytes=0)).to_dict()
    assert old["choice"]["node"] == "a-cached-python"   # the override restores bytes-first at any size


def test_big_cached_components_still_count(cat):
    inv = {"nodes": [
        {"name": "a", "driver_version": "550.54.15", "gpus": [{"product": "L4"}],
         "cached_components": ["pytorch/2.4.1+cu124"]},
        {"name": "b", "driver_version": "550.54.15", "gpus": [{"product": "L4"}]},
    ]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv).to_dict()
    assert sel["choice"]["node"] == "a" and sel["choice"]["runtime"]["pytorch"] == "2.4.1+cu124"


def test_python_is_chosen_by_how_widely_the_framework_ships_wheels(cat):
    cover = python_coverage(cat, "pytorch")
    mature = mature_pythons(cat, "pytorch")
    newest = max(cover)
    assert newest not in mature and 2 * cover[newest] < max(cover.values())
    inv = {"nodes": [{"name": "l4", "driver_version": "580.65.06", "gpus": [{"product": "L4"}]}]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv).to_dict()
    py = sel["choice"]["runtime"]["python"]
    assert py != str(newest) and any(str(m) == py for m in mature)
    assert py == str(max(m for m in mature if str(m) in {str(p) for p in cover}))
    asked = solver.select(cat, {"framework": "pytorch", "python": str(newest)}, inv).to_dict()
    assert asked["choice"]["runtime"]["python"] == str(newest)   # the request overrides the preference
