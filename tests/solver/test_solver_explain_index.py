"""The explanation and fast-path shortcuts equal their definitions.

- `cachedindex.best_for_pairs` (judged per verdict row and cached-bytes class) equals
  `best_many` on the same (target, cached set) pairs;
- `GroupTable.node_classes` rows share every column the node rules read;
- `FailureSets.rule_checks` (messages built per rule, on demand) equals the rule's checks among
  all the checks of the example (`FailureSets.examples`), and `rules.request_rule_failures`
  equals `candidate_failures` filtered by the rule;
- `explain._runtime_reasons` (one vector pass for all targets) equals the definition: the most
  common first failing pair rule of the request's first 200 runtimes, ties to the earlier rule.
"""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

import solver
from solver.explain.explanation import _runtime_reasons
from solver.explain.failsets import failure_sets
from solver.facts.problem import build_problem
from solver.index.cached import best_for_pairs, best_many
from solver.index.catalog_index import CatalogIndex
from solver.rules.definitions import RULES, candidate_failures, pair_failure_rules, request_rule_failures
from solver.testing import mini_catalog, random_inventory

PRODUCTS = ["T4", "V100", "A100", "L4", "H100", "RTX 5090", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "525.60.13", "535.104.05", "550.54.15", "570.124.04", "580.65.06", None]
ENTRIES = ["cuda/12.4.1", "cuda/12.1.0", "cuda/11.8.0", "pytorch/2.4.1+cu124", "python/3.11.9", "cudnn/9.1.0",
           "tensorrt/10.3.0", "onnxruntime/1.20.1"]
REQUESTS = [
    {"framework": "pytorch"}, {"framework": "pytorch", "framework_version": "<2.5", "python": "3.11"},
    {"framework": "pytorch", "framework_version": ">=2.6,<2.6"}, {"framework": "tensorflow", "min_gpu_memory_gib": 40},
    {"framework": "onnxruntime", "format": {"kind": "onnx", "opset": 21}},
    {"framework": "tensorrt", "format": {"kind": "tensorrt-engine", "tensorrt_version": "8.6",
                                         "compute_capability": "8.9"}},
    {"framework": "none", "requires": {"cudnn": ">=9"}, "gpu_count": 4},
    {"framework": "pytorch", "precision": "bf16", "gpu_count": 2, "arch": ["aarch64"]},
]


def _inventory(seed: int, n: int = 24) -> dict:
    return random_inventory(seed, n, PRODUCTS, DRIVERS, ENTRIES)


@pytest.mark.parametrize("seed", range(3))
def test_best_for_pairs_equals_best_many(seed: int) -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(seed), catalog=cat)
    rng = random.Random(seed)
    for data in REQUESTS:
        for order in [("cached", "newest", "fit"), ("newest", "cached", "fit"), ("fit", "newest")]:
            problem = build_problem(cat, solver.parse_request(data), inv, solver.Policy(order=order))
            t = problem.table
            codes, _ = t.pairs()
            used = np.array([rng.random() < 0.7 for _ in codes], dtype=bool)
            ncached = max(len(t.cached_sets), 1)
            cand, cbytes = best_for_pairs(problem, used)
            want_cand, want_bytes = best_many(problem, codes[used] // ncached, codes[used] % ncached)
            assert cand[used].tolist() == want_cand.tolist()
            assert cbytes[used].tolist() == want_bytes.tolist()
            assert (cand[~used] == -1).all() and (cbytes[~used] == 0).all()


def test_node_classes_share_what_node_rules_read() -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(5, n=40), catalog=cat)
    t = build_problem(cat, solver.parse_request({"framework": "pytorch"}), inv).table
    cls = t.node_classes()
    for col in ("target_id", "arch_id", "count", "free", "memory"):
        assert (getattr(cls, col)[cls.class_of] == getattr(t, col)).all()
    assert cls.members.sum() == t.members.sum()
    assert len(cls.rep_row) == len({(a, b, c, d, e) for a, b, c, d, e in zip(
        t.target_id.tolist(), t.arch_id.tolist(), t.count.tolist(), t.free.tolist(), t.memory.tolist(), strict=True)})


@pytest.mark.parametrize("data", REQUESTS)
def test_rule_checks_equal_the_examples_checks(data: dict) -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(7), catalog=cat)
    problem = build_problem(cat, solver.parse_request(data), inv)
    fsets = failure_sets(problem)
    assert fsets.sets
    checked = 0
    for fs, chunks in fsets.sets.items():
        examples = fsets.examples(fs)
        assert len(examples) == sum(len(ch.cands) for ch in chunks) <= 50
        pairs = [(i, ch) for ch in chunks for i in ch.cands]
        for (cand, group, checks), (i, chunk) in zip(examples, pairs, strict=True):
            assert cand.index == i and group is chunk.group
            assert {ch.rule for ch in checks} == set(fs)       # the set is exactly the failing rules
            for rule in fs:
                assert fsets.rule_checks(rule, i, chunk) == tuple(ch for ch in checks if ch.rule == rule)
                checked += 1
    assert checked


@pytest.mark.parametrize("data", REQUESTS)
def test_request_rule_failures_filter_candidate_failures(data: dict) -> None:
    cat = mini_catalog()
    problem = build_problem(cat, solver.parse_request(data))
    for c in problem.all_candidates:
        fails = candidate_failures(cat, problem.request, c)
        for rule in [r for r, v in RULES.items() if v.scope == "request"]:
            assert request_rule_failures(cat, problem.request, c, rule) == tuple(ch for ch in fails if ch.rule == rule)


@pytest.mark.parametrize("seed", range(3))
def test_runtime_reasons_equal_the_definition(seed: int) -> None:
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    inv = solver.parse_inventory(_inventory(seed + 20), catalog=cat)
    order = list(RULES)
    for data in REQUESTS:
        problem = build_problem(cat, solver.parse_request(data), inv, index=ix)
        tids = np.arange(len(problem.table.targets))
        got = _runtime_reasons(problem, tids)
        if not problem.candidates:
            continue
        for tid, reason in zip(tids.tolist(), got, strict=True):
            target = problem.table.targets[tid]
            firsts = Counter(fails[0] for c in problem.candidates[:200]
                             if (fails := pair_failure_rules(ix, c, target)))
            if set(firsts) - {"platform-mismatch"}:   # another platform's build is the reason only when alone
                firsts.pop("platform-mismatch", None)
            want = min(firsts, key=lambda r: (-firsts[r], order.index(r))) if firsts else "no-candidate"
            assert reason == want, (data, target)


@pytest.mark.parametrize("seed", range(3))
def test_rejected_nodes_memo_equals_a_fresh_index(seed: int) -> None:
    """The rejected-node lists memoised on a fleet index's table (filled by selections failing in
    other ways first) give the answers a fresh index gives, whole-fleet and scoped."""
    cat = mini_catalog()
    inv = solver.parse_inventory(_inventory(seed, 40), catalog=cat)
    shared = solver.FleetIndex(CatalogIndex(cat), inv)
    names = [n.name for n in inv.nodes]
    scope = shared.scoped(names[::2])
    for data in REQUESTS:
        req = solver.parse_request(data)
        for fleet in (shared, scope):
            got = solver.select(cat, req, fleet.inventory, top=3, index=fleet).to_dict()
            fresh = solver.FleetIndex(CatalogIndex(cat), fleet.inventory)
            assert got == solver.select(cat, req, fleet.inventory, top=3, index=fresh).to_dict()
    assert any(k[0] == "rejected-nodes" for k in shared.table(True).memo if isinstance(k, tuple))


def test_rejected_nodes_memo_is_filled_once_and_shared_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from solver.explain.explanation import _rejections, rejections
    from solver.testing import fake_gpu, fake_node

    cat = mini_catalog()
    nodes = [fake_node(f"n{i:03d}", fake_gpu(["T4", "L4", "A100", "H100"][i % 4], 2, 1 + i % 2),
                       driver=["470.82.01", "550.54.15"][i % 5 == 0]) for i in range(80)]
    inv = solver.parse_inventory({"nodes": nodes}, catalog=cat)
    fleet = solver.FleetIndex(CatalogIndex(cat), inv)
    req = solver.parse_request({"framework": "pytorch", "min_gpu_memory_gib": 40, "gpu_count": 2})

    def one(_: int) -> tuple:
        problem = build_problem(cat, req, inv, solver.Policy(), index=fleet)
        return tuple(_rejections(problem))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(32)))
    memo = fleet.table(True).memo
    entries = {k: v for k, v in memo.items() if isinstance(k, tuple) and k[0] == "rejected-nodes"}
    assert len(entries) == len(results[0]) >= 2              # one entry per rule of the tally
    assert all(r == results[0] for r in results)
    stored = {id(v[0]) for v in entries.values()}
    assert all({id(nodes) for _, _, nodes, _ in r} == stored for r in results[1:])  # the memo's own lists
    again = build_problem(cat, req, inv, solver.Policy(), index=fleet)
    found = rejections(again)
    assert {k for k in memo if isinstance(k, tuple) and k[0] == "rejected-nodes"} == set(entries)
    fresh = build_problem(cat, req, inv, solver.Policy(), index=solver.FleetIndex(CatalogIndex(cat), inv))
    assert found == rejections(fresh) and sum(n for _, n, _ in found) == len(
        {n for _, _, ns in found for n in ns})
