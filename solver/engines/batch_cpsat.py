"""Batch placement, step 3: the CP-SAT model on class counts, and packing counts onto nodes.

Split from `batch.py` (see its docstring for the whole pipeline and the exact packing argument):
`configurations` (maximal multisets of request sizes per node), `cpsat_counts` (staged
lexicographic CP-SAT over `y[class, option]` with capacity per node group, hinted with greedy,
restricted to a neighbourhood of the best options on large batches), and `pack` (counts ->
per-request (class, option, node), best options to the earliest requests).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ortools.sat.python import cp_model

from solver.facts.groups import NodeGroup

if TYPE_CHECKING:
    from solver.engines.batch import _Instance

__all__ = ["MAX_CONFIGS", "MAX_VARS", "SLACK", "Layout", "configurations", "cpsat_counts", "layout_slots", "objective", "pack"]

MAX_CONFIGS = 256
MAX_VARS = 4000
SLACK = 3
Layout = dict[int, dict[Any, list[str]]]    # group index -> size or (class, option) -> node per slot
FIRST_STAGE_SHARE = 0.75    # of the CP-SAT time: the placed count is where batches differ most


def objective(inst: _Instance, counts: Mapping[tuple[int, int], int]) -> tuple[int, ...]:
    """(placed, per-term sums) of a solution given as {(class, option index): requests placed}."""
    width = len(inst.policy.order)
    sums = [0] * (width + 1)
    for (c, j), n in counts.items():
        if n:
            sums[0] += n
            for t in range(width):
                sums[t + 1] += n * inst.options[c][j].terms[t]
    return tuple(sums)


def configurations(sizes: Sequence[int], free: int, limit: int = MAX_CONFIGS) -> list[tuple[int, ...]] | None:
    """Maximal multisets (as counts per size, in `sizes` order) of sizes fitting in `free`; None if > limit."""
    sizes = list(sizes)
    out: list[tuple[int, ...]] = []

    def rec(i: int, left: int, counts: list[int]) -> bool:
        if i == len(sizes):
            if all(s > left for s in sizes):      # maximal: nothing else fits
                out.append(tuple(counts))
            return len(out) <= limit
        for n in range(left // sizes[i], -1, -1):
            counts.append(n)
            ok = rec(i + 1, left - n * sizes[i], counts)
            counts.pop()
            if not ok:
                return False
        return True

    return out if rec(0, free, []) else None


def cpsat_counts(inst: _Instance, hint: Mapping[tuple[int, int], int], time_limit_s: float,
           placed: Sequence[tuple[int, int, str] | None] = (),
           also: Sequence[Mapping[tuple[int, int], int]] = (),
           placed_bound: int | None = None) -> tuple[dict[tuple[int, int], int] | None, Layout, str, dict[str, Any]]:
    """Staged lexicographic CP-SAT on class counts; returns (counts or None, their layout on the
    member nodes (for `pack`), status, model size).

    `time_limit_s` covers building the model too (the deadline starts here). `also`: other
    heuristics' counts, whose options stay in the model when it is restricted to a neighbourhood.
    `placed_bound`: a known upper bound on the placed count (the LP relaxation's), which settles the
    first stage when the hint reaches it."""
    deadline = time.perf_counter() + time_limit_s
    m = cp_model.CpModel()
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    by_group: dict[int, list[tuple[int, int]]] = {}
    groups: dict[int, NodeGroup] = {}
    keep = _neighbourhood(inst, hint, also)
    for c, opts in enumerate(inst.options):
        n_c, s = len(inst.members[c]), inst.size(c)
        for j, o in enumerate(opts):
            cap = _cap(inst, c, j)
            if cap <= 0 or (keep is not None and (c, j) not in keep):
                continue
            y[(c, j)] = v = m.NewIntVar(0, cap, f"y_c{c}_o{j}")
            m.AddHint(v, hint.get((c, j), 0))
            if s:
                by_group.setdefault(o.group.index, []).append((c, j))
                groups[o.group.index] = o.group
        if opts:
            m.Add(sum(y[(c, j)] for j in range(len(opts)) if (c, j) in y) <= n_c)
    contents: dict[tuple[int, str], dict[int, int]] = {}   # greedy's sizes per (group, node), for z hints
    for w in placed:
        if w is not None and inst.size(w[0]):
            sizes = contents.setdefault((inst.options[w[0]][w[1]].group.index, w[2]), {})
            sizes[inst.size(w[0])] = sizes.get(inst.size(w[0]), 0) + 1
    configs = 0
    readers: dict[int, Callable[[cp_model.CpSolver], dict[Any, list[str]]]] = {}
    for gi, keys in by_group.items():
        n, readers[gi] = _capacity(m, inst, groups[gi], keys, y, contents)
        configs += n
    for cluster, quota in sorted(inst.quotas.items()):
        used = [inst.size(c) * y[(c, j)] for gi, keys in by_group.items() if groups[gi].cluster == cluster
                for c, j in keys]
        if used:
            m.Add(sum(used) <= quota)
    width = len(inst.policy.order)
    # the policy terms divided by their gcd (exact: cached bytes come in steps of 10^8)
    scales: list[int] = []
    exprs: list[Any] = [sum(y.values())]
    for t in range(width):
        coef = {key: inst.options[key[0]][key[1]].terms[t] for key in y}
        scales.append(math.gcd(*coef.values()) or 1)
        exprs.append(sum((v // scales[t]) * y[key] for key, v in coef.items() if v))
    bound = sum(min(len(inst.members[c]), sum(_cap(inst, c, j) for j in range(len(opts))))
                for c, opts in enumerate(inst.options))
    if placed_bound is not None:
        bound = min(bound, placed_bound)
    bounds: list[tuple[int, int | None]] = []   # per objective term solved: (value found, proven upper bound)
    greedy_values = objective(inst, hint)
    floors = [greedy_values[0]] + [greedy_values[t + 1] // scales[t] for t in range(width)]
    # stages: (expression, greedy's value of it, how to read (value, bound) per objective term)
    stages: list[tuple[Any, int, Callable[[int, int], list[tuple[int, int | None]]]]] = []
    if sum(hint.values()) >= bound:     # the hint already places every placeable request
        m.Add(exprs[0] >= bound)
        bounds.append((bound, bound))
    elif width and not isinstance(exprs[1], int):
        # placed count and the first policy term in one stage: placed * W + term, W larger than
        # any difference in the term, so one more request placed always wins (lexicographic); one
        # search keeps the start's term values instead of a placed-only stage discarding them
        lo = hi = 0
        for c, opts in enumerate(inst.options):
            vals = [o.terms[0] // scales[0] for j, o in enumerate(opts) if (c, j) in y]
            if vals:
                lo += len(inst.members[c]) * min(0, min(vals))
                hi += len(inst.members[c]) * max(0, max(vals))
        w = hi - lo + 1
        placed_expr = exprs[0]

        def read_merged(found: int, best_bound: int) -> list[tuple[int, int | None]]:
            n = sum(best.values()) if best else 0
            top = (best_bound - lo) // w
            return [(n, top), ((found - w * n) * scales[0], (best_bound - w * n) * scales[0] if top == n else None)]

        stages.append((w * placed_expr + exprs[1], w * floors[0] + floors[1], read_merged))
        exprs[1] = 0
    else:
        stages.append((exprs[0], floors[0], lambda f, b: [(f, b)]))
    for t in range(width):
        if not isinstance(exprs[t + 1], int):
            stages.append((exprs[t + 1], floors[t + 1],
                           lambda f, b, sc=scales[t]: [(f * sc, b * sc)]))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    # the configuration rows' LP relaxation is what proves the placed count: full linearization
    # closes the gap on the contended family where the default level leaves it wide open
    solver.parameters.linearization_level = 2
    # the hint (the best heuristic's answer) is CP-SAT's first solution; following it further
    # before searching costs seconds on the contended family and finds nothing better
    solver.parameters.hint_conflict_limit = 0
    status = "skipped"
    best: dict[tuple[int, int], int] | None = None
    layout: Layout = {}
    greedy_hint = list(zip(m.Proto().solution_hint.vars, m.Proto().solution_hint.values, strict=True))
    tied = True     # every stage so far equals greedy's value: greedy's next value is a valid floor
    for k, (expr, floor, read) in enumerate(stages):
        if tied:
            m.Add(expr >= floor)
        remaining = deadline - time.perf_counter()
        if remaining <= 0.01:
            status = "timeout"
            break
        solver.parameters.max_time_in_seconds = remaining * _share(k, len(stages))
        m.Maximize(expr)
        code = solver.Solve(m)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            status = "timeout" if code == cp_model.UNKNOWN else solver.StatusName(code).lower()
            break
        best = {key: solver.Value(v) for key, v in y.items()}
        layout = {gi: r(solver) for gi, r in readers.items()}
        m.ClearObjective()
        found = round(solver.ObjectiveValue())
        bounds.extend(read(found, round(solver.BestObjectiveBound())))
        m.Add(expr >= found)
        tied = tied and found == floor
        m.ClearHints()          # next start: greedy while it ties (it meets every floor), else this solution
        if tied:
            for i, value in greedy_hint:
                m.AddHint(m.GetIntVarFromProtoIndex(i), value)
        else:
            for v in _all_vars(m):
                m.AddHint(v, solver.Value(v))
        # a stage stopped by its time share keeps what it found (>=, so greedy's hint stays feasible
        # when it ties) and the later stages still run on the remaining budget
        if code != cp_model.OPTIMAL:
            status = "timeout"
        elif status != "timeout":
            status = "optimal"
    # with a restricted model the bounds hold for that neighbourhood only ("restricted": 1)
    return best, layout, status, {"vars": len(y), "groups": len(by_group), "configs": configs,
                          "restricted": int(keep is not None), "bounds": bounds}


def _share(k: int, n: int) -> float:
    """Part of the remaining time stage k of n gets: the first (placed count) most of it, each later
    one half of what is left (the last one all of it): earlier terms weigh more."""
    if k == n - 1:
        return 1.0
    return FIRST_STAGE_SHARE if k == 0 else 0.5


def _all_vars(m: cp_model.CpModel) -> list[cp_model.IntVar]:
    return [m.GetIntVarFromProtoIndex(i) for i in range(len(m.Proto().variables))]


def _cap(inst: _Instance, c: int, j: int) -> int:
    """Most requests of class c that option j's group can take on its own."""
    n_c, s = len(inst.members[c]), inst.size(c)
    g = inst.options[c][j].group
    return n_c if s == 0 else min(n_c, len(g.nodes) * (g.free // s))


def _neighbourhood(inst: _Instance, hint: Mapping[tuple[int, int], int],
                   also: Sequence[Mapping[tuple[int, int], int]] = ()) -> set[tuple[int, int]] | None:
    """For large batches (> MAX_VARS options) the options CP-SAT may use: per class its best options
    until they could hold `SLACK` times the class's requests, plus every option the hint or another
    heuristic used (so the hint stays feasible, the result is never worse, and CP-SAT can combine
    the heuristics' moves). None: no restriction (exact)."""
    total = sum(len(o) for o in inst.options)
    if total <= MAX_VARS:
        return None
    keep = {key for counts in (hint, *also) for key, n in counts.items() if n}
    for c, opts in enumerate(inst.options):
        room = 0
        for j in range(len(opts)):
            if room >= SLACK * len(inst.members[c]):
                break
            keep.add((c, j))
            room += _cap(inst, c, j)
    return keep


def _capacity(m: cp_model.CpModel, inst: _Instance, g: NodeGroup, keys: list[tuple[int, int]],
              y: Mapping[tuple[int, int], cp_model.IntVar], contents: Mapping[tuple[int, str], dict[int, int]]
              ) -> tuple[int, Callable[[cp_model.CpSolver], dict[Any, list[str]]]]:
    """Capacity rows of one node group; returns (configurations used, a reader of a solution's
    layout on the member nodes: per size (or per option key in the per-node fallback) one member
    node name per slot, in name order)."""
    sizes = sorted({inst.size(c) for c, _ in keys})
    confs = inst.configurations(sizes, g.free)
    if confs is None:   # too many configurations: one capacity row per member node (exact)
        per_node = {key: [m.NewIntVar(0, g.free // inst.size(key[0]), "") for _ in g.nodes] for key in keys}
        for key, vs in per_node.items():
            m.Add(sum(vs) == y[key])
        loads = [sum(inst.size(c) * per_node[(c, j)][i] for c, j in keys) for i in range(len(g.nodes))]
        for i, load in enumerate(loads):
            m.Add(load <= g.free)
            if i:   # symmetry breaking: member nodes are identical, so loads may be taken non-increasing
                m.Add(loads[i - 1] >= load)

        def read_nodes(solver: cp_model.CpSolver) -> dict[Any, list[str]]:
            return {key: [n for n, v in zip(g.nodes, vs, strict=True) for _ in range(solver.Value(v))]
                    for key, vs in per_node.items()}

        return 0, read_nodes
    z = [m.NewIntVar(0, len(g.nodes), f"z_g{g.index}_{i}") for i in range(len(confs))]
    m.Add(sum(z) <= len(g.nodes))
    use = [0] * len(confs)      # hint: each node's greedy contents, extended to a dominating configuration
    for n in g.nodes:
        have = contents.get((g.index, n), {})
        fits = [i for i, conf in enumerate(confs) if all(conf[si] >= have.get(s, 0) for si, s in enumerate(sizes))]
        if fits:
            use[fits[0]] += 1
    for zv, u in zip(z, use, strict=True):
        m.AddHint(zv, u)
    for si, s in enumerate(sizes):
        m.Add(sum(y[key] for key in keys if inst.size(key[0]) == s) <= sum(conf[si] * zv for conf, zv in
                                                                         zip(confs, z, strict=True)))

    def read_confs(solver: cp_model.CpSolver) -> dict[Any, list[str]]:
        return layout_slots(g.nodes, sizes, confs, [solver.Value(zv) for zv in z])

    return len(confs), read_confs


def layout_slots(nodes: Sequence[str], sizes: Sequence[int], confs: Sequence[tuple[int, ...]],
                 counts: Sequence[int]) -> dict[Any, list[str]]:
    """Configurations laid on member nodes in name order (`counts[i]` nodes get `confs[i]`): per
    size, one node name per slot of that size."""
    out: dict[Any, list[str]] = {s: [] for s in sizes}
    it = iter(nodes)
    for conf, k in zip(confs, counts, strict=True):
        for _ in range(k):
            node = next(it)
            for si, s in enumerate(sizes):
                out[s].extend([node] * conf[si])
    return out


def pack(inst: _Instance, counts: Mapping[tuple[int, int], int],
         layout: Layout | None = None) -> list[tuple[int, int, str] | None]:
    """Turn class counts into per-request (class, option, node): best options to earliest requests.

    `layout` (from `cpsat_counts`): per GPU group, the member node of every slot, which realises the
    counts exactly (the configuration argument in `batch`). Groups without one are packed
    first-fit decreasing in name order (which can fail where a packing exists: such requests stay
    unplaced, and the caller compares objectives)."""
    where: list[tuple[int, int, str] | None] = [None] * len(inst.requests)
    # keyed by (GPU pool?, group index): CPU-only classes use the CPU groups, whose indices are
    # those of a different group list than the GPU groups' (and take no capacity)
    per_group: dict[tuple[bool, int], list[tuple[int, int, int]]] = {}
    for c, ms in enumerate(inst.members):
        queue = list(ms)
        for j in range(len(inst.options[c])):
            for _ in range(counts.get((c, j), 0)):
                i = queue.pop(0)
                per_group.setdefault((inst.size(c) > 0, inst.options[c][j].group.index), []).append((i, c, j))
    for (gpu, gi), items in per_group.items():
        g = inst.options[items[0][1]][items[0][2]].group
        items.sort(key=lambda t: (-inst.size(t[1]), t[0]))     # largest first: first-fit decreasing
        left = {n: g.free for n in g.nodes}
        slots = {k: list(v) for k, v in (layout or {}).get(gi, {}).items()} if gpu else {}
        for i, c, j in items:
            s = inst.size(c)
            free = slots.get((c, j)) or slots.get(s) or []
            node = free.pop(0) if free else None
            if node is None or left[node] < s:
                node = next((n for n in g.nodes if left[n] >= s), None)
            if node is None:   # cannot happen with a layout; keep the answer honest
                continue
            left[node] -= s
            where[i] = (c, j, node)
    return where
