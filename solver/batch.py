"""Batch placement: many requests at once, respecting every node's free GPUs.

The workflow runner and replica placement ask for N placements together; placing them one by
one can strand requests (an early request takes the only 8-GPU node a later one needed).

Pipeline:
1. *Options.* Identical requests form a class. Per class the core builds its `Problem`; for every
   open node group (nodes identical for rules and policy) `fast.best_candidate` gives the group's
   best runtime and `Problem.terms` its objective terms. GPU classes share the request-independent
   base groups, so a group is one capacity pool: `k` member nodes with `f` free GPUs each of one
   product. CPU-only requests use no GPUs, never compete, and take their single-select best.
2. *Greedy first-fit* (baseline and hint): requests in order, each to the best-keyed option whose
   group still has a member node (in name order) with enough free GPUs.
3. *CP-SAT* on integer counts `y[c, g]` = requests of class c placed in group g. Capacity of a
   group with sizes S (the GPU counts of the classes that may use it) is modelled with node
   *configurations*: a configuration is a maximal multiset of sizes from S that fits in `f`;
   `z[g, conf]` counts member nodes packed that way, `sum z <= k`, and for each size s the
   requests of size s in g are at most the slots of size s the configurations offer. This is an
   exact packing argument: any packing of the k nodes maps each node to a maximal configuration
   that dominates its contents (so z exists), and any (y, z) meeting the constraints is realised
   by filling each node's slots in name order (so a packing exists). One size gives one
   configuration, i.e. `sum y <= k * (f // s)`. When a group has more than `MAX_CONFIGS`
   configurations the model falls back to one capacity constraint per member node (also exact).
4. *Objective*, lexicographic, solved stage by stage (maximise, fix, next): placed requests,
   then the sum over placed requests of each policy term in `policy.order` (cached bytes, newest
   rank, fit, idle GPUs, preference) exactly as single selection scores the pair. The per-node
   name tie-break is not part of the batch objective; member nodes are filled in name order.
   Every stage starts from the greedy solution as a hint, keeps the previous stages' values, and
   the result is compared with greedy: the better one (greedy on a tie) is returned, so the batch
   is never worse than greedy first-fit, also when CP-SAT runs out of time.
If greedy already gives every request its single-selection best option, it is optimal for every
stage (each sum is at its per-request maximum) and CP-SAT is skipped; if greedy places every
request that has any option, the first stage is settled without a solve.

Large batches (more than `MAX_VARS` class x group options, e.g. 60 models on 850 groups) keep
the model small: each class may use its best options until they could hold `SLACK` times its
requests, plus every option greedy used. Optimality then holds within that neighbourhood only;
"never worse than greedy" still holds. `time_limit_s` bounds the CP-SAT stages (the option
building before them costs one single-selection evaluation per model and node group).

Deterministic: one CP-SAT worker, fixed seed, stable orders everywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ortools.sat.python import cp_model

from catalog import Catalog
from solver.fast import assignment, best_candidate
from solver.groups import NodeGroup
from solver.inventory import Inventory, parse_inventory
from solver.policy import Policy
from solver.problem import Problem, build_problem
from solver.request import ModelRequest, parse_request
from solver.result import BatchSelection, Conflict, Selection

__all__ = ["MAX_CONFIGS", "MAX_VARS", "BatchPlan", "configurations", "plan_batch", "select_batch"]

log = logging.getLogger(__name__)
MAX_CONFIGS = 256
MAX_VARS = 4000
SLACK = 3


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
    greedy_objective: tuple[int, ...]
    engine: str                         # "greedy-optimal" | "cpsat" | "greedy-fallback" | "trivial"
    status: str                         # CP-SAT status of the last stage, or "skipped"
    wall_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


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


class _Instance:
    """Classes, options and capacity pools of one batch."""

    def __init__(self, catalog: Catalog, requests: list[ModelRequest], inventory: Inventory, policy: Policy):
        self.catalog, self.inventory, self.policy = catalog, inventory, policy
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
        self.problems: list[Problem] = [build_problem(catalog, r, inventory, policy) for r in self.classes]
        self.options: list[list[_Option]] = []
        for c, p in enumerate(self.problems):
            opts = []
            for g in p.open_groups():
                cand = best_candidate(p, g)
                if cand is not None:
                    t = p.terms(cand, g)
                    opts.append(_Option(c, g, cand, p.key(cand, g), tuple(t[n] for n in policy.order)))
            opts.sort(key=lambda o: o.key, reverse=True)
            self.options.append(opts)

    def size(self, c: int) -> int:
        return self.classes[c].gpu_count


def _objective(inst: _Instance, counts: Mapping[tuple[int, int], int]) -> tuple[int, ...]:
    """(placed, per-term sums) of a solution given as {(class, option index): requests placed}."""
    width = len(inst.policy.order)
    sums = [0] * (width + 1)
    for (c, j), n in counts.items():
        if n:
            sums[0] += n
            for t in range(width):
                sums[t + 1] += n * inst.options[c][j].terms[t]
    return tuple(sums)


def _greedy(inst: _Instance) -> tuple[dict[tuple[int, int], int], list[tuple[int, int, str] | None]]:
    """First-fit in request order; returns option counts and, per request, (class, option, node)."""
    left: dict[tuple[int, str], int] = {}
    counts: dict[tuple[int, int], int] = {}
    where: list[tuple[int, int, str] | None] = [None] * len(inst.requests)
    cls_of = {i: c for c, ms in enumerate(inst.members) for i in ms}
    for i in range(len(inst.requests)):
        c = cls_of[i]
        need = inst.size(c)
        for j, o in enumerate(inst.options[c]):
            node = next((n for n in o.group.nodes if left.get((o.group.index, n), o.group.free) >= need), None)
            if node is not None:
                if need:
                    left[(o.group.index, node)] = left.get((o.group.index, node), o.group.free) - need
                counts[(c, j)] = counts.get((c, j), 0) + 1
                where[i] = (c, j, node)
                break
    return counts, where


def _cpsat(inst: _Instance, hint: Mapping[tuple[int, int], int], time_limit_s: float,
           placed: Sequence[tuple[int, int, str] | None] = ()) -> tuple[dict[tuple[int, int], int] | None, str,
                                                                     dict[str, int]]:
    """Staged lexicographic CP-SAT on class counts; returns (counts or None, status, model size)."""
    m = cp_model.CpModel()
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    by_group: dict[int, list[tuple[int, int]]] = {}
    groups: dict[int, NodeGroup] = {}
    keep = _neighbourhood(inst, hint)
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
    for gi, keys in by_group.items():
        configs += _capacity(m, inst, groups[gi], keys, y, contents)
    width = len(inst.policy.order)
    exprs = [sum(y.values())] + [sum(inst.options[c][j].terms[t] * v for (c, j), v in y.items()
                                     if inst.options[c][j].terms[t]) for t in range(width)]
    bound = sum(min(len(inst.members[c]), sum(_cap(inst, c, j) for j in range(len(opts))))
                for c, opts in enumerate(inst.options))
    if sum(hint.values()) >= bound:     # greedy already places every placeable request
        m.Add(exprs[0] >= bound)
        exprs[0] = 0
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    deadline = time.perf_counter() + time_limit_s
    status = "skipped"
    best: dict[tuple[int, int], int] | None = None
    greedy_hint = list(zip(m.Proto().solution_hint.vars, m.Proto().solution_hint.values, strict=True))
    greedy_values = _objective(inst, hint)
    stages = [(e, greedy_values[i]) for i, e in enumerate(exprs) if not isinstance(e, int)]
    tied = True     # every stage so far equals greedy's value: greedy's next value is a valid floor
    for k, (expr, floor) in enumerate(stages):
        if tied:
            m.Add(expr >= floor)
        remaining = deadline - time.perf_counter()
        if remaining <= 0.01:
            status = "timeout"
            break
        solver.parameters.max_time_in_seconds = remaining / (len(stages) - k)
        m.Maximize(expr)
        code = solver.Solve(m)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            status = "timeout" if code == cp_model.UNKNOWN else solver.StatusName(code).lower()
            break
        best = {key: solver.Value(v) for key, v in y.items()}
        m.ClearObjective()
        found = round(solver.ObjectiveValue())
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
    return best, status, {"vars": len(y), "groups": len(by_group), "configs": configs,
                          "restricted": int(keep is not None)}


def _all_vars(m: cp_model.CpModel) -> list[cp_model.IntVar]:
    return [m.GetIntVarFromProtoIndex(i) for i in range(len(m.Proto().variables))]


def _cap(inst: _Instance, c: int, j: int) -> int:
    """Most requests of class c that option j's group can take on its own."""
    n_c, s = len(inst.members[c]), inst.size(c)
    g = inst.options[c][j].group
    return n_c if s == 0 else min(n_c, len(g.nodes) * (g.free // s))


def _neighbourhood(inst: _Instance, hint: Mapping[tuple[int, int], int]) -> set[tuple[int, int]] | None:
    """For large batches (> MAX_VARS options) the options CP-SAT may use: per class its best options
    until they could hold `SLACK` times the class's requests, plus every option greedy used (so the
    greedy hint stays feasible and the result is never worse). None: no restriction (exact)."""
    total = sum(len(o) for o in inst.options)
    if total <= MAX_VARS:
        return None
    keep = {key for key, n in hint.items() if n}
    for c, opts in enumerate(inst.options):
        room = 0
        for j in range(len(opts)):
            if room >= SLACK * len(inst.members[c]):
                break
            keep.add((c, j))
            room += _cap(inst, c, j)
    return keep


def _capacity(m: cp_model.CpModel, inst: _Instance, g: NodeGroup, keys: list[tuple[int, int]],
              y: Mapping[tuple[int, int], cp_model.IntVar], contents: Mapping[tuple[int, str], dict[int, int]]) -> int:
    sizes = sorted({inst.size(c) for c, _ in keys})
    confs = configurations(sizes, g.free)
    if confs is None:   # too many configurations: one capacity row per member node (exact)
        per_node = {key: [m.NewIntVar(0, g.free // inst.size(key[0]), "") for _ in g.nodes] for key in keys}
        for key, vs in per_node.items():
            m.Add(sum(vs) == y[key])
        for i in range(len(g.nodes)):
            m.Add(sum(inst.size(c) * per_node[(c, j)][i] for c, j in keys) <= g.free)
        return 0
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
    return len(confs)


def _pack(inst: _Instance, counts: Mapping[tuple[int, int], int]) -> list[tuple[int, int, str] | None]:
    """Turn class counts into per-request (class, option, node): best options to earliest requests."""
    where: list[tuple[int, int, str] | None] = [None] * len(inst.requests)
    per_group: dict[int, list[tuple[int, int, int]]] = {}
    for c, ms in enumerate(inst.members):
        queue = list(ms)
        for j in range(len(inst.options[c])):
            for _ in range(counts.get((c, j), 0)):
                i = queue.pop(0)
                per_group.setdefault(inst.options[c][j].group.index, []).append((i, c, j))
    for items in per_group.values():
        g = inst.options[items[0][1]][items[0][2]].group
        items.sort(key=lambda t: (-inst.size(t[1]), t[0]))     # largest first: first-fit decreasing
        left = {n: g.free for n in g.nodes}
        for i, c, j in items:
            s = inst.size(c)
            node = next((n for n in g.nodes if left[n] >= s), None)
            if node is None:   # cannot happen for a model-feasible solution; keep the answer honest
                continue
            left[node] -= s
            where[i] = (c, j, node)
    return where


def _unplaced(inst: _Instance, c: int, infeasible: dict[int, Selection]) -> Selection:
    if not inst.options[c]:
        if c not in infeasible:
            from solver.select import select

            infeasible[c] = select(inst.catalog, inst.classes[c], inst.inventory, policy=inst.policy)
        return infeasible[c]
    nodes = sum(len(o.group.nodes) for o in inst.options[c])
    products = sorted({o.group.gpu_product for o in inst.options[c] if o.group.gpu_product})
    what = f"{inst.size(c)} x {', '.join(products)}" if products else "a node"
    return Selection(feasible=False, catalog_revision=inst.catalog.revision,
                     conflicts=(Conflict("no-capacity", f"{nodes} node(s) can run this request ({what}), but their "
                                         "free GPUs went to other requests of the batch"),),
                     suggestions=("free GPUs on those nodes, add nodes, or place this request in a later batch",),
                     status="infeasible", engine="batch")


def _selection(inst: _Instance, where: list[tuple[int, int, str] | None]) -> BatchSelection:
    infeasible: dict[int, Selection] = {}
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
        out.append(Selection(feasible=True, catalog_revision=inst.catalog.revision, choice=a, engine="batch",
                             explanation=(f"batch placement: {placed} of {len(where)} requests placed; "
                                          f"{node} has {o.group.free} free {o.group.gpu_product or 'CPU slot'}; "
                                          f"runtime is this node's best under the policy order "
                                          f"{', '.join(inst.policy.order)}",)))
    return BatchSelection(feasible=all(s.feasible for s in out), catalog_revision=inst.catalog.revision,
                          placements=tuple(out))


def plan_batch(catalog: Catalog, requests: Sequence[ModelRequest | Mapping[str, Any]],
               inventory: Inventory | Mapping[str, Any] | list[Any], *, policy: Policy | None = None,
               time_limit_s: float = 5.0, use_cpsat: bool = True) -> BatchPlan:
    """Place every request (see the module docstring); returns the answer with its objective and greedy's."""
    t0 = time.perf_counter()
    reqs = [r if isinstance(r, ModelRequest) else parse_request(r) for r in requests]
    inv = inventory if isinstance(inventory, Inventory) else parse_inventory(inventory)
    inst = _Instance(catalog, reqs, inv, policy or Policy())
    options_s = time.perf_counter() - t0
    g_counts, g_where = _greedy(inst)
    greedy_obj = _objective(inst, g_counts)
    cls_of = {i: c for c, ms in enumerate(inst.members) for i in ms}
    top = all(w[1] == 0 if w is not None else not inst.options[cls_of[i]] for i, w in enumerate(g_where))
    engine, status, counts, where, size = "greedy-optimal", "skipped", g_counts, g_where, {}
    if not top and use_cpsat:
        t1 = time.perf_counter()
        best, status, size = _cpsat(inst, g_counts, time_limit_s, g_where)
        size["cpsat_s"] = round(time.perf_counter() - t1, 3)
        if best is not None and _objective(inst, best) > greedy_obj:
            packed = _pack(inst, best)
            kept = {}
            for w in packed:
                if w is not None:
                    kept[(w[0], w[1])] = kept.get((w[0], w[1]), 0) + 1
            if _objective(inst, kept) > greedy_obj:
                engine, counts, where = "cpsat", kept, packed
            else:
                engine = "greedy-fallback"
        else:
            engine = "greedy-fallback" if best is None or _objective(inst, best) < greedy_obj else "cpsat-equal"
    elif not use_cpsat:
        engine = "greedy"
    obj = _objective(inst, counts)
    wall = time.perf_counter() - t0
    log.info("batch: %d requests, %d classes, placed %d (greedy %d), engine %s, %.2f s", len(reqs),
             len(inst.classes), obj[0], greedy_obj[0], engine, wall)
    return BatchPlan(selection=_selection(inst, where), objective=obj, greedy_objective=greedy_obj, engine=engine,
                     status=status, wall_s=wall,
                     stats={"classes": len(inst.classes), "options_s": round(options_s, 3), **size})


def select_batch(catalog: Catalog, requests: Sequence[ModelRequest | Mapping[str, Any]],
                 inventory: Inventory | Mapping[str, Any] | list[Any] | None, *, policy: Policy | None = None,
                 time_limit_s: float = 5.0) -> BatchSelection:
    """Place many requests at once; `.to_dict()` -> {"feasible", "catalog_revision", "placements"}.

    Without an inventory (hardware planning) there is no capacity to share: each request gets its
    own single selection.
    """
    if inventory is None:
        from solver.select import select

        out = tuple(select(catalog, r, None, policy=policy) for r in requests)
        return BatchSelection(feasible=all(s.feasible for s in out), catalog_revision=catalog.revision,
                              placements=out)
    return plan_batch(catalog, requests, inventory, policy=policy, time_limit_s=time_limit_s).selection
