"""Direct-evaluation engine for single selections (the default; CP-SAT is the selector of record).

It computes exactly the lexicographic key the CP-SAT path optimises (`Problem.key`). Members of
a node group share every term but the node-name tie-break, and groups sharing a (target, cached
set) share the best runtime, so the best runtime is judged once per distinct (target, cached
set) (`best_for`, memoised per request), and the node groups are then ranked with vector
operations over the columnar `GroupTable`: a feasibility mask (node rules), the term columns
in policy order, and a lexicographic arg-max. Alternatives are the next best *nodes*.
Tests prove it agrees with `solve.solve_cpsat` on golden scenarios and generated cases.
"""

from __future__ import annotations

import heapq

import numpy as np

from solver.facts.candidates import Candidate, Target
from solver.facts.groups import NodeGroup
from solver.facts.problem import UNKNOWN_MEMORY_WASTE, Problem
from solver.index.cached import best_for_pairs, best_many
from solver.result import Assignment, GpuChoice
from solver.rules.definitions import target_failures

__all__ = ["RowScores", "assignment", "best_candidate", "best_for", "score_rows", "solve_fast", "target_rules"]


def best_for(problem: Problem, target: Target, cached: frozenset[str]) -> Candidate | None:
    """The best runtime on `target` for a node whose cached set is `cached` (None: none fits)."""
    feas = problem.facts.feasible_on(target)
    if not feas:
        return None
    uses_cached = "cached" in problem.policy.order and bool(cached)
    memo_key = (target, cached if uses_cached else None, problem._cand_order)
    memo = problem.facts.best_memo
    if memo_key in memo:
        return memo[memo_key]
    t = problem.table
    tid, cid = t.target_index.get(target), t.cached_index.get(cached)
    if tid is not None and cid is not None:
        cand, _ = best_many(problem, np.array([tid]), np.array([cid]))
        best = problem.all_candidates[int(cand[0])] if cand[0] >= 0 else None
    else:  # not a pair of the table: the definition itself
        best = max(feas, key=lambda c: problem.candidate_key_for(c, cached))
    memo[memo_key] = best
    return best


def best_candidate(problem: Problem, group: NodeGroup) -> Candidate | None:
    if group.node_checks:
        return None
    return best_for(problem, group.target, group.cached)


def gpu_interconnect(problem: Problem, group: NodeGroup) -> str | None:
    """The interconnect between a multi-GPU replica's GPUs on one node, as the catalog records it
    for the product (None: one GPU, a MIG device, or not recorded)."""
    if problem.request.gpu_count < 2 or group.mig_profile is not None or group.gpu_id is None:
        return None
    known = problem.catalog.gpu(group.gpu_product or "")
    return known.interconnect if known is not None else None


def assignment(problem: Problem, cand: Candidate, group: NodeGroup, node: str | None = None) -> Assignment:
    gpu = None
    if problem.request.uses_gpu and group.gpu_product is not None and group.target.cc is not None:
        gpu = GpuChoice(group.gpu_product, problem.request.gpu_count, str(group.target.cc),
                        mig_profile=group.mig_profile, interconnect=gpu_interconnect(problem, group))
    member = node if node is not None else group.representative
    return Assignment(node=member, cluster=group.cluster, gpu=gpu, runtime=tuple(cand.runtime().items()),
                      key=problem.key(cand, group, member), candidate=cand.index, group=group.index)


def target_rules(problem: Problem) -> tuple[np.ndarray, tuple[tuple[str, ...], ...]]:
    """Per target of the table: whether the target rules accept it, and the names of the rules
    refusing it, in order (a GPU request on a target without a GPU: "no-gpu").

    Target rules read the request's GPU use, precision, TensorRT-engine compute capability and
    strictness (`unverified-driver`) only, so the columns are memoised on the table by those.
    """
    req = problem.request
    fmt = req.format
    engine_cc = fmt.compute_capability if fmt is not None and fmt.kind == "tensorrt-engine" else None
    ix = problem.index
    key = ("target-rules", req.uses_gpu, req.precision, engine_cc, req.strict)
    memo = problem.table.memo
    found = memo.get(key)
    if found is None:
        names: list[tuple[str, ...]] = []
        for target in problem.table.targets:
            fails = tuple(c.rule for c in target_failures(ix, req, target))
            names.append(fails if fails or target.cc is not None or not req.uses_gpu else ("no-gpu",))
        found = memo.setdefault(key, (np.array([not n for n in names], dtype=bool), tuple(names)))
    return found


class RowScores:
    """Per-group columns for one request: feasibility mask, best runtime and objective terms."""

    def __init__(self, problem: Problem) -> None:
        t = problem.table
        req = problem.request
        gc = req.gpu_count
        facts = problem.facts
        target_ok, _ = target_rules(problem)
        arch_ok = np.array([req.arch is None or a in req.arch for a in t.arches], dtype=bool)
        mask = arch_ok[t.arch_id] & target_ok[t.target_id]
        need = req.min_memory_mib
        if req.uses_gpu:
            mask &= (t.count >= gc) & (t.free >= gc)
            if need:
                mask &= t.memory >= need
        pair_codes, pair_of = t.pairs()       # distinct (target, cached set) codes; each group's index
        used = np.zeros(len(pair_codes), dtype=bool)
        used[pair_of[mask]] = True
        best, cached_val = best_for_pairs(problem, used)
        newest_val = np.zeros(len(pair_codes), dtype=np.int64)
        if len(facts.rank_array):
            newest_val[used] = np.where(best[used] >= 0, -facts.rank_array[np.maximum(best[used], 0)], 0)
        code = pair_of
        self.mask = mask & (best[code] >= 0)
        self.cand = best[code]
        terms: dict[str, np.ndarray] = {"cached": cached_val[code], "newest": newest_val[code]}
        if req.uses_gpu:
            mem = np.where(t.memory < 0, UNKNOWN_MEMORY_WASTE + need, t.memory)
            terms["fit"] = -(mem - need) * gc
        else:
            terms["fit"] = np.zeros(len(t.groups), dtype=np.int64)
        terms["gpus"] = -(t.free - gc)
        pol = problem.policy
        nl = len(pol.prefer_labels) + 1
        cl_score = np.array([(len(pol.prefer_clusters) - pol.prefer_clusters.index(c)) * nl
                             if c is not None and c in pol.prefer_clusters else 0 for c in t.clusters], dtype=np.int64)
        lab_score = np.array([sum(1 for k, v in pol.prefer_labels if dict(ls).get(k) == v) for ls in t.label_sets],
                             dtype=np.int64)
        terms["preference"] = cl_score[t.cluster_id] + lab_score[t.label_id]
        self.columns = [terms[name] for name in pol.order] + [-t.rank, -np.maximum(self.cand, 0)]
        self.target_ok = target_ok
        self.arch_ok = arch_ok

    def best_row(self) -> int | None:
        rows = np.flatnonzero(self.mask)
        for col in self.columns:
            if len(rows) <= 1:
                break
            vals = col[rows]
            rows = rows[vals == vals.max()]
        return int(rows[0]) if len(rows) else None

    def ranked_rows(self) -> np.ndarray:
        rows = np.flatnonzero(self.mask)
        if len(rows) == 0:
            return rows
        order = np.lexsort([-col[rows] for col in reversed(self.columns)])
        return rows[order]


def score_rows(problem: Problem) -> RowScores:
    return RowScores(problem)


def solve_fast(problem: Problem, top: int = 1) -> list[Assignment]:
    """The best `top` assignments (each node at most once), best first; [] when infeasible."""
    scores = problem.scores()
    groups = problem.base_groups
    cands = problem.all_candidates
    if top <= 1:
        row = scores.best_row()
        return [] if row is None else [assignment(problem, cands[scores.cand[row]], groups[row])]
    ranked = scores.ranked_rows()
    if problem.planning:  # other products; identical answers (CPU planning on two hosts) once
        found: list[Assignment] = []
        for r in ranked.tolist():
            a = assignment(problem, cands[scores.cand[r]], groups[r])
            if all(a.to_dict() != b.to_dict() for b in found):
                found.append(a)
            if len(found) >= top:
                break
        return found
    # Members of a group share every term but the name tie-break: take whole groups until `top`
    # nodes are covered and no later group can tie with the last one taken, then order members.
    width = len(problem.policy.order)
    ranked_l = ranked.tolist()
    # A node carrying two GPU products is in two groups: it counts once (its better slot).
    seen: set[str] = set()
    end = len(ranked_l)
    for i, r in enumerate(ranked_l):
        seen.update(groups[r].nodes)
        if len(seen) >= top:
            # `ranked` is sorted by the columns: the groups tying with this one on the policy
            # terms follow it, and every later group is worse
            rest = ranked[i + 1:]
            tie = np.ones(len(rest), dtype=bool)
            for col in scores.columns[:width]:
                tie &= col[rest] == col[r]
            end = i + 1 + (len(rest) if tie.all() else int(np.argmin(tie)))
            break
    taken = ranked_l[:end]
    # A member's key is its group's key with its own name rank: the terms are computed once per
    # group (the policy-term columns), and a group's members (sorted names: rank order) come in
    # key order, so the groups' members are merged lazily on a heap of each group's next member,
    # ties going to the earlier group (as a stable sort of every member would), until `top`
    # distinct nodes are found. Entries hold the key negated (heapq pops the smallest).
    rank = problem.node_rank
    heap = []
    if taken:
        neg = np.stack([-col[taken] for col in scores.columns[:width]], axis=1).tolist()
        for order, (r, head) in enumerate(zip(taken, neg, strict=True)):
            heap.append((*head, rank[groups[r].nodes[0]], cands[scores.cand[r]].index, order, 0))
    heapq.heapify(heap)
    out: list[Assignment] = []
    used: set[str] = set()
    while heap and len(out) < top:
        entry = heapq.heappop(heap)
        order, pos = entry[-2], entry[-1]
        r = taken[order]
        nodes = groups[r].nodes
        n = nodes[pos]
        if n not in used:
            used.add(n)
            out.append(assignment(problem, cands[scores.cand[r]], groups[r], n))
        if pos + 1 < len(nodes):
            heapq.heappush(heap, (*entry[:width], rank[nodes[pos + 1]], entry[width + 1], order, pos + 1))
    return out
