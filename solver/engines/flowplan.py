"""Whole-flow placement: the model stages of one flow placed together, before the flow starts.

A flow's stages (train -> export -> quantize -> serve) pass artifacts along their dependency
edges; placing each stage on its own best node would copy a checkpoint from node to node. Here
every stage is placed at once:

1. *Options per stage.* `select(top=OPTIONS)` on the whole inventory gives each stage its best
   nodes; the union of those nodes is the shortlist, and a second `select` on the shortlist (top =
   its size) gives each stage its best runtime on every shortlisted node it can run on, ranked by
   the stage's own policy (its `rank`). A stage with no option at all is explained right away
   (its single-selection conflicts), so the flow can refuse to start with the reason.
2. *Joint choice* (CP-SAT, one worker, fixed seed): one option per stage, maximising
   lexicographically (as weights) the dependency edges whose two stages share a node, then those
   that share a cluster, then the stages' own preference (the sum of `len(options) - rank`).
   Stages that can run at the same time (neither depends on the other, transitively) share a
   node's free GPUs: for every set of pairwise concurrent stages (an antichain of the dependency
   order; enumerated exactly up to `MAX_EXACT` GPU stages, otherwise pairs), their GPUs on one
   node slot (product, MIG profile) are at most its free GPUs. Stages that run one after the
   other reuse the same GPUs.
3. *Answer*, per stage: the chosen Contract-3 choice and the reasons in words: where the stage
   goes, which dependency it shares a node or cluster with (its artifacts stay there), or why it
   could not (no option on that node), followed by the single-selection explanation.

`MAX_EXACT` bounds the antichain enumeration (2^n subsets). Planning mode (no inventory) has no
nodes to share: each stage gets its single selection.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog import Catalog
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest, parse_request
from solver.result import Assignment, Selection

__all__ = ["MAX_EXACT", "OPTIONS", "FlowPlan", "Stage", "StagePlan", "plan_flow"]

OPTIONS = 8
MAX_EXACT = 12


@dataclass(frozen=True)
class Stage:
    """One model stage: its request and the stages it directly depends on (artifact edges)."""

    name: str
    request: ModelRequest | Mapping[str, Any]
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class StagePlan:
    name: str
    feasible: bool
    choice: Assignment | None = None
    why: tuple[str, ...] = ()               # where it goes and why, in words
    selection: Selection | None = None      # the stage's own selection (conflicts when infeasible)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.name, "feasible": self.feasible, "why": list(self.why)}
        if self.choice is not None:
            out["choice"] = self.choice.to_dict()
        if not self.feasible and self.selection is not None:
            d = self.selection.to_dict()
            out["conflicts"] = d.get("conflicts", [])
            out["suggestions"] = d.get("suggestions", [])
        return out


@dataclass
class FlowPlan:
    stages: dict[str, StagePlan]
    co_located: int = 0                     # dependency edges whose stages share a node
    same_cluster: int = 0                   # ... that share a cluster but not a node
    edges: int = 0
    status: str = "skipped"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return all(s.feasible for s in self.stages.values())

    def to_dict(self) -> dict[str, Any]:
        return {"feasible": self.feasible, "edges": self.edges, "co_located": self.co_located,
                "same_cluster": self.same_cluster, "stages": [s.to_dict() for s in self.stages.values()]}


def _ancestors(stages: Sequence[Stage]) -> dict[str, set[str]]:
    direct = {s.name: set(s.after) for s in stages}
    out: dict[str, set[str]] = {}

    def walk(n: str) -> set[str]:
        if n not in out:
            out[n] = set()
            for p in direct.get(n, ()):
                out[n] |= {p} | walk(p)
        return out[n]

    for s in stages:
        walk(s.name)
    return out


def _antichains(names: list[str], anc: Mapping[str, set[str]]) -> list[tuple[str, ...]]:
    """Sets (size >= 2) of stages that may run at the same time: all maximal ones when few, else pairs."""
    def concurrent(a: str, b: str) -> bool:
        return a not in anc[b] and b not in anc[a]

    if len(names) > MAX_EXACT:
        return [(a, b) for a, b in itertools.combinations(names, 2) if concurrent(a, b)]
    found: list[frozenset[str]] = []
    for k in range(len(names), 1, -1):
        for combo in itertools.combinations(names, k):
            if any(set(combo) <= f for f in found):
                continue
            if all(concurrent(a, b) for a, b in itertools.combinations(combo, 2)):
                found.append(frozenset(combo))
    return [tuple(sorted(f)) for f in found]


def plan_flow(catalog: Catalog, stages: Sequence[Stage], inventory: Inventory | Mapping[str, Any] | None, *,
              policy: Policy | None = None, time_limit_s: float = 5.0) -> FlowPlan:
    """Place every stage of a flow together (see the module docstring)."""
    from solver.select import select

    pol = policy or Policy()
    reqs = {s.name: s.request if isinstance(s.request, ModelRequest) else parse_request(s.request) for s in stages}
    inv = inventory if inventory is None or isinstance(inventory, Inventory) else parse_inventory(inventory)
    names = [s.name for s in stages]
    edges = [(p, s.name) for s in stages for p in s.after if p in reqs]
    first = {n: select(catalog, reqs[n], inv, top=OPTIONS, policy=pol) for n in names}
    if inv is None:
        return FlowPlan({n: StagePlan(n, sel.feasible, sel.choice, tuple(sel.explanation), sel)
                         for n, sel in first.items()}, edges=len(edges))
    shortlist = sorted({a.node for sel in first.values() if sel.feasible
                        for a in (sel.choice, *sel.alternatives) if a is not None and a.node is not None})
    short_inv = Inventory(nodes=tuple(n for n in inv.nodes if n.name in set(shortlist)))
    options: dict[str, list[Assignment]] = {}
    own: dict[str, Selection] = {}
    for n in names:
        if not first[n].feasible:
            continue
        own[n] = select(catalog, reqs[n], short_inv, top=max(1, len(shortlist)), policy=pol)
        options[n] = [a for a in (own[n].choice, *own[n].alternatives) if a is not None]
    chosen, status = _joint(catalog, names, reqs, options, edges, inv, time_limit_s)
    cluster = {node.name: node.cluster for node in inv.nodes}
    plans: dict[str, StagePlan] = {}
    co = same = 0
    for p, s in edges:
        if p in chosen and s in chosen:
            a, b = chosen[p], chosen[s]
            if a.node == b.node:
                co += 1
            elif cluster.get(a.node) is not None and cluster.get(a.node) == cluster.get(b.node):
                same += 1
    for n in names:
        if n not in chosen:
            plans[n] = StagePlan(n, False, None, (f"stage {n} cannot be placed: " + "; ".join(
                c.message for c in first[n].conflicts),), first[n])
            continue
        a = chosen[n]
        rank = options[n].index(a)
        where = f"node {a.node}" + (f" (cluster {a.cluster})" if a.cluster else "")
        gpu = f", {a.gpu.count} x {a.gpu.product}" + (f" MIG {a.gpu.mig_profile}" if a.gpu.mig_profile else "") \
            if a.gpu is not None else ", CPU only"
        why = [f"{n} -> {where}{gpu}; runtime " + ", ".join(f"{k} {v}" for k, v in a.runtime)]
        for p, s in edges:
            if n not in (p, s):
                continue
            other = s if n == p else p
            if other not in chosen:
                continue
            b = chosen[other]
            rel = "its input comes from" if n == s else "its output goes to"
            if b.node == a.node:
                why.append(f"same node as {other} ({rel} {other}: artifacts stay on {a.node})")
            elif a.cluster is not None and a.cluster == b.cluster:
                why.append(f"same cluster as {other} ({a.cluster}), not its node {b.node} "
                           f"({_not_there(options[n], b.node)})")
            else:
                why.append(f"{other} runs on {b.node}; artifacts are copied ({_not_there(options[n], b.node)})")
        if status == "over-capacity":
            why.append("stages that run at the same time need more GPUs than the shortlisted nodes have free: "
                       "placed on its own best node, it may wait for GPUs there")
        why.append("the stage's best option under the policy" if rank == 0 else
                   f"option {rank + 1} of {len(options[n])} in the stage's own ranking (taken for the flow as a whole)")
        if rank == 0:
            why.extend(own[n].explanation[1:3])
        plans[n] = StagePlan(n, True, a, tuple(why), own[n])
    return FlowPlan(plans, co_located=co, same_cluster=same, edges=len(edges), status=status,
                    stats={"shortlist": len(shortlist), "options": {n: len(o) for n, o in options.items()}})


def _not_there(opts: list[Assignment], node: str | None) -> str:
    if any(o.node == node for o in opts):
        return f"{node}'s free GPUs go to a stage running at the same time"
    return f"this stage has no option on {node}"


def _joint(catalog: Catalog, names: list[str], reqs: Mapping[str, ModelRequest],
           options: Mapping[str, list[Assignment]], edges: list[tuple[str, str]], inv: Inventory,
           time_limit_s: float) -> tuple[dict[str, Assignment], str]:
    from ortools.sat.python import cp_model

    placed = [n for n in names if options.get(n)]
    if not placed:
        return {}, "skipped"
    m = cp_model.CpModel()
    x = {(n, i): m.NewBoolVar(f"x_{n}_{i}") for n in placed for i in range(len(options[n]))}
    for n in placed:
        m.AddExactlyOne(x[(n, i)] for i in range(len(options[n])))
    clusters = {node.name: node.cluster for node in inv.nodes}

    def on(n: str, pred: Any) -> list[cp_model.IntVar]:
        return [x[(n, i)] for i, o in enumerate(options[n]) if pred(o)]

    node_terms, cluster_terms = [], []
    for p, s in edges:
        if p not in options or s not in options:
            continue
        for node in sorted({o.node for o in options[p]} & {o.node for o in options[s]}):
            both = m.NewBoolVar("")
            m.Add(sum(on(p, lambda o, nd=node: o.node == nd)) >= both)
            m.Add(sum(on(s, lambda o, nd=node: o.node == nd)) >= both)
            node_terms.append(both)
        for cl in sorted({clusters[o.node] for o in options[p] if clusters.get(o.node)}
                         & {clusters[o.node] for o in options[s] if clusters.get(o.node)}):
            both = m.NewBoolVar("")
            m.Add(sum(on(p, lambda o, c=cl: clusters.get(o.node) == c)) >= both)
            m.Add(sum(on(s, lambda o, c=cl: clusters.get(o.node) == c)) >= both)
            cluster_terms.append(both)
    # stages running at the same time share a slot's free GPUs
    free: dict[tuple[str, str, str | None], int] = {}
    for node in inv.nodes:
        for g in node.gpus:
            known = catalog.gpu(g.product)
            key = (node.name, known.name if known is not None else g.product, g.mig_profile)
            free[key] = free.get(key, 0) + g.free
    gpu_stages = [n for n in placed if reqs[n].uses_gpu]
    anc = _ancestors([Stage(n, reqs[n], tuple(p for p, s in edges if s == n)) for n in names])
    for chain in _antichains(gpu_stages, anc):
        slots: dict[tuple[str | None, str, str | None], list[tuple[int, cp_model.IntVar]]] = {}
        for n in chain:
            for i, o in enumerate(options[n]):
                if o.gpu is not None:
                    slots.setdefault((o.node, o.gpu.product, o.gpu.mig_profile), []).append((o.gpu.count, x[(n, i)]))
        for key, uses in slots.items():
            cap = free.get(key, 0)      # type: ignore[arg-type]
            if len(uses) > 1 and sum(c for c, _ in uses) > cap:
                m.Add(sum(c * v for c, v in uses) <= cap)
    quality = [(len(options[n]) - i) * x[(n, i)] for n in placed for i in range(len(options[n]))]
    q_max = sum(len(options[n]) for n in placed)
    w_cluster = q_max + 1
    w_node = w_cluster * (len(cluster_terms) + 1)
    m.Maximize(w_node * sum(node_terms) + w_cluster * sum(cluster_terms) + sum(quality))
    for n in placed:
        m.AddHint(x[(n, 0)], 1)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = time_limit_s
    code = solver.Solve(m)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # no joint answer (stages running at the same time need more GPUs than the shortlisted nodes
        # have free): each stage's own best, and the plan says so
        return {n: options[n][0] for n in placed}, "over-capacity"
    out = {n: next(options[n][i] for i in range(len(options[n])) if solver.Value(x[(n, i)])) for n in placed}
    return out, "optimal" if code == cp_model.OPTIMAL else "timeout"
