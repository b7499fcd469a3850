"""Batch placement on hand-made fleets: stranding avoided, capacity conflicts named, order kept."""

from __future__ import annotations

from test_validate_rules import tiny_catalog

import solver
from solver.check.validate import validate_batch
from solver.engines.batch import configurations, plan_batch

BOTH = {"nodes": [
    {"name": "a-l4", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 2}]},
    {"name": "b-a100", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA A100-SXM4-80GB", "count": 1}]},
]}
ONE = {"framework": "pytorch", "gpu_count": 1}
TWO = {"framework": "pytorch", "gpu_count": 2}


def test_configurations_are_the_maximal_packings() -> None:
    assert sorted(configurations([1, 2], 4)) == [(0, 2), (2, 1), (4, 0)]
    assert configurations([3], 8) == [(2,)]
    assert configurations([5], 4) == [(0,)]
    assert configurations(list(range(1, 9)), 64, limit=50) is None


def test_batch_avoids_the_stranding_greedy_causes() -> None:
    cat = tiny_catalog()
    # Greedy gives the 1-GPU request its favourite (tightest memory fit: the L4 node) and then
    # the 2-GPU request finds no node with two free GPUs. CP-SAT places both.
    # Best-fit-decreasing (the 2-GPU request first, to the tightest node) places both too, and
    # CP-SAT proves nothing is better: its answer is returned.
    plan = plan_batch(cat, [ONE, TWO], BOTH)
    assert plan.greedy_objective[0] == 1 and plan.heuristics["first-fit"] == plan.greedy_objective
    assert plan.heuristics["best-fit-decreasing"][0] == 2
    assert plan.objective[0] == 2 and plan.engine == "best-fit-decreasing-cpsat-equal"
    out = plan.selection.to_dict()
    assert out["feasible"] is True
    assert [p["choice"]["node"] for p in out["placements"]] == ["b-a100", "a-l4"]
    assert [p["choice"]["gpu"]["count"] for p in out["placements"]] == [1, 2]
    assert validate_batch(cat, [ONE, TWO], BOTH, plan.selection) == []


def test_unplaced_requests_name_the_capacity_conflict_and_keep_request_order() -> None:
    cat = tiny_catalog()
    reqs = [TWO, ONE, TWO, TWO]
    out = solver.select_batch(cat, reqs, BOTH).to_dict()
    assert out["catalog_revision"] == cat.revision and out["feasible"] is False
    placed = [p["feasible"] for p in out["placements"]]
    assert placed == [True, True, False, False]
    for p in out["placements"][2:]:
        assert [c["rule"] for c in p["conflicts"]] == ["no-capacity"]
        assert "NVIDIA L4" in p["conflicts"][0]["message"] and p["suggestions"]
    assert validate_batch(cat, reqs, BOTH, out) == []


def test_an_impossible_request_gets_the_single_selection_explanation() -> None:
    cat = tiny_catalog()
    t4_only = {"nodes": [{"name": "t4", "driver_version": "580.65.06", "gpus": [{"product": "Tesla T4"}]}]}
    out = solver.select_batch(cat, [{"framework": "pytorch", "precision": "bf16"}, ONE], t4_only).to_dict()
    first, second = out["placements"]
    assert first["feasible"] is False and "precision-unsupported" in {c["rule"] for c in first["conflicts"]}
    assert second["feasible"] is True and second["choice"]["node"] == "t4"


def test_cpu_requests_use_no_gpus_and_results_are_deterministic() -> None:
    cat = tiny_catalog()
    inv = {"nodes": [{"name": "cpu-1", "gpus": []}, *BOTH["nodes"]]}
    reqs = [{"framework": "pytorch", "gpu_count": 0}] * 3 + [TWO, ONE]
    a = solver.select_batch(cat, reqs, inv).to_dict()
    b = solver.select_batch(cat, reqs, inv).to_dict()
    assert a == b and a["feasible"] is True
    assert all(p["choice"]["gpu"] is None for p in a["placements"][:3])
    assert validate_batch(cat, reqs, inv, a) == []


def test_planning_mode_batch_is_one_selection_per_request() -> None:
    cat = tiny_catalog()
    out = solver.select_batch(cat, [ONE, TWO], None).to_dict()
    assert out["feasible"] is True
    assert [p["choice"]["node"] for p in out["placements"]] == [None, None]


# The cached runtime stack draws every request to the A100 node: the 2-GPU request that could run
# on the L4s takes it first (first-fit, request order) or as the largest (best-fit-decreasing), and
# the two 70 GiB requests, which only the A100s can hold, are left out. CP-SAT sends it to the L4s.
CACHED = {"nodes": [
    {"name": "a-a100", "driver_version": "550.54.15", "cluster": "gold",
     "gpus": [{"product": "NVIDIA A100-SXM4-80GB", "count": 2}],
     "cached_components": ["cuda/12.4.1", "cudnn/9.1.0", "python/3.11", "pytorch/2.4.1+cu124"]},
    {"name": "b-l4", "driver_version": "550.54.15", "cluster": "std", "gpus": [{"product": "NVIDIA L4", "count": 2}]},
]}
BIG = {"framework": "pytorch", "gpu_count": 1, "min_gpu_memory_gib": 70}


def test_cached_stacks_drawing_requests_to_scarce_gpus_are_undone() -> None:
    cat = tiny_catalog()
    reqs = [TWO, BIG, BIG]
    plan = plan_batch(cat, reqs, CACHED)
    assert plan.heuristics["first-fit"][0] == 1 and plan.heuristics["best-fit-decreasing"][0] == 1
    # the most constrained requests first (the 70 GiB ones) already places all three; CP-SAT proves it
    assert plan.heuristics["scarce-first"][0] == 3
    assert plan.engine == "scarce-first-cpsat-equal" and plan.objective[0] == 3
    nodes = [p.to_dict()["choice"]["node"] for p in plan.selection.placements]
    assert nodes == ["b-l4", "a-a100", "a-a100"]
    assert validate_batch(cat, reqs, CACHED, plan.selection) == []


def test_cluster_quotas_bound_every_engine_and_are_named_when_they_bite() -> None:
    cat = tiny_catalog()
    reqs = [ONE, ONE, ONE, BIG]
    quotas = {"gold": 1, "std": 2}
    for kw in ({"heuristic": "first-fit"}, {"heuristic": "best-fit-decreasing"}, {}):
        plan = plan_batch(cat, reqs, CACHED, quotas=quotas, **kw)
        assert validate_batch(cat, reqs, CACHED, plan.selection, quotas) == []
    # gold may lend one GPU of its two: 3 placed, and the one left out is told about the quota
    assert plan.objective[0] == 3
    left = [p for p in plan.selection.placements if not p.feasible]
    assert len(left) == 1 and "quota" in left[0].conflicts[0].message and "gold (1)" in left[0].conflicts[0].message
    # without quotas all four fit (2 + 2 GPUs); a quota the answer breaks is a violation
    free = plan_batch(cat, reqs, CACHED)
    assert free.objective[0] == 4
    assert [v.rule for v in validate_batch(cat, reqs, CACHED, free.selection, {"gold": 1})] == ["over-quota"]


def test_best_fit_decreasing_avoids_first_fit_fragmentation() -> None:
    cat = tiny_catalog()
    # two 8-GPU L4 nodes, 16 GPUs asked: first-fit in request order strands a 4 (3+4 | 3+2 leave
    # 1 and 3 GPUs), largest-first packs 4+4 | 3+3+2 exactly
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 8}]}
                     for i in range(2)]}
    reqs = [{"framework": "pytorch", "gpu_count": n} for n in (3, 4, 3, 2, 4)]
    plan = plan_batch(cat, reqs, inv)
    assert plan.heuristics["first-fit"][0] == 4
    assert plan.heuristics["best-fit-decreasing"][0] == 5 and plan.objective[0] == 5
    assert validate_batch(cat, reqs, inv, plan.selection) == []


def test_cpsat_places_more_than_every_heuristic() -> None:
    # two 4-GPU L4 nodes, requests 4, 4, 1, 1, 1, 1: every heuristic seats the 4s first (request
    # order, largest first, or alike room then largest first) and then no 1 fits: 2 placed. The
    # count is what matters first: four 1s on one node and a 4 on the other place 5.
    cat = tiny_catalog()
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 4}]}
                     for i in range(2)]}
    one, four = {"framework": "pytorch", "gpu_count": 1}, {"framework": "pytorch", "gpu_count": 4}
    reqs = [four, four, one, one, one, one]
    plan = plan_batch(cat, reqs, inv)
    assert {h: v[0] for h, v in plan.heuristics.items()} == {"first-fit": 2, "best-fit-decreasing": 2,
                                                             "scarce-first": 2}
    # the LP relaxation rounded already finds it (CP-SAT's start), CP-SAT proves it optimal
    assert plan.engine in ("cpsat", "lp-round-cpsat-equal") and plan.objective[0] == 5
    assert plan.stats["bounds"][0] == (5, 5)
    assert validate_batch(cat, reqs, inv, plan.selection) == []


def _instance(cat, reqs, inv):
    from solver.engines.batch import _Instance
    from solver.inputs.policy import Policy
    from solver.inputs.request import parse_request

    return _Instance(cat, [parse_request(r) for r in reqs], solver.parse_inventory(inv, catalog=cat), Policy())


def test_pack_realises_cpsat_counts_from_the_configuration_layout() -> None:
    # two 8-GPU L4 nodes and requests of 4, 3, 3, 2, 2, 2 GPUs (16 in all): they fit only as
    # 4+2+2 | 3+3+2. First-fit decreasing (and every heuristic) strands a 2; the counts CP-SAT
    # returns are realised exactly by laying its node configurations out, not by re-packing.
    from solver.engines.batch_cpsat import cpsat_counts, pack
    from solver.engines.batch_heuristics import HEURISTICS

    cat = tiny_catalog()
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 8}]}
                     for i in range(2)]}
    reqs = [{"framework": "pytorch", "gpu_count": n} for n in (4, 3, 3, 2, 2, 2)]
    inst = _instance(cat, reqs, inv)
    assert all(sum(fn(inst)[0].values()) == 5 for fn in HEURISTICS.values())
    first = HEURISTICS["first-fit"](inst)
    counts, layout, status, stats = cpsat_counts(inst, first[0], 5.0, first[1])
    assert sum(counts.values()) == 6 and stats["bounds"][0] == (6, 6)
    assert sum(w is not None for w in pack(inst, counts)) == 5          # re-packing first-fit decreasing
    where = pack(inst, counts, layout)
    assert sum(w is not None for w in where) == 6
    load = {}
    for i, w in enumerate(where):
        load[w[2]] = load.get(w[2], 0) + reqs[i]["gpu_count"]
    assert sorted(load.values()) == [8, 8]
    plan = plan_batch(cat, reqs, inv)
    assert plan.objective[0] == 6 and validate_batch(cat, reqs, inv, plan.selection) == []


def test_lp_start_rounds_to_a_legal_placement_under_its_bound() -> None:
    from solver.engines.batch_cpsat import objective
    from solver.engines.batch_lp import lp_start

    cat = tiny_catalog()
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 4}]}
                     for i in range(2)]}
    one, four = {"framework": "pytorch", "gpu_count": 1}, {"framework": "pytorch", "gpu_count": 4}
    reqs = [four, four, one, one, one, one]
    inst = _instance(cat, reqs, inv)
    lp = lp_start(inst)
    assert lp is not None
    # LP optimum: 5 (four 1s and a 4, or fractions worth as much); rounded: 5 placed, within capacity
    assert abs(lp.values[0] - 5) < 1e-6
    assert objective(inst, lp.counts)[0] == 5
    load = {}
    for i, w in enumerate(lp.where):
        if w is not None:
            load[w[2]] = load.get(w[2], 0) + reqs[i]["gpu_count"]
    assert all(v <= 4 for v in load.values())


def test_lns_solves_a_whole_small_batch_exactly_and_keeps_large_ones_legal() -> None:
    # one family of node groups (L4, no cluster): the neighbourhood is the whole batch, solved
    # exactly from first-fit's 2 placed to 5, and the search stops there
    import sys
    import time
    from pathlib import Path

    from solver.engines.batch_cpsat import objective
    from solver.engines.batch_heuristics import HEURISTICS
    from solver.engines.batch_lns import lns_improve

    cat = tiny_catalog()
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 4}]}
                     for i in range(2)]}
    one, four = {"framework": "pytorch", "gpu_count": 1}, {"framework": "pytorch", "gpu_count": 4}
    reqs = [four, four, one, one, one, one]
    inst = _instance(cat, reqs, inv)
    start = HEURISTICS["first-fit"](inst)
    counts, where, stats = lns_improve(inst, start[1], time.perf_counter() + 30)
    assert objective(inst, counts)[0] == 5 and stats["optimal"] == 1 and stats["neighbourhoods"] == 1
    # a contended batch (several families, quotas): every answer within the nodes' free GPUs and
    # the quotas, never worse than its start
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from contended import contended

    from catalog import load_catalog
    from solver.engines.batch import _Instance
    from solver.inputs.policy import Policy
    from solver.inputs.request import parse_request

    real = load_catalog()
    creqs, cinv, quotas = contended(200, 3)
    big = _Instance(real, [parse_request(r) for r in creqs], solver.parse_inventory(cinv, catalog=real), Policy(), quotas)
    first = HEURISTICS["first-fit"](big)
    counts, where, stats = lns_improve(big, first[1], time.perf_counter() + 3)
    assert objective(big, counts) >= objective(big, first[0]) and stats["neighbourhoods"] >= 1
    load: dict[tuple[int, str], int] = {}
    per_cluster: dict[str, int] = {}
    for w in where:
        if w is not None:
            g = big.options[w[0]][w[1]].group
            load[(g.index, w[2])] = load.get((g.index, w[2]), 0) + big.size(w[0])
            assert load[(g.index, w[2])] <= g.free and w[2] in g.nodes
            per_cluster[g.cluster] = per_cluster.get(g.cluster, 0) + big.size(w[0])
    assert all(n <= quotas[c] for c, n in per_cluster.items())


def test_lp_start_gives_up_at_its_deadline_while_building() -> None:
    # a deadline already passed: no LP model is built or solved (plan_batch's time limit holds)
    import time

    from solver.engines.batch_lp import lp_start

    cat = tiny_catalog()
    inv = {"nodes": [{"name": f"l4-{i}", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 4}]}
                     for i in range(2)]}
    inst = _instance(cat, [{"framework": "pytorch", "gpu_count": 1}] * 3, inv)
    asked: list[int] = []
    configurations = inst.configurations
    inst.configurations = lambda sizes, free: asked.append(free) or configurations(sizes, free)   # type: ignore[method-assign]
    assert lp_start(inst, deadline=time.perf_counter() - 1) is None
    assert asked == []          # the model was not built past the deadline (on 30,000 options that took seconds)
    assert lp_start(inst, deadline=time.perf_counter() + 60) is not None and asked
