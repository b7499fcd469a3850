"""Batch placement on generated catalogs and fleets: legal, within capacity, never worse than
greedy first-fit, and optimal (equal to exhaustive search) on tiny instances."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_props_catalogs import catalogs, inventory_data, request_data

from solver.check.reference import brute_force_batch
from solver.check.validate import validate_batch
from solver.engines.batch import plan_batch


@st.composite
def batches(draw: st.DrawFn, *, max_nodes: int, max_kinds: int, max_requests: int):
    cat = draw(catalogs())
    inv = draw(inventory_data(cat, max_nodes=max_nodes))
    kinds = draw(st.lists(request_data(cat), min_size=1, max_size=max_kinds))
    reqs = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=max_requests))
    return cat, reqs, inv


@st.composite
def quota_batches(draw: st.DrawFn, *, max_nodes: int, max_kinds: int, max_requests: int):
    cat, reqs, inv = draw(batches(max_nodes=max_nodes, max_kinds=max_kinds, max_requests=max_requests))
    quotas = draw(st.dictionaries(st.sampled_from(["c1", "c2"]), st.integers(0, 6), max_size=2))
    return cat, reqs, inv, quotas


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(max_nodes=6, max_kinds=4, max_requests=14))
def test_batch_is_legal_within_capacity_and_not_worse_than_greedy(data) -> None:
    cat, reqs, inv = data
    plan = plan_batch(cat, reqs, inv, time_limit_s=2.0)
    assert validate_batch(cat, reqs, inv, plan.selection) == []
    assert plan.objective >= plan.greedy_objective
    assert all(plan.objective >= h for h in plan.heuristics.values()) and len(plan.heuristics) == 3
    assert plan.objective[0] == sum(p.feasible for p in plan.selection.placements)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quota_batches(max_nodes=6, max_kinds=4, max_requests=14))
def test_batch_with_cluster_quotas_is_legal_and_not_worse_than_either_heuristic(data) -> None:
    cat, reqs, inv, quotas = data
    plan = plan_batch(cat, reqs, inv, time_limit_s=2.0, quotas=quotas)
    assert validate_batch(cat, reqs, inv, plan.selection, quotas) == []
    assert all(plan.objective >= h for h in plan.heuristics.values())
    for name in plan.heuristics:        # each baseline's own answer keeps the quotas too
        alone = plan_batch(cat, reqs, inv, quotas=quotas, heuristic=name)
        assert alone.objective == plan.heuristics[name]
        assert validate_batch(cat, reqs, inv, alone.selection, quotas) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(max_nodes=3, max_kinds=2, max_requests=4))
def test_batch_objective_equals_exhaustive_search(data) -> None:
    cat, reqs, inv = data
    plan = plan_batch(cat, reqs, inv, time_limit_s=5.0)
    assert plan.objective == brute_force_batch(cat, reqs, inv)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quota_batches(max_nodes=3, max_kinds=2, max_requests=4))
def test_batch_objective_with_quotas_equals_exhaustive_search(data) -> None:
    cat, reqs, inv, quotas = data
    plan = plan_batch(cat, reqs, inv, time_limit_s=5.0, quotas=quotas)
    assert plan.objective == brute_force_batch(cat, reqs, inv, quotas=quotas)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quota_batches(max_nodes=3, max_kinds=2, max_requests=4))
def test_lp_start_is_legal_and_its_value_bounds_exhaustive_search(data) -> None:
    from solver import parse_inventory
    from solver.engines.batch import _Instance
    from solver.engines.batch_cpsat import objective
    from solver.engines.batch_lp import lp_start
    from solver.inputs.policy import Policy
    from solver.inputs.request import parse_request

    cat, reqs, inv, quotas = data
    inst = _Instance(cat, [parse_request(r) for r in reqs], parse_inventory(inv, catalog=cat), Policy(), quotas)
    best = brute_force_batch(cat, reqs, inv, quotas=quotas)
    lp = lp_start(inst)
    if lp is None:      # no GPU option at all
        assert all(inst.size(c) == 0 or not opts for c, opts in enumerate(inst.options))
        return
    assert lp.values[0] >= best[0] - 1e-6           # the relaxation bounds every legal placement
    assert objective(inst, lp.counts) <= best       # and its rounding is one of them
    used: dict[tuple[int, str], int] = {}
    per_cluster: dict[str, int] = {}
    for w in lp.where:
        if w is not None and inst.size(w[0]):
            g = inst.options[w[0]][w[1]].group
            used[(g.index, w[2])] = used.get((g.index, w[2]), 0) + inst.size(w[0])
            assert used[(g.index, w[2])] <= g.free and w[2] in g.nodes
            per_cluster[g.cluster] = per_cluster.get(g.cluster, 0) + inst.size(w[0])
    assert all(n <= quotas.get(c, n) for c, n in per_cluster.items())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(quota_batches(max_nodes=6, max_kinds=4, max_requests=14))
def test_neighbourhood_search_path_is_legal_and_not_worse_than_any_heuristic(monkeypatch, data) -> None:
    # every batch takes the large-batch path (LP start, then CP-SAT's neighbourhood search)
    import solver.engines.batch as batch

    monkeypatch.setattr(batch, "MAX_VARS", 0)
    cat, reqs, inv, quotas = data
    plan = plan_batch(cat, reqs, inv, time_limit_s=1.0, quotas=quotas)
    assert validate_batch(cat, reqs, inv, plan.selection, quotas) == []
    assert all(plan.objective >= h for h in plan.heuristics.values())
    assert plan.objective[0] == sum(p.feasible for p in plan.selection.placements)
