"""Batch placement, CP-SAT's start: the LP relaxation of the count model, rounded to a placement.

The configuration model of `batch_cpsat` has a strong linear relaxation (on the contended family
its LP bound is within ~1 % of the optimum of the placed count and of the cached bytes): the LP
optimum is close to an integer one, and CP-SAT's own search needs seconds of CPU to find a
solution near it. So before CP-SAT, `lp_start` solves the relaxation with GLOP (the same rows:
class totals, one configuration count per capacity pool, slots per size, cluster quotas; every
option, not a neighbourhood), lexicographically (placed count, then the policy terms, each stage
keeping the previous values), and rounds it:

1. per capacity pool (the member nodes of a node group that have the same free GPUs), the
   configuration counts rounded down are laid on its nodes in name order;
2. the options' counts rounded down fill those slots, best-keyed class first;
3. the requests still unplaced and the capacity still free form a smaller instance: its LP is
   solved and rounded the same way (`ROUNDS` in all, while they place something);
4. every request still unplaced then goes, most constrained first (as `scarce_first`), to its
   best-keyed option with a member node that has room, within the quotas.

The result is a legal placement (every step checks the nodes' free GPUs and the quotas), scored
like a heuristic and handed to CP-SAT as its hint and floor when it is better than the best
heuristic. The first LP's placed value is an upper bound on the placed count of every legal
placement. CPU-only requests take no capacity: they are left to step 4 (their best option) and
counted into the bound. Pools with more than `LP_MAX_CONFIGS` configurations (many request
sizes on large nodes) get one aggregate capacity row (a relaxation, so the bound still holds) and
no slots: their requests are placed by step 4. Building the LP checks the deadline too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ortools.linear_solver import pywraplp

from solver.engines.batch_heuristics import Where, _Capacity, _classes, _finish, _first_fit_one

if TYPE_CHECKING:
    from solver.engines.batch import _Instance

__all__ = ["ROUNDS", "LpStart", "lp_start"]

EPS = 1e-6
STAGE_TOL = 1e-6    # relative slack when a stage's LP value is kept as a floor for the next
ROUNDS = 6          # LP solves at most: the whole instance, then what is left, ...
LP_MAX_CONFIGS = 24     # a pool with more configurations gets one aggregate capacity row (keeps the LP small)

Key = tuple[int, int, int]      # (class, option, pool free GPUs)


@dataclass
class LpStart:
    counts: dict[tuple[int, int], int]      # the rounded placement, as a heuristic returns it
    where: Where
    values: list[float]                     # first LP's optimum per stage (placed count, then the terms)
    support: set[tuple[int, int]]           # options the first LP solution uses (> 0)
    rounds: int = 0                         # LP solves done


@dataclass
class _Solution:
    values: list[float]
    y: dict[Key, float]
    z: dict[tuple[int, int], list[float]]                   # (group, free) -> per configuration
    confs: dict[tuple[int, int], tuple[list[int], list[tuple[int, ...]]]]
    nodes: dict[tuple[int, int], list[str]]


def lp_start(inst: _Instance, deadline: float | None = None, stages: int | None = None,
             rounds: int = ROUNDS) -> LpStart | None:
    """Round the lexicographic LP relaxation (see the module docstring); None when there is no GPU
    option or GLOP fails or the deadline passes before the first LP. `stages`: how many objective
    stages (placed count first) each LP solves; all by default."""
    cap = _Capacity(inst)
    where: Where = [None] * len(inst.requests)
    queue = {c: list(ms) for c, ms in enumerate(inst.members) if inst.size(c) and inst.options[c]}
    first: _Solution | None = None
    done = 0
    for _ in range(rounds):
        if not any(queue.values()):
            break
        sol = _solve(inst, cap, queue, deadline, stages)
        if sol is None:
            break
        done += 1
        if first is None:
            first = sol
        if not _round(inst, cap, where, queue, sol):
            break
    if first is None:
        return None
    # CPU-only requests: no capacity, each its best option (step 4); they count into the bound
    cpu = [(len(inst.members[c]), opts[0].terms) for c, opts in enumerate(inst.options)
           if not inst.size(c) and opts]
    values = [v + (sum(n for n, _ in cpu) if k == 0 else sum(n * t[k - 1] for n, t in cpu))
              for k, v in enumerate(first.values)]
    _complete(inst, cap, where)
    counts, where = _finish(inst, where)
    return LpStart(counts, where, values, {(c, j) for (c, j, _), v in first.y.items() if v > EPS}, done)


def _pools(inst: _Instance, cap: _Capacity, classes: list[int]) -> dict[tuple[int, int], list[str]]:
    """(group index, free GPUs) -> the group's member nodes with that many GPUs free (name order)."""
    out: dict[tuple[int, int], list[str]] = {}
    seen: set[int] = set()
    for c in classes:
        for o in inst.options[c]:
            g = o.group
            if g.index in seen:
                continue
            seen.add(g.index)
            for n in g.nodes:
                f = cap.left.get((g.index, n), g.free)
                if f > 0:
                    out.setdefault((g.index, f), []).append(n)
    return out


def _solve(inst: _Instance, cap: _Capacity, queue: dict[int, list[int]], deadline: float | None,
           stages: int | None) -> _Solution | None:
    s = pywraplp.Solver.CreateSolver("GLOP")
    if s is None:       # pragma: no cover - GLOP ships with ortools
        return None
    inf = s.infinity()

    def row(ub: float, coefs: list[tuple[pywraplp.Variable, float]], lb: float = -inf) -> None:
        ct = s.Constraint(lb, ub)
        for v, a in coefs:
            ct.SetCoefficient(v, a)

    classes = [c for c, q in queue.items() if q]
    pools = _pools(inst, cap, classes)
    by_group: dict[int, list[int]] = {}
    for gi, f in pools:
        by_group.setdefault(gi, []).append(f)
    y: dict[Key, pywraplp.Variable] = {}
    by_pool: dict[tuple[int, int], list[Key]] = {}
    for c in classes:
        if deadline is not None and time.perf_counter() > deadline:
            return None
        n_c, size = len(queue[c]), inst.size(c)
        total = []
        for j, o in enumerate(inst.options[c]):
            for f in by_group.get(o.group.index, ()):
                k = min(n_c, len(pools[(o.group.index, f)]) * (f // size))
                if k <= 0:
                    continue
                y[(c, j, f)] = v = s.NumVar(0, k, "")
                total.append((v, 1))
                by_pool.setdefault((o.group.index, f), []).append((c, j, f))
        if total:
            row(n_c, total)
    if not y:
        return None
    z: dict[tuple[int, int], list[pywraplp.Variable]] = {}
    confs_of: dict[tuple[int, int], tuple[list[int], list[tuple[int, ...]]]] = {}
    quota_rows: dict[str, list[tuple[pywraplp.Variable, float]]] = {}
    for pool, keys in by_pool.items():
        nodes = pools[pool]
        g = inst.options[keys[0][0]][keys[0][1]].group
        sizes = sorted({inst.size(k[0]) for k in keys})
        if deadline is not None and time.perf_counter() > deadline:
            return None
        confs = inst.configurations(sizes, pool[1])
        if confs is None or len(confs) > LP_MAX_CONFIGS:    # one aggregate row: a relaxation, no slots
            row(len(nodes) * pool[1], [(y[k], inst.size(k[0])) for k in keys])
        else:
            z[pool] = zs = [s.NumVar(0, len(nodes), "") for _ in confs]
            row(len(nodes), [(zv, 1) for zv in zs])
            for si, size in enumerate(sizes):   # requests of this size <= the slots of this size
                row(0, [(y[k], 1) for k in keys if inst.size(k[0]) == size]
                    + [(zv, -conf[si]) for conf, zv in zip(confs, zs, strict=True) if conf[si]])
            confs_of[pool] = (sizes, confs)
        if g.cluster in cap.quota:
            quota_rows.setdefault(g.cluster, []).extend((y[k], inst.size(k[0])) for k in keys)
    for cluster, terms in sorted(quota_rows.items()):
        row(cap.quota[cluster], terms)
    exprs: list[list[tuple[pywraplp.Variable, float]]] = [[(v, 1) for v in y.values()]]
    scales = [1]
    for t in range(len(inst.policy.order)):
        coef = {k: inst.options[k[0]][k[1]].terms[t] for k in y}
        scales.append(math.gcd(*coef.values()) or 1)    # cached bytes come in steps of 10^8: keep LP numbers small
        exprs.append([(y[k], v // scales[-1]) for k, v in coef.items() if v])
    values: list[float] = []
    found: tuple[dict[Key, float], dict[tuple[int, int], list[float]]] | None = None
    obj = s.Objective()
    for k, expr in enumerate(exprs[: stages or len(exprs)]):
        if not expr:        # a term that is 0 on every option: its optimum is 0
            values.append(0.0)
            continue
        if deadline is not None:
            left = deadline - time.perf_counter()
            if left <= 0.02:
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
        found = ({key: var.solution_value() for key, var in y.items()},
                 {pool: [zv.solution_value() for zv in zs] for pool, zs in z.items()})
        row(inf, expr, lb=value - STAGE_TOL * max(1.0, abs(value)))   # the next stages keep this value
        if k == 0 and value < 0.5:
            break
    if found is None:
        return None
    return _Solution(values, found[0], found[1], confs_of, {p: pools[p] for p in by_pool})


def _round(inst: _Instance, cap: _Capacity, where: Where, queue: dict[int, list[int]], sol: _Solution) -> int:
    """Steps 1-2 on one LP solution; returns how many requests it placed."""
    placed = 0
    by_pool: dict[tuple[int, int], list[Key]] = {}
    for k in sol.y:
        by_pool.setdefault((inst.options[k[0]][k[1]].group.index, k[2]), []).append(k)
    for pool, (sizes, confs) in sorted(sol.confs.items()):
        # step 1: configurations rounded down, laid on the pool's nodes in name order
        per_node: list[tuple[str, tuple[int, ...]]] = []
        nodes = iter(sol.nodes[pool])
        for conf, zv in sorted(zip(confs, sol.z[pool], strict=True), key=lambda t: -t[1]):
            for _ in range(math.floor(zv + EPS)):
                per_node.append((next(nodes), conf))
        # step 2: the options' rounded-down counts fill the slots, best-keyed class first
        keys = by_pool.get(pool, [])
        want = {k: math.floor(sol.y[k] + EPS) for k in keys}
        used: dict[tuple[str, int], int] = {}      # (node, size) -> slots of that size taken
        for key in sorted(keys, key=lambda k: inst.options[k[0]][k[1]].key, reverse=True):
            c, j, _ = key
            size = inst.size(c)
            si = sizes.index(size)
            for node, conf in per_node:
                while (want[key] > 0 and queue[c] and used.get((node, size), 0) < conf[si]
                       and cap.quota_ok(c, j) and cap.free(c, j, node) >= size):
                    i = queue[c].pop(0)
                    cap.take(c, j, node)
                    where[i] = (c, j, node)
                    used[(node, size)] = used.get((node, size), 0) + 1
                    want[key] -= 1
                    placed += 1
                if want[key] <= 0 or not queue[c]:
                    break
    return placed


def _complete(inst: _Instance, cap: _Capacity, where: Where) -> None:
    """Step 4: every request still unplaced, most constrained first, to its best-keyed option with room."""
    cls_of = _classes(inst)
    room = [sum(len(o.group.nodes) * o.group.free for o in opts) for opts in inst.options]
    rest = [i for i, w in enumerate(where) if w is None]
    for i in sorted(rest, key=lambda i: (room[cls_of[i]], -inst.size(cls_of[i]), i)):
        _first_fit_one(inst, cap, where, i, cls_of[i])
