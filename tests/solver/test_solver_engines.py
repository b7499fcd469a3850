"""Rule units and engine agreement: the fast path equals CP-SAT (pruned and unpruned)."""

from __future__ import annotations

import random

import pytest

import solver
from solver.engines.cpsat import solve_cpsat
from solver.engines.fast import solve_fast
from solver.facts.problem import build_problem
from solver.index.catalog_index import CatalogIndex
from solver.rules.definitions import pair_failures, pair_ok
from solver.testing import fake_gpu, fake_node, mini_catalog

PRODUCTS = ["T4", "V100", "A100", "L4", "H100", "RTX 5090", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "525.60.13", "535.104.05", "550.54.15", "570.124.04", "580.65.06", None]
CACHES = [[], ["cuda/12.4.1"], ["pytorch/2.4.1+cu124", "python/3.12.1"], ["cudnn/9.1.0", "python/3.11.9"]]
REQUESTS = [
    {"framework": "pytorch"}, {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 20},
    {"framework": "pytorch", "framework_version": "<2.5", "python": "3.11"}, {"framework": "tensorflow"},
    {"framework": "onnxruntime", "format": {"kind": "onnx", "opset": 20}}, {"framework": "none", "gpu_count": 2},
    {"framework": "tensorrt"}, {"framework": "pytorch", "gpu_count": 0}, {"framework": "none", "gpu_count": 0},
    {"framework": "pytorch", "precision": "fp8", "gpu_count": 2, "arch": ["x86_64"]},
]


def _fleet(rng: random.Random, n: int) -> dict:
    nodes = []
    for i in range(n):
        product = rng.choice(PRODUCTS)
        jetson = "Orin" in product
        count = 1 if jetson else rng.choice([1, 2, 4])
        nodes.append(fake_node(f"n{rng.randint(0, 999):03d}-{i}", fake_gpu(product, count, rng.randint(0, count)),
                               driver="540.4.0" if jetson else rng.choice(DRIVERS),
                               arch="aarch64" if jetson else "x86_64", cluster=rng.choice(["east", "west", None]),
                               cached=rng.choice(CACHES)))
    return {"nodes": nodes}


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_cpsat_on_random_fleets(seed: int) -> None:
    rng = random.Random(seed)
    cat = mini_catalog()
    inv = solver.parse_inventory(_fleet(rng, rng.randint(1, 12)), catalog=cat)
    pol = solver.Policy(prefer_clusters=("west",))
    for data in REQUESTS:
        req = solver.parse_request(data)
        problem = build_problem(cat, req, inv, pol)
        fast = solve_fast(problem, top=3)
        pruned = solve_cpsat(problem, top=3)
        full = solve_cpsat(problem, top=3, prune=False)
        assert [a.key for a in fast] == [a.key for a in pruned.assignments] == [a.key for a in full.assignments]
        assert fast == pruned.assignments == full.assignments
        if fast:
            pairs = list(problem.pairs())
            best = max(problem.key(c, g, n) for c, g in pairs for n in g.nodes)
            assert fast[0].key == best  # the exhaustive optimum over every legal (runtime, node)


@pytest.mark.parametrize("seed", range(4))
def test_fast_top_equals_the_exhaustive_order_on_tied_fleets(seed: int) -> None:
    """solve_fast merges the members of tied groups lazily: its `top` nodes and keys are the
    exhaustive order of every node's best legal (runtime, node) key, deep into the ties."""
    rng = random.Random(seed)
    cat = mini_catalog()
    nodes = []
    for i in range(160):  # few distinct kinds, many members, names interleaved across groups
        gpus = [fake_gpu(rng.choice(["L4", "A100"]), 2, rng.choice([1, 2]))]
        if i % 7 == 0:
            gpus.append(fake_gpu("H100", 1, 1))     # two products: the node counts once
        nodes.append(fake_node(f"n{rng.randint(0, 99999):05d}-{i}", *gpus, driver=rng.choice(DRIVERS[2:5]),
                               cluster=rng.choice(["east", "west", None]), cached=rng.choice(CACHES)))
    inv = solver.parse_inventory({"nodes": nodes}, catalog=cat)
    for data in REQUESTS[:3] + REQUESTS[7:8]:
        problem = build_problem(cat, solver.parse_request(data), inv, solver.Policy())
        best: dict[str, tuple[int, ...]] = {}
        for c, g in problem.pairs():
            for n in g.nodes:
                k = problem.key(c, g, n)
                if k > best.get(n, ()):
                    best[n] = k
        ordered = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        for top in (1, 2, 3, 7, 25):
            fast = solve_fast(problem, top=top)
            assert [(a.node, a.key) for a in fast] == [(n, k) for n, k in ordered[:top]]


@pytest.mark.parametrize("data", REQUESTS[:7])
def test_planning_fast_equals_cpsat(data: dict) -> None:
    cat = mini_catalog()
    problem = build_problem(cat, solver.parse_request(data), None, solver.Policy())
    assert solve_fast(problem, top=4) == solve_cpsat(problem, top=4).assignments


def test_pair_ok_agrees_with_pair_failures() -> None:
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    problem = build_problem(cat, solver.parse_request({"framework": "pytorch"}),
                            solver.parse_inventory(_fleet(random.Random(7), 30), catalog=cat), solver.Policy(), index=ix)
    targets = {g.target for g in problem.groups}
    for fw in ("pytorch", "tensorflow", "onnxruntime", "tensorrt", "none"):
        p = build_problem(cat, solver.parse_request({"framework": fw}), None, solver.Policy(), index=ix)
        for c in p.all_candidates[::3]:
            for t in targets | {g.target for g in p.groups}:
                assert pair_ok(ix, c, t) == (not pair_failures(ix, c, t)), (c, t)


def test_mvc_needs_sass_rule() -> None:
    """Same driver, same CUDA 12.3 build: SASS (A100) runs through MVC, PTX-only (H100) does not."""
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    p = build_problem(cat, solver.parse_request({"framework": "tensorflow"}), None, solver.Policy(), index=ix)
    cand = p.all_candidates[0]
    from packaging.version import Version

    from solver.facts.candidates import Target

    a100 = Target("x86_64", Version("8.0"), "A100", Version("535.104.05"))
    h100 = Target("x86_64", Version("9.0"), "H100", Version("535.104.05"))
    assert pair_ok(ix, cand, a100)
    fails = pair_failures(ix, cand, h100)
    assert [f.rule for f in fails] == ["driver-too-old"] and "PTX" in fails[0].message


def test_policy_order_changes_the_answer() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node("big", fake_gpu("A100"), cached=["pytorch/2.4.1+cu124", "python/3.12.1"]),
                     fake_node("small", fake_gpu("L4"))]}
    default = solver.select(cat, {"framework": "pytorch"}, inv)
    fit_first = solver.select(cat, {"framework": "pytorch"}, inv,
                              policy=solver.Policy(order=("fit", "cached", "newest", "gpus", "preference")))
    assert default.choice is not None and default.choice.node == "big"
    assert fit_first.choice is not None and fit_first.choice.node == "small"


def test_top_k_alternatives_are_distinct_nodes() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node(f"l4-{i}", fake_gpu("L4")) for i in range(5)]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv, top=3)
    nodes = [sel.choice.node] + [a.node for a in sel.alternatives]  # type: ignore[union-attr]
    assert nodes == ["l4-0", "l4-1", "l4-2"]


def test_deterministic() -> None:
    cat = mini_catalog()
    inv = _fleet(random.Random(3), 20)
    outs = {str(solver.select(cat, {"framework": "pytorch"}, inv, top=3).to_dict()) for _ in range(3)}
    assert len(outs) == 1


def test_node_with_two_products_counts_once_in_alternatives() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node("mixed", fake_gpu("L4"), fake_gpu("A100")), fake_node("other", fake_gpu("H100"))]}
    for engine in ("fast", "cpsat"):
        sel = solver.select(cat, {"framework": "pytorch"}, inv, top=3, policy=solver.Policy(engine=engine))
        nodes = [sel.choice.node] + [a.node for a in sel.alternatives]  # type: ignore[union-attr]
        assert sorted(nodes) == ["mixed", "other"]
        assert sel.choice is not None and sel.choice.gpu is not None
        assert (sel.choice.node, sel.choice.gpu.product) == ("mixed", "NVIDIA L4")  # tightest fit on the node


def test_infeasible_explanation_names_minimal_core_and_verified_suggestion() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node("old", fake_gpu("A100"), driver="470.82.01")]}
    sel = solver.select(cat, {"framework": "pytorch", "framework_version": ">=2.7"}, inv)
    assert not sel.feasible
    # older cu118 wheels would run on R470 through CUDA 11 MVC, so the version range is part of the core
    assert [c.rule for c in sel.conflicts] == ["framework-version", "driver-too-old", "node-rejections"]
    assert "CUDA 12.8" in sel.conflicts[1].message or "CUDA 12.6" in sel.conflicts[1].message
    assert any(s.startswith("allow pytorch >= 2.") for s in sel.suggestions)
    fix = next(s for s in sel.suggestions if s.startswith("upgrade the driver on old"))
    driver = fix.split(">= ")[1].split()[0]
    fixed = solver.select(cat, {"framework": "pytorch", "framework_version": ">=2.7"},
                          {"nodes": [fake_node("old", fake_gpu("A100"), driver=driver)]})
    assert fixed.feasible  # the suggestion really makes it feasible
