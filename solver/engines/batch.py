"""Batch placement: many requests at once, respecting every node's free GPUs.

The workflow runner and replica placement ask for N placements together; placing them one by
one can strand requests (an early request takes the only 8-GPU node a later one needed).

Pipeline:
1. *Options.* Identical requests form a class. Per class the core builds its `Problem`; one
   vectorised `fast.RowScores` evaluation gives every open node group (nodes identical for rules
   and policy) its best runtime and objective terms, as `Problem.key` scores the pair. GPU classes share the request-independent
   base groups, so a group is one capacity pool: `k` member nodes with `f` free GPUs each of one
   product. CPU-only requests use no GPUs, never compete, and take their single-select best.
2. *Heuristics* (`batch_heuristics`: baselines, hint and floor): greedy first-fit (requests in
   order, each to the best-keyed option whose group still has a member node, in name order, with
   enough free GPUs), best-fit-decreasing (largest requests first, each to the tightest node
   among all its options) and scarce-first (requests whose options hold the fewest free GPUs
   first, then larger ones, each as first-fit). All respect the cluster quotas. The best one
   (first-fit on a tie) is CP-SAT's hint and floor.
3. *LP start* (`batch_lp`): the linear relaxation of the model below over every option (GLOP,
   lexicographic: placed count, then the first policy term), rounded down and completed most
   constrained first. Its placed value is an upper bound for every legal placement (the
   `placed_bound` that settles CP-SAT's first stage when reached); when the rounding beats the
   best heuristic it is CP-SAT's hint and floor instead, and the options the LP uses stay in a
   restricted model.
4. *CP-SAT* on integer counts `y[c, g]` = requests of class c placed in group g. Capacity of a
   group with sizes S (the GPU counts of the classes that may use it) is modelled with node
   *configurations*: a configuration is a maximal multiset of sizes from S that fits in `f`;
   `z[g, conf]` counts member nodes packed that way, `sum z <= k`, and for each size s the
   requests of size s in g are at most the slots of size s the configurations offer. This is an
   exact packing argument: any packing of the k nodes maps each node to a maximal configuration
   that dominates its contents (so z exists), and any (y, z) meeting the constraints is realised
   by filling each node's slots in name order (so a packing exists). One size gives one
   configuration, i.e. `sum y <= k * (f // s)`. When a group has more than `MAX_CONFIGS`
   configurations the model falls back to one capacity constraint per member node (also exact),
   with the member nodes' loads ordered (symmetry breaking: they are identical). *Quotas*: per
   cluster, `sum size(c) * y[c, g]` over the cluster's groups is at most its quota.
5. *Objective*, lexicographic: placed requests, then the sum over placed requests of each
   policy term in `policy.order` (cached bytes, newest rank, fit, idle GPUs, preference) exactly
   as single selection scores the pair, each term divided by the gcd of its values (exact).
   The placed count and the first term are one stage, `placed * W + term` with W larger than any
   difference of the term (one more request placed always wins), so the start's term values are
   kept while the count improves; then each further term its own stage (maximise, fix, next).
   The per-node name tie-break is not part of the batch objective. Every stage starts from the
   start (LP rounding or best heuristic) as a hint, keeps the previous stages' values, and the
   result is compared with the start: the better one (the start on a tie) is returned, so the
   batch is never worse than any heuristic, also when CP-SAT runs out of time (each stage keeps
   the best solution found by its deadline). The first stage gets `FIRST_STAGE_SHARE` of the
   CP-SAT time, each later one half of what is left; the proven bound of every term solved is
   in `stats["bounds"]` (value, bound; None where the bound is not known).
6. *Packing*: CP-SAT's node configurations are laid on the member nodes in name order and the
   counts fill their slots (`pack` with the layout), which realises the counts exactly.
If the best heuristic already gives every request its single-selection best option, it is
optimal for every stage (each sum is at its per-request maximum) and CP-SAT is skipped; if it
places every request that has any option, the first stage is settled without a solve.

Large batches (more than `MAX_VARS` class x group options, e.g. 60 models on 850 groups) do not
build the whole model: CP-SAT improves the start by large-neighbourhood search (`batch_lns`:
the requests on two families of node groups (GPU product x cluster) and the unplaced ones
re-placed exactly, everything else kept, the result kept when the objective improves) until the
time limit; the LP relaxation's value is the bound on the placed count. "Never worse than
greedy" still holds. (`cpsat_counts` itself can restrict its model to a neighbourhood: each
class's best options until they could hold `SLACK` times its requests, plus every option a
heuristic or the LP used; its bounds then hold within that neighbourhood only.) `time_limit_s` bounds the whole plan: option building,
greedy and the explanations of classes no node can run come first, and the CP-SAT stages get
what is left (minus `FINISH_S` for packing and the answer; none below `MIN_CPSAT_S`) (the option
building before them costs one single-selection evaluation per model and node group).

One CP-SAT worker, fixed seed, stable orders everywhere: the same answer for the same input as
long as no stage stops at its time limit (a stage that does keeps what it found by then, which
depends on the machine's speed and load). The neighbourhood search bounds each step by CP-SAT's
deterministic time and stops when it stalls, so it too answers the same when it stalls before the
time limit.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from catalog import Catalog
from solver.engines.batch_cpsat import MAX_CONFIGS, MAX_VARS, SLACK, configurations, cpsat_counts, pack
from solver.engines.batch_cpsat import objective as _objective
from solver.engines.batch_heuristics import HEURISTICS
from solver.engines.batch_lns import lns_improve
from solver.engines.batch_lp import lp_start
from solver.engines.fast import assignment
from solver.facts.groups import NodeGroup
from solver.facts.problem import Problem, build_problem, indexes
from solver.index.catalog_index import CatalogIndex
from solver.index.fleet_index import FleetIndex
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest, parse_request
from solver.result import BatchSelection, Conflict, Selection
from solver.select import choice_gaps, confidence, gap_lines

__all__ = ["MAX_CONFIGS", "MAX_VARS", "SLACK", "BatchPlan", "configurations", "plan_batch", "select_batch"]

log = logging.getLogger(__name__)
FINISH_S = 0.25      # kept from the time limit for packing and building the answer after CP-SAT
MIN_CPSAT_S = 0.25   # below this, CP-SAT is not started (greedy's answer stands)
LP_SHARE = 0.5      # most of the CP-SAT time the LP relaxation (CP-SAT's start) may take
LP_STAGES = 2       # LP objective stages: placed count, then the first policy term


@dataclass(frozen=True)
class _Option:
    cls: int
    group: NodeGroup
    cand: Any
    key: tuple[int, ...]
    terms: tuple[int, ...]


@dataclass
class BatchPlan:
    """A batch answer plus how it was found (for tests and the benchmark)."""

    selection: BatchSelection
    objective: tuple[int, ...]          # (placed, sum of term 1, ...) — bigger is better
    greedy_objective: tuple[int, ...]   # first-fit's (the baseline)
    engine: str                         # "cpsat" | "<heuristic>-optimal" | "<heuristic>-cpsat-equal" |
                                        # "<heuristic>-fallback" | "<heuristic>" (asked for, no CP-SAT)
    status: str                         # CP-SAT status of the last stage, or "skipped"
    wall_s: float = 0.0
    heuristics: dict[str, tuple[int, ...]] = field(default_factory=dict)   # objective per heuristic run
    stats: dict[str, Any] = field(default_factory=dict)


class _Instance:
    """Classes, options and capacity pools of one batch."""

    def __init__(self, catalog: Catalog, requests: list[ModelRequest], inventory: Inventory, policy: Policy,
                 quotas: Mapping[str, int] | None = None, index: CatalogIndex | FleetIndex | None = None):
        self.catalog, self.inventory, self.policy = catalog, inventory, policy
        self.quotas: dict[str, int] = dict(quotas or {})
        self._configs: dict[tuple[tuple[int, ...], int], list[tuple[int, ...]] | None] = {}
        self.fleet = indexes(catalog, inventory, index)[1]
        self.requests = requests
        self.classes: list[ModelRequest] = []
        self.members: list[list[int]] = []
        index: dict[ModelRequest, int] = {}
        for i, r in enumerate(requests):
            k = replace(r, name=None)           # replicas of one model differ only by name
            if k not in index:
                index[k] = len(self.classes)
                self.classes.append(k)
                self.members.append([])
            self.members[index[k]].append(i)
        self.problems: list[Problem] = [build_problem(catalog, r, inventory, policy, index=self.fleet)
                                        for r in self.classes]
        self.options: list[list[_Option]] = []
        width = len(policy.order)
        for c, p in enumerate(self.problems):
            # one vectorised single-selection evaluation per class: the open groups (no node check
            # fails) with a runtime, their best runtime and key (`Problem.key` of the pair)
            scores = p.scores()
            rows = scores.ranked_rows().tolist()
            cols = [col.tolist() for col in scores.columns]
            opts = []
            for r in rows:
                key = tuple(col[r] for col in cols)
                opts.append(_Option(c, p.base_groups[r], p.all_candidates[cols[-1][r] * -1], key, key[:width]))
            self.options.append(opts)

    def size(self, c: int) -> int:
        return self.classes[c].gpu_count

    def configurations(self, sizes: Sequence[int], free: int) -> list[tuple[int, ...]] | None:
        """`configurations(sizes, free)`, memoised for this batch (the LP rounds and CP-SAT ask for
        the same ones)."""
        key = (tuple(sizes), free)
        if key not in self._configs:
            self._configs[key] = configurations(sizes, free)
        return self._configs[key]


def _unplaced(inst: _Instance, c: int, infeasible: dict[int, Selection]) -> Selection:
    if not inst.options[c]:
        if c not in infeasible:
            from solver.select import select

            infeasible[c] = select(inst.catalog, inst.classes[c], inst.inventory, policy=inst.policy, index=inst.fleet)
        return infeasible[c]
    nodes = sum(len(o.group.nodes) for o in inst.options[c])
    products = sorted({o.group.gpu_product for o in inst.options[c] if o.group.gpu_product})
    what = f"{inst.size(c)} x {', '.join(products)}" if products else "a node"
    capped = sorted({o.group.cluster for o in inst.options[c] if o.group.cluster in inst.quotas})
    quota = (" or are beyond the batch's GPU quota of cluster(s) "
             + ", ".join(f"{k} ({inst.quotas[k]})" for k in capped)) if capped and inst.size(c) else ""
    return Selection(feasible=False, catalog_revision=inst.catalog.revision,
                     conflicts=(Conflict("no-capacity", f"{nodes} node(s) can run this request ({what}), but their "
                                         "free GPUs went to other requests of the batch" + quota),),
                     suggestions=("free GPUs on those nodes, add nodes, or place this request in a later batch"
                                  + (", or raise the cluster quotas" if quota else ""),),
                     status="infeasible", engine="batch")


def _selection(inst: _Instance, where: list[tuple[int, int, str] | None],
               infeasible: dict[int, Selection]) -> BatchSelection:
    cls_of = {i: c for c, ms in enumerate(inst.members) for i in ms}
    out: list[Selection] = []
    placed = sum(1 for w in where if w is not None)
    for i, w in enumerate(where):
        if w is None:
            out.append(_unplaced(inst, cls_of[i], infeasible))
            continue
        c, j, node = w
        o = inst.options[c][j]
        a = assignment(inst.problems[c], o.cand, o.group, node)
        # the gaps on this node's GPU, as a single selection of this runtime there reports them
        gaps = choice_gaps(inst.catalog, o.cand, a, o.group)
        out.append(Selection(feasible=True, catalog_revision=inst.catalog.revision, choice=a, engine="batch",
                             explanation=(f"batch placement: {placed} of {len(where)} requests placed; "
                                          f"{node} has {o.group.free} free {o.group.gpu_product or 'CPU slot'}; "
                                          f"runtime is this node's best under the policy order "
                                          f"{', '.join(inst.policy.order)}",) + gap_lines(gaps),
                             confidence=confidence(gaps), gaps=gaps))
    return BatchSelection(feasible=all(s.feasible for s in out), catalog_revision=inst.catalog.revision,
                          placements=tuple(out))


def plan_batch(catalog: Catalog, requests: Sequence[ModelRequest | Mapping[str, Any]],
               inventory: Inventory | Mapping[str, Any] | list[Any], *, policy: Policy | None = None,
               time_limit_s: float = 5.0, use_cpsat: bool = True, quotas: Mapping[str, int] | None = None,
               heuristic: str | None = None, index: CatalogIndex | FleetIndex | None = None) -> BatchPlan:
    """Place every request (see the module docstring); returns the answer with its objective and greedy's.

    `quotas`: per cluster, the most GPUs the batch may use there. `heuristic` (a name in
    `HEURISTICS`): return that heuristic's answer, no CP-SAT (baselines); `use_cpsat=False` is
    `heuristic="first-fit"`."""
    t0 = time.perf_counter()
    reqs = [r if isinstance(r, ModelRequest) else parse_request(r) for r in requests]
    inv = inventory if isinstance(inventory, Inventory) else parse_inventory(inventory)
    inst = _Instance(catalog, reqs, inv, policy or Policy(), quotas, index)
    options_s = time.perf_counter() - t0
    if heuristic is None and not use_cpsat:
        heuristic = "first-fit"
    runs: dict[str, tuple[dict[tuple[int, int], int], list[tuple[int, int, str] | None]]] = {}
    values: dict[str, tuple[int, ...]] = {}
    seconds: dict[str, float] = {}
    for name, fn in HEURISTICS.items():
        if heuristic is not None and name != heuristic:
            continue
        t1 = time.perf_counter()
        runs[name] = fn(inst)
        values[name] = _objective(inst, runs[name][0])
        seconds[name] = round(time.perf_counter() - t1, 3)
    if heuristic is not None and heuristic not in runs:
        raise ValueError(f"unknown batch heuristic {heuristic!r}; one of {', '.join(HEURISTICS)}")
    best_h = max(values, key=lambda n: values[n])       # first-fit on a tie (dict order)
    g_counts, g_where = runs[best_h]
    greedy_obj = values.get("first-fit", values[best_h])
    best_obj = values[best_h]
    cls_of = {i: c for c, ms in enumerate(inst.members) for i in ms}
    # classes no node can run are explained (single-selection failure) before CP-SAT, so the
    # time limit covers the whole plan: CP-SAT gets what is left of it
    infeasible: dict[int, Selection] = {}
    for c, opts in enumerate(inst.options):
        if not opts:
            _unplaced(inst, c, infeasible)
    top = all(w[1] == 0 if w is not None else not inst.options[cls_of[i]] for i, w in enumerate(g_where))
    engine, status, counts, where, size = f"{best_h}-optimal", "skipped", g_counts, g_where, {}
    left_s = time_limit_s - (time.perf_counter() - t0) - FINISH_S
    if heuristic is not None:
        engine = heuristic
    elif not top and left_s < MIN_CPSAT_S:
        engine = f"{best_h}-fallback"
    elif not top:
        t1 = time.perf_counter()
        # CP-SAT's start: the LP relaxation rounded, when it beats the best heuristic
        lp = lp_start(inst, deadline=t1 + LP_SHARE * left_s, stages=LP_STAGES)
        lp_s = round(time.perf_counter() - t1, 3)
        start, s_counts, s_where, s_obj = best_h, g_counts, g_where, best_obj
        lp_info: dict[str, Any] = {"lp_s": lp_s}
        if lp is not None:
            lp_obj = _objective(inst, lp.counts)
            lp_info.update(lp_objective=lp_obj, lp_values=[round(v, 3) for v in lp.values], lp_rounds=lp.rounds)
            if lp_obj > best_obj:
                start, s_counts, s_where, s_obj = "lp-round", lp.counts, lp.where, lp_obj
        counts, where = s_counts, s_where
        engine = start if start == "lp-round" else f"{best_h}-fallback"
        size = {}
        if sum(len(o) for o in inst.options) > MAX_VARS:
            # large batch: CP-SAT on neighbourhoods of the start (LNS) for the rest of the time
            t1 = time.perf_counter()
            l_counts, l_where, lns_stats = lns_improve(inst, s_where, t0 + time_limit_s - FINISH_S)
            size = {"lns": lns_stats, "lns_s": round(time.perf_counter() - t1, 3), "restricted": 1}
            status = "optimal" if lns_stats["optimal"] else "timeout"
            if _objective(inst, l_counts) > s_obj:
                engine, counts, where = "cpsat-lns", l_counts, l_where
        else:
            left_s = time_limit_s - (time.perf_counter() - t0) - FINISH_S
            t1 = time.perf_counter()
            best, layout, status, size = cpsat_counts(
                inst, s_counts, left_s, s_where,
                also=[runs[n][0] for n in runs if n != start] + ([dict.fromkeys(lp.support, 1)] if lp else []),
                placed_bound=math.floor(lp.values[0] + 1e-6) if lp else None)
            size["cpsat_s"] = round(time.perf_counter() - t1, 3)
            if best is not None and _objective(inst, best) > s_obj:
                packed = pack(inst, best, layout)
                kept = {}
                for w in packed:
                    if w is not None:
                        kept[(w[0], w[1])] = kept.get((w[0], w[1]), 0) + 1
                if _objective(inst, kept) > s_obj:
                    engine, counts, where = "cpsat", kept, packed
            elif best is not None and _objective(inst, best) == s_obj:
                engine = f"{start}-cpsat-equal"
        size.update(lp_info)
    obj = _objective(inst, counts)
    selection = _selection(inst, where, infeasible)
    wall = time.perf_counter() - t0
    log.info("batch: %d requests, %d classes, placed %d (greedy %d), engine %s, %.2f s", len(reqs),
             len(inst.classes), obj[0], greedy_obj[0], engine, wall)
    return BatchPlan(selection=selection, objective=obj, greedy_objective=greedy_obj, engine=engine,
                     status=status, wall_s=wall, heuristics=values,
                     stats={"classes": len(inst.classes), "options_s": round(options_s, 3),
                            "heuristic_s": seconds, **size})


def select_batch(catalog: Catalog, requests: Sequence[ModelRequest | Mapping[str, Any]],
                 inventory: Inventory | Mapping[str, Any] | list[Any] | None, *, policy: Policy | None = None,
                 time_limit_s: float = 5.0, quotas: Mapping[str, int] | None = None,
                 index: CatalogIndex | FleetIndex | None = None) -> BatchSelection:
    """Place many requests at once; `.to_dict()` -> {"feasible", "catalog_revision", "placements"}.

    `quotas`: per cluster, the most GPUs this batch may use there.

    Without an inventory (hardware planning) there is no capacity to share: each request gets its
    own single selection. `index`: as for `select` (a fleet index of this inventory, or a catalog index).
    """
    if inventory is None:
        from solver.select import select

        cix = index.index if isinstance(index, FleetIndex) else index
        out = tuple(select(catalog, r, None, policy=policy, index=cix) for r in requests)
        return BatchSelection(feasible=all(s.feasible for s in out), catalog_revision=catalog.revision,
                              placements=out)
    return plan_batch(catalog, requests, inventory, policy=policy, time_limit_s=time_limit_s,
                      quotas=quotas, index=index).selection
