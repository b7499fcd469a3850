"""The vectorised fast-path structures equal their definitions.

`cachedindex.best_many` (best runtime per (target, cached set)) must equal
`max(feasible, key=Problem.candidate_key_for)` for every policy order, `verdicts.verdict_bytes`
must equal `rules.pair_ok` per candidate, `groups.node_rule_names` the rules of
`groups.node_checks`, and the memoised `rules.pair_failures` the unmemoised checks.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import solver
from solver.facts.candidates import cached_match
from solver.facts.groups import node_checks, node_rule_names
from solver.facts.problem import _parse_cached, build_problem
from solver.index.cached import best_many
from solver.index.catalog_index import CatalogIndex
from solver.rules.definitions import candidate_failures, pair_failure_rules, pair_failures, pair_ok
from solver.rules.filters import rule_names
from solver.rules.pair import _pair_checks
from solver.rules.verdicts import verdict_bytes
from solver.testing import mini_catalog, random_inventory

PRODUCTS = ["T4", "V100", "A100", "L4", "H100", "RTX 5090", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "525.60.13", "535.104.05", "550.54.15", "570.124.04", "580.65.06", None]
ENTRIES = ["cuda/12.4.1", "cuda/12.1.0", "cuda/11.8.0", "pytorch/2.4.1+cu124", "pytorch/2.5.1+cu121",
           "python/3.12.1", "python/3.11.9", "python/3.10", "cudnn/9.1.0", "cudnn/8.9.7", "tensorrt/10.3.0",
           "onnxruntime/1.20.1", "cuda/garbage"]
REQUESTS = [
    {"framework": "pytorch"}, {"framework": "pytorch", "framework_version": "<2.5", "python": "3.11"},
    {"framework": "tensorflow"}, {"framework": "onnxruntime"}, {"framework": "tensorrt"},
    {"framework": "none", "requires": {"cudnn": ">=8"}}, {"framework": "pytorch", "gpu_count": 0},
    {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 20, "gpu_count": 2},
]
ORDERS = [("cached", "newest", "fit", "gpus", "preference"), ("newest", "cached", "fit", "gpus", "preference"),
          ("fit", "cached"), ("newest", "fit"), ("fit",), ("cached",), ("gpus", "newest", "cached")]


def _inventory(seed: int, n: int = 14) -> dict:
    return random_inventory(seed, n, PRODUCTS, DRIVERS, ENTRIES)


def _cached_bytes(cand, cached: frozenset[str]) -> int:  # type: ignore[no-untyped-def]
    """The definition (docs/solver-internals.md): sizes of the components a cached entry provides,
    each counted when it saves at least the policy's `cached_min_bytes`."""
    from solver.facts.candidates import cached_weight
    from solver.inputs.policy import DEFAULT_CACHED_MIN_BYTES

    parsed = [_parse_cached(frozenset({e}))[0] for e in cached]
    return sum(cached_weight(comp.size_bytes, DEFAULT_CACHED_MIN_BYTES) for comp in cand.components
               if any(cached_match(comp, p) for p in parsed))


@pytest.mark.parametrize("seed", range(4))
def test_best_many_equals_the_definition(seed: int) -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(seed), catalog=cat)
    checked = 0
    for data, order in itertools.product(REQUESTS, ORDERS):
        problem = build_problem(cat, solver.parse_request(data), inv, solver.Policy(order=order))
        t = problem.table
        pairs = sorted(set(zip(t.target_id.tolist(), t.cached_id.tolist(), strict=True)))
        tids = np.array([p[0] for p in pairs], dtype=np.int64)
        cids = np.array([p[1] for p in pairs], dtype=np.int64)
        cand, cbytes = best_many(problem, tids, cids)
        for (ti, ci), got, got_bytes in zip(pairs, cand.tolist(), cbytes.tolist(), strict=True):
            cached = t.cached_sets[ci]
            feas = problem.facts.feasible_on(t.targets[ti])
            want = max(feas, key=lambda c, cached=cached: problem.candidate_key_for(c, cached)) if feas else None
            assert got == (want.index if want else -1), (data, order, t.targets[ti], cached)
            if want is not None:
                assert got_bytes == problem.cached_bytes_for(want, cached) == _cached_bytes(want, cached)
                checked += got_bytes > 0
    assert checked > 0  # cached bytes did decide some answers


@pytest.mark.parametrize("seed", range(3))
def test_verdicts_and_failures_equal_the_rules(seed: int) -> None:
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    inv = solver.parse_inventory(_inventory(seed + 10), catalog=cat)
    for data in REQUESTS:
        problem = build_problem(cat, solver.parse_request(data), inv, index=ix)
        for target in problem.table.targets:
            got = verdict_bytes(ix, problem.facts.table_key, problem.all_candidates, target)
            for c in problem.all_candidates:
                want = pair_ok(ix, c, target)
                assert bool(got[c.index]) == want
                fails = pair_failures(ix, c, target)
                assert fails == tuple(_pair_checks(ix, c, target, stop=False))
                assert pair_failure_rules(ix, c, target) == tuple(ch.rule for ch in fails)
                assert (not fails) == want
        for g in problem.base_groups:
            assert node_rule_names(ix, problem.request, g) == tuple(
                ch.rule for ch in node_checks(ix, problem.request, g))


FILTER_REQUESTS = [
    {"framework": "pytorch", "framework_version": ">=2.4,<2.6", "python": ">=3.11"},
    {"framework": "pytorch", "requires": {"cudnn": ">=9", "cuda": "<12.6"}},
    {"framework": "none", "python": "3.12", "requires": {"cudnn": ">=8", "tensorrt": ">=10"}},
    {"framework": "onnxruntime", "format": {"kind": "onnx", "opset": 21}},
    {"framework": "tensorrt", "format": {"kind": "tensorrt-engine", "tensorrt_version": "10.3.0"}},
    {"framework": "tensorrt", "format": {"kind": "tensorrt-engine", "tensorrt_version": "8.6"}},
    {"framework": "pytorch", "framework_version": "==2.5.*", "gpu_count": 0}, {"framework": "tensorflow", "python": "<3.12"},
]


@pytest.mark.parametrize("data", FILTER_REQUESTS)
def test_vectorised_request_filters_equal_candidate_failures(data: dict) -> None:
    cat = mini_catalog()
    problem = build_problem(cat, solver.parse_request(data))
    kept = {c.index for c in problem.candidates}
    assert problem.filtered or kept  # the request has a candidate table
    for c in problem.all_candidates:
        fails = candidate_failures(cat, problem.request, c)
        assert (c.index in kept) == (not fails)
        assert problem.filtered.get(c.index, ()) == fails
        assert problem.facts.failures_of(c.index) == fails
        # the filter bits name exactly the rules of candidate_failures (what failsets.py reads)
        assert rule_names(int(problem.facts.rule_bits[c.index])) == frozenset(ch.rule for ch in fails)
    ranks = [problem.facts.newest_rank[c.index] for c in problem.candidates]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("seed", range(3))
def test_classes_are_the_first_of_each_class_in_key_order(seed: int) -> None:
    """`cached._classes` (one pass of minimum.at over the class codes) keeps, in key order, the
    first candidate of every (verdict class, cached signature), as `np.unique` defines it."""
    from solver.index.cached import _classes, cached_index

    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(seed, 30), catalog=cat)
    rng = np.random.default_rng(seed)
    for data in REQUESTS:
        problem = build_problem(cat, solver.parse_request(data), inv, solver.Policy())
        idx = cached_index(problem.table, problem.facts, problem.policy.cached_min_bytes)
        kept = problem.facts.kept_index
        for ordc in (kept, np.sort(kept), kept[rng.random(len(kept)) < 0.5], kept[:0]):
            codes = idx.vclass_of[ordc] * idx.nsig + idx.sig_of[ordc]
            _, first = np.unique(codes, return_index=True)
            pos, reps = _classes(idx, ordc)
            assert pos.tolist() == sorted(first.tolist()) and reps.tolist() == ordc[np.sort(first)].tolist()
