"""Batch placement, CP-SAT's start: the LP relaxation of the count model, rounded to a placement.

The configuration model of `batch_cpsat` has a strong linear relaxation (on the contended family
its LP bound equals the optimum of the placed count and of the cached bytes): the LP optimum is
close to an integer one, and CP-SAT's own search needs seconds to find a solution near it. So
before CP-SAT, `lp_start` solves the relaxation with GLOP (the same variables and rows: class
totals, one configuration count per node group, slots per size, cluster quotas), lexicographically
(placed count, then each policy term, each stage keeping the previous values), and rounds it:

1. per node group, the configuration counts rounded down are laid on its member nodes in name
   order (the remaining members stay empty);
2. the options' counts rounded down fill those slots, best-keyed class first;
3. every request still unplaced then goes, most constrained first (as `scarce_first`), to its
   best-keyed option with a member node that has room on what is left, within the quotas.

The result is a legal placement (every step checks the nodes' free GPUs and the quotas), scored
like a heuristic and handed to CP-SAT as its hint and floor when it is better than the best
heuristic. Groups with more than `MAX_CONFIGS` configurations get one aggregate capacity row in
the LP (a relaxation) and no slots: their requests are placed by step 3.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ortools.linear_solver import pywraplp

from solver.engines.batch_cpsat import MAX_CONFIGS, configurations
from solver.engines.batch_heuristics import Where, _Capacity, _classes, _finish

if TYPE_CHECKING:
    from solver.engines.batch import _Instance

__all__ = ["LpStart", "lp_start"]

EPS = 1e-6
STAGE_TOL = 1e-6    # relative slack when a stage's LP value is kept as a floor for the next


@dataclass
class LpStart:
    counts: dict[tuple[int, int], int]      # the rounded placement, as a heuristic returns it
    where: Where
    values: list[float]                     # LP optimum per stage solved (placed count, then the terms)
    support: set[tuple[int, int]]           # options the LP solution uses (> 0)


def lp_start(inst: _Instance, deadline: float | None = None, stages: int | None = None) -> LpStart | None:
    """Round the lexicographic LP relaxation (see the module docstring); None when there is no GPU
    option, GLOP fails or the deadline passes before the first stage. `stages`: how many objective
    stages (placed count first) to solve; all by default. `values[0]` is an upper bound on the
    placed count of any legal placement (of every option, not only a neighbourhood)."""
    s = pywraplp.Solver.CreateSolver("GLOP")
    if s is None:       # pragma: no cover - GLOP ships with ortools
        return None
    inf = s.infinity()

    def row(ub: float, coefs: list[tuple[pywraplp.Variable, float]], lb: float = -inf) -> None:
        ct = s.Constraint(lb, ub)
        for v, a in coefs:
            ct.SetCoefficient(v, a)

    y: dict[tuple[int, int], pywraplp.Variable] = {}
    by_group: dict[int, list[tuple[int, int]]] = {}
    for c, opts in enumerate(inst.options):
        n_c, size = len(inst.members[c]), inst.size(c)
        total = []
        for j, o in enumerate(opts):
            cap = n_c if not size else min(n_c, len(o.group.nodes) * (o.group.free // size))
            if cap <= 0:
                continue
            y[(c, j)] = v = s.NumVar(0, cap, "")
            total.append((v, 1))
            if size:
                by_group.setdefault(o.group.index, []).append((c, j))
        if total:
            row(n_c, total)
    if not by_group:
        return None
    slots: dict[int, tuple[list[int], list[tuple[int, ...]], list[pywraplp.Variable]]] = {}
    quota_rows: dict[str, list[tuple[pywraplp.Variable, float]]] = {}
    for gi, keys in by_group.items():
        g = inst.options[keys[0][0]][keys[0][1]].group
        sizes = sorted({inst.size(c) for c, _ in keys})
        confs = configurations(sizes, g.free, MAX_CONFIGS)
        if confs is None:
            row(len(g.nodes) * g.free, [(y[(c, j)], inst.size(c)) for c, j in keys])
        else:
            z = [s.NumVar(0, len(g.nodes), "") for _ in confs]
            row(len(g.nodes), [(zv, 1) for zv in z])
            for si, size in enumerate(sizes):   # requests of this size <= the slots of this size
                row(0, [(y[k], 1) for k in keys if inst.size(k[0]) == size]
                    + [(zv, -conf[si]) for conf, zv in zip(confs, z, strict=True) if conf[si]])
            slots[gi] = (sizes, confs, z)
        if g.cluster in inst.quotas:
            quota_rows.setdefault(g.cluster, []).extend((y[(c, j)], inst.size(c)) for c, j in keys)
    for cluster, terms in sorted(quota_rows.items()):
        row(inst.quotas[cluster], terms)
    exprs: list[list[tuple[pywraplp.Variable, float]]] = [[(v, 1) for v in y.values()]]
    scales = [1]
    for t in range(len(inst.policy.order)):
        coef = {k: inst.options[k[0]][k[1]].terms[t] for k in y}
        scales.append(math.gcd(*coef.values()) or 1)    # cached bytes come in steps of 10^8: keep LP numbers small
        exprs.append([(y[k], v // scales[-1]) for k, v in coef.items() if v])
    values: list[float] = []
    sol: tuple[dict[tuple[int, int], float], dict[int, list[float]]] = ({}, {})
    obj = s.Objective()
    for k, expr in enumerate(exprs[: stages or len(exprs)]):
        if not expr:        # a term that is 0 on every option: its optimum is 0
            values.append(0.0)
            continue
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0.05:
                break
            s.SetTimeLimit(int(left * 1000))
        obj.Clear()
        for v, a in expr:
            obj.SetCoefficient(v, a)
        obj.SetMaximization()
        if s.Solve() != pywraplp.Solver.OPTIMAL:
            break
        value = obj.Value()
        values.append(value * scales[k])
        sol = ({key: var.solution_value() for key, var in y.items()},
               {gi: [zv.solution_value() for zv in z] for gi, (_, _, z) in slots.items()})
        row(inf, expr, lb=value - STAGE_TOL * max(1.0, abs(value)))   # the next stages keep this value
        if k == 0 and value < 0.5:
            break
    if not values:
        return None
    counts, where = _round(inst, *sol, by_group, slots)
    return LpStart(counts, where, values, {k for k, v in sol[0].items() if v > EPS})


def _round(inst: _Instance, y: dict[tuple[int, int], float], zs: dict[int, list[float]],
           by_group: dict[int, list[tuple[int, int]]],
           slots: dict[int, tuple[list[int], list[tuple[int, ...]], list[Any]]]) -> tuple[dict[tuple[int, int], int], Where]:
    cap = _Capacity(inst)
    where: Where = [None] * len(inst.requests)
    queue = {c: list(ms) for c, ms in enumerate(inst.members)}
    for gi, (sizes, confs, _z) in sorted(slots.items()):
        keys = by_group[gi]
        g = inst.options[keys[0][0]][keys[0][1]].group
        # step 1: configurations rounded down, laid on the member nodes in name order
        per_node: list[tuple[str, tuple[int, ...]]] = []
        nodes = iter(g.nodes)
        for conf, zv in sorted(zip(confs, zs[gi], strict=True), key=lambda t: -t[1]):
            for _ in range(math.floor(zv + EPS)):
                per_node.append((next(nodes), conf))
        # step 2: the options' rounded-down counts fill the slots, best-keyed class first
        want = {k: math.floor(y[k] + EPS) for k in keys}
        used: dict[tuple[str, int], int] = {}      # (node, size) -> slots of that size taken
        for c, j in sorted(keys, key=lambda k: inst.options[k[0]][k[1]].key, reverse=True):
            size = inst.size(c)
            si = sizes.index(size)
            for node, conf in per_node:
                while (want[(c, j)] > 0 and queue[c] and used.get((node, size), 0) < conf[si]
                       and cap.quota_ok(c, j) and cap.free(c, j, node) >= size):
                    i = queue[c].pop(0)
                    cap.take(c, j, node)
                    where[i] = (c, j, node)
                    used[(node, size)] = used.get((node, size), 0) + 1
                    want[(c, j)] -= 1
                if want[(c, j)] <= 0 or not queue[c]:
                    break
    # step 3: the rest, most constrained first, each to its best-keyed option with room
    cls_of = _classes(inst)
    room = [sum(len(o.group.nodes) * o.group.free for o in opts) for opts in inst.options]
    rest = [i for c in queue for i in queue[c]]
    for i in sorted(rest, key=lambda i: (room[cls_of[i]], -inst.size(cls_of[i]), i)):
        c = cls_of[i]
        need = inst.size(c)
        for j, o in enumerate(inst.options[c]):
            if not cap.quota_ok(c, j):
                continue
            node = next((n for n in o.group.nodes if cap.free(c, j, n) >= need), None)
            if node is not None:
                cap.take(c, j, node)
                where[i] = (c, j, node)
                break
    return _finish(inst, where)

