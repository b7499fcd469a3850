"""Batch placement, CP-SAT's improvement phase: large-neighbourhood search seeded by the start.

The full count model is too big for CP-SAT to improve a good start within a second of CPU on a
loaded machine (1,000 requests on ~350 node groups: thousands of variables, seconds of presolve).
A neighbourhood is small: the requests placed on a few *families* of node groups (same GPU
product, same cluster) plus every request left unplaced that could use them. `lns_improve`
repeatedly frees one neighbourhood (everything else stays where it is and keeps its GPUs and
quota share), solves it exactly with CP-SAT (the same configuration rows as `batch_cpsat`, on
whole member nodes, since all their requests are free), and keeps the result when the batch's
lexicographic objective improves. Neighbourhoods are drawn with a fixed seed, families that
unplaced requests could use first. Each sub-solve is bounded by CP-SAT's deterministic time
(`SUB_DET_S`), and the search stops at the deadline or after `STALL_SWEEPS` x (families /
`FAMILIES`) neighbourhoods in a row without an improvement: when it stops that way, the answer
does not depend on the machine's speed or load.

The sub-model's objective is placed count and the first policy terms as one weighted sum (mixed
radix over the neighbourhood's value spans, as `lex_weights`; terms are added while the weights
stay below 2^60), so one more request placed always wins, then the first term, and so on.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ortools.sat.python import cp_model

from solver.engines.batch_cpsat import layout_slots, objective
from solver.engines.batch_heuristics import Where, _finish

if TYPE_CHECKING:
    from solver.engines.batch import _Instance

__all__ = ["FAMILIES", "lns_improve"]

FAMILIES = 2            # families of node groups freed per neighbourhood
SUB_DET_S = 0.05        # CP-SAT deterministic time per neighbourhood (machine- and load-independent)
STALL_SWEEPS = 2        # stop after this many sweeps' worth of neighbourhoods without an improvement
MAX_WEIGHT = 2 ** 60


def lns_improve(inst: _Instance, where: Where, deadline: float, seed: int = 0) -> tuple[dict[tuple[int, int], int], Where, dict[str, int]]:
    """Improve `where` (a legal placement) until `deadline`; returns (counts, where, stats)."""
    where = list(where)
    rng = random.Random(seed)
    families: dict[tuple[str | None, str | None], list[int]] = {}
    group_of: dict[int, object] = {}
    for opts in inst.options:
        for o in opts:
            g = o.group
            if inst.size(o.cls) and g.index not in group_of:
                group_of[g.index] = g
                families.setdefault((g.gpu_product, g.cluster), []).append(g.index)
    names = sorted(families, key=str)
    stats = {"neighbourhoods": 0, "improved": 0, "optimal": 0}
    cls_of = {i: c for c, ms in enumerate(inst.members) for i in ms}
    best = objective(inst, _finish(inst, where)[0])
    stall, patience = 0, STALL_SWEEPS * max(1, math.ceil(len(names) / FAMILIES))
    while time.perf_counter() < deadline - 0.05 and names and stall < patience:
        # families unplaced requests could use weigh more
        wanted: dict[tuple[str | None, str | None], int] = {}
        for i, w in enumerate(where):
            if w is None and inst.size(cls_of[i]):
                for o in inst.options[cls_of[i]]:
                    key = (o.group.gpu_product, o.group.cluster)
                    wanted[key] = wanted.get(key, 0) + 1
        weights = [1 + wanted.get(n, 0) for n in names]
        chosen: set[tuple[str | None, str | None]] = set()
        while len(chosen) < min(FAMILIES, len(names)):
            chosen.add(rng.choices(names, weights=weights)[0])
        groups = {gi for n in chosen for gi in families[n]}
        stats["neighbourhoods"] += 1
        whole = len(chosen) == len(names)
        trial, optimal = _solve(inst, where, groups, cls_of, deadline - time.perf_counter(),
                                None if whole else SUB_DET_S)
        stall += 1
        if trial is not None:
            value = objective(inst, _finish(inst, trial)[0])
            if value > best:
                best, where = value, trial
                stats["improved"] += 1
                stall = 0
        if whole and optimal:       # the neighbourhood was the whole batch, solved exactly: done
            stats["optimal"] = 1
            break
    counts, where = _finish(inst, where)
    return counts, where, stats


def _solve(inst: _Instance, where: Where, groups: set[int], cls_of: Mapping[int, int],
           limit_s: float, det_s: float | None) -> tuple[Where | None, bool]:
    """One neighbourhood: the requests on `groups` and the unplaced ones re-placed exactly on
    `groups`; returns (the new placement or None, whether CP-SAT proved it optimal there)."""
    if limit_s <= 0.02:
        return None, False
    free_req: dict[int, list[int]] = {}      # class -> requests free in this neighbourhood
    quota_left = dict(inst.quotas)
    for i, w in enumerate(where):
        c = cls_of[i]
        if not inst.size(c):
            continue
        if w is None or inst.options[c][w[1]].group.index in groups:
            free_req.setdefault(c, []).append(i)
        else:
            cluster = inst.options[c][w[1]].group.cluster
            if cluster in quota_left:
                quota_left[cluster] -= inst.size(c)
    m = cp_model.CpModel()
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    by_group: dict[int, list[tuple[int, int]]] = {}
    for c, reqs in free_req.items():
        row = []
        for j, o in enumerate(inst.options[c]):
            g = o.group
            if g.index not in groups:
                continue
            cap = min(len(reqs), len(g.nodes) * (g.free // inst.size(c)))
            if cap <= 0:
                continue
            y[(c, j)] = v = m.NewIntVar(0, cap, "")
            row.append(v)
            by_group.setdefault(g.index, []).append((c, j))
        if row:
            m.Add(sum(row) <= len(reqs))
    if not y:
        return None, True
    hint: dict[tuple[int, int], int] = {}
    for w in where:
        if w is not None and (w[0], w[1]) in y:
            hint[(w[0], w[1])] = hint.get((w[0], w[1]), 0) + 1
    for key, v in y.items():
        m.AddHint(v, hint.get(key, 0))
    zs: dict[int, tuple[list[int], list[tuple[int, ...]], list[cp_model.IntVar]]] = {}
    for gi, keys in by_group.items():
        g = inst.options[keys[0][0]][keys[0][1]].group
        sizes = sorted({inst.size(c) for c, _ in keys})
        confs = inst.configurations(sizes, g.free)
        if confs is None:       # too many configurations for this neighbourhood: leave it as it is
            return None, False
        z = [m.NewIntVar(0, len(g.nodes), "") for _ in confs]
        m.Add(sum(z) <= len(g.nodes))
        for si, s in enumerate(sizes):
            m.Add(sum(y[k] for k in keys if inst.size(k[0]) == s) <= sum(conf[si] * zv for conf, zv in zip(confs, z, strict=True)))
        zs[gi] = (sizes, confs, z)
    for cluster, left in quota_left.items():
        used = [inst.size(c) * y[(c, j)] for gi, keys in by_group.items()
                if inst.options[keys[0][0]][keys[0][1]].group.cluster == cluster for c, j in keys]
        if used:
            m.Add(sum(used) <= max(0, left))
    # placed, then the first policy terms, as one mixed-radix weighted sum
    width = len(inst.policy.order)
    n_free = sum(len(r) for r in free_req.values())
    cols: list[dict[tuple[int, int], int]] = [dict.fromkeys(y, 1)]
    for t in range(width):
        col = {k: inst.options[k[0]][k[1]].terms[t] for k in y}
        scale = math.gcd(*col.values()) or 1
        cols.append({k: v // scale for k, v in col.items()})
    spans = [n_free * (max(0, max(col.values())) - min(0, min(col.values()))) + 1 for col in cols]
    used_cols = 1
    total = spans[0]
    while used_cols < len(cols) and total * spans[used_cols] < MAX_WEIGHT:
        total *= spans[used_cols]
        used_cols += 1
    weights = [1] * used_cols
    for k in range(used_cols - 2, -1, -1):
        weights[k] = weights[k + 1] * spans[k + 1]
    m.Maximize(sum(sum(weights[k] * cols[k][key] for k in range(used_cols)) * v for key, v in y.items()))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = limit_s
    if det_s is not None:
        solver.parameters.max_deterministic_time = det_s
    code = solver.Solve(m)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    out = list(where)
    for reqs in free_req.values():
        for i in reqs:
            out[i] = None
    queue = {c: list(reqs) for c, reqs in free_req.items()}
    for gi, (sizes, confs, z) in zs.items():
        slots = layout_slots(inst.options[by_group[gi][0][0]][by_group[gi][0][1]].group.nodes, sizes, confs,
                             [solver.Value(zv) for zv in z])
        for c, j in sorted(by_group[gi], key=lambda k: inst.options[k[0]][k[1]].key, reverse=True):
            for _ in range(solver.Value(y[(c, j)])):
                nodes = slots[inst.size(c)]
                if not nodes or not queue[c]:
                    return None, False      # cannot happen for a model-feasible solution
                out[queue[c].pop(0)] = (c, j, nodes.pop(0))
    return out, code == cp_model.OPTIMAL
