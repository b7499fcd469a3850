"""Failure sets for explanations: which rules reject each (runtime, node group) pair.

Split from `explain.py`. An infeasible request is explained by the smallest set of rules that
rejects *every* pair; that needs the distinct failure rule sets over all (candidate, group)
pairs, with up to `EXAMPLES` examples each for the messages. At 5,000 nodes that is ~1,400
runtimes x ~5,000 groups, so nothing here is judged per pair: node rules per distinct (target,
arch, memory, count, free), pair rule sets per (candidate table, platform, compute capability,
driver) and pair signature, and candidates split per target by one vector key.

Examples are kept as `Chunk`s (a merged node group, its target, and the candidates that are
examples there) and their `Check` messages are built only when asked, for one rule at a time
(`FailureSets.rule_checks`): the explanation renders the rules of the core only, and most
examples never need a message at all.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from itertools import islice

import numpy as np

from catalog.compat import Check
from solver.engines.fast import target_rules
from solver.facts.candidates import Candidate, Target
from solver.facts.groups import NodeGroup, node_checks
from solver.facts.problem import Problem
from solver.rules.definitions import RULES, pair_failures, request_rule_failures
from solver.rules.filters import RULE_BITS, rule_names
from solver.rules.pair import pair_failure_rules_many, table_signatures

__all__ = ["EXAMPLES", "Chunk", "FailureSets", "MergedGroup", "failure_sets"]

_RADIX = 1 << 24
EXAMPLES = 50  # example (candidate, group) pairs kept per failure rule set
Example = tuple[Candidate, NodeGroup, tuple[Check, ...]]


def _pair_signatures(problem: Problem) -> tuple[np.ndarray, list[Candidate]]:
    """(pair signature number per candidate of the table, the first candidate of each) (per table)."""
    return table_signatures(problem.index, problem.facts.table_key, problem.all_candidates)


def _pair_rule_sets(problem: Problem, target: Target, sig_rep: list[Candidate]) -> tuple[np.ndarray, int]:
    """Per pair signature of the candidate table (in catalog order), the id of its pair-rule set on
    `target`; and an id of that whole column (targets judged alike share it)."""
    # the pair rules read the platform, compute capability and driver of a target, not the product
    ix = problem.index
    key = (problem.facts.table_key, target.platform, target.cc, target.driver)
    found = ix.pair_sets.get(key)
    if found is None:
        ids: dict[tuple[str, ...], int] = {}
        col = np.array([ids[r] if r in ids else ids.setdefault(r, ix.rule_set_id(frozenset(r)))
                        for r in pair_failure_rules_many(ix, sig_rep, target, problem.facts.table_key)],
                       dtype=np.int64)
        found = ix.pair_sets.setdefault(key, (col, ix.column_id(col.tobytes())))
    return found


def _node_rule_codes(problem: Problem) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Per group row: an id of its node-check rule names (`groups.node_rule_names`), and the names."""
    t = problem.table
    req = problem.request
    n = len(t.groups)
    _, names_of = target_rules(problem)    # memoised per table (fast.target_rules)
    tname_ids: dict[tuple[str, ...], int] = {}
    tcode = np.array([tname_ids.setdefault(names if req.uses_gpu else (), len(tname_ids)) for names in names_of],
                     dtype=np.int64)
    tlist = list(tname_ids)
    bits = np.zeros(n, dtype=np.int64)
    if req.arch is not None:
        bits |= np.array([a not in req.arch for a in t.arches], dtype=np.int64)[t.arch_id]
    if req.uses_gpu:
        has_gpu = np.array([tg.cc is not None for tg in t.targets], dtype=bool)[t.target_id]
        need = req.min_memory_mib
        if need:
            bits |= 2 * (has_gpu & (t.memory < need))          # unknown memory (-1) counts as short
        bits |= 4 * (has_gpu & (t.count < req.gpu_count))
        bits |= 8 * (has_gpu & (t.count >= req.gpu_count) & (t.free < req.gpu_count))
    code = tcode[t.target_id] * 16 + bits
    names: list[tuple[str, ...]] = []
    ids: dict[int, int] = {}
    out = np.zeros(n, dtype=np.int64)
    uniq, inv = np.unique(code, return_inverse=True)
    for u in uniq.tolist():
        b = u % 16
        tn = tlist[u // 16]
        parts = ["arch-not-allowed"] if b & 1 else []
        if req.uses_gpu and tn != ("no-gpu",):
            parts += [r for bit, r in ((2, "gpu-memory"), (4, "gpu-count"), (8, "no-free-gpu")) if b & bit]
        ids[u] = len(names)
        names.append((*parts, *tn))
    out = np.array([ids[u] for u in uniq.tolist()], dtype=np.int64)[inv.reshape(-1)]
    return out, names


def _group_signatures(problem: Problem) -> list[tuple[int, tuple[str, ...], np.ndarray]]:
    """(table target id, node-check rule names, its group rows), in order of first appearance.

    Node rules read only a group's target, arch, GPU memory, count and free GPUs, so they are
    judged once per distinct combination of those table columns.
    """
    t = problem.table
    if not problem.base_groups:
        return []
    combo_name, name_list = _node_rule_codes(problem)
    code = t.target_id * (len(name_list) + 1) + combo_name
    order = np.argsort(code, kind="stable")
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(code[order]) != 0) + 1, [len(code)]))
    starts = bounds[:-1]
    firsts = order[starts]
    found = []
    for j in np.argsort(firsts, kind="stable").tolist():
        a, b = int(bounds[j]), int(bounds[j + 1])
        k = int(code[order[a]])
        found.append((k // (len(name_list) + 1), name_list[k % (len(name_list) + 1)], order[a:b]))
    return found


def _merged_nodes(problem: Problem, rows: np.ndarray) -> tuple[str, ...]:
    """The nodes of these group rows, sorted by name (through the name ranks, memoised per table)."""
    t = problem.table
    found = t.memo.get("node-ranks")
    if found is None:
        rank = problem.node_rank
        names = [""] * len(rank)
        for n, r in rank.items():
            names[r] = n
        counts = np.array([len(g.nodes) for g in t.groups], dtype=np.int64)
        flat = np.array([rank[n] for g in t.groups for n in g.nodes], dtype=np.int64)
        found = t.memo.setdefault("node-ranks", (names, flat, np.cumsum(counts) - counts, counts))
    names, flat, starts, counts = found
    c = counts[rows]
    at = starts[rows]
    if (c != 1).any():    # groups of several nodes (or none): each member position
        at = np.repeat(at - (np.cumsum(c) - c), c) + np.arange(int(c.sum()))
    return tuple(map(names.__getitem__, np.sort(flat[at]).tolist()))


class MergedGroup:
    """The group rows alike for the rules (same target and node rules), as one group listing all
    their nodes, with its node checks; built on first use (most never are)."""

    __slots__ = ("_group", "problem", "rows")

    def __init__(self, problem: Problem, rows: np.ndarray) -> None:
        self.problem = problem
        self.rows = rows
        self._group: NodeGroup | None = None

    def get(self) -> NodeGroup:
        if self._group is None:
            p = self.problem
            first = p.base_groups[int(self.rows[0])]
            nodes = _merged_nodes(p, self.rows) if len(self.rows) > 1 else first.nodes
            self._group = replace(first, nodes=nodes, node_checks=node_checks(p.index, p.request, first))
        return self._group


@dataclass(eq=False)
class Chunk:
    """Example pairs of one failure set: candidates (catalog order) on one merged node group."""

    merged: MergedGroup
    target: Target
    cands: list[int]          # candidate indices

    @property
    def group(self) -> NodeGroup:
        """The merged group (all its nodes, with node checks); chunks of one merged group share it."""
        return self.merged.get()


@dataclass(eq=False)
class FailureSets:
    """Distinct failure rule sets (in order of first appearance) -> example chunks (<= 50 pairs each)."""

    problem: Problem
    sets: dict[frozenset[str], list[Chunk]]
    _sig_of: np.ndarray
    _pair_memo: dict[tuple, tuple[Check, ...]] = field(default_factory=dict)   # also request-rule checks

    def pair_checks(self, i: int, chunk: Chunk) -> tuple[Check, ...]:
        """The pair-rule failures of candidate `i` on the chunk's target (memoised per pair signature)."""
        key = (chunk.target, int(self._sig_of[i]))
        found = self._pair_memo.get(key)
        if found is None:
            found = self._pair_memo[key] = pair_failures(self.problem.index, self.problem.all_candidates[i],
                                                         chunk.target)
        return found

    def rule_checks(self, rule: str, i: int, chunk: Chunk) -> tuple[Check, ...]:
        """The checks of `rule` failing for candidate `i` on the chunk's group (messages built here)."""
        scope = RULES[rule].scope if rule in RULES else "pair"
        if scope == "request":
            bit = RULE_BITS.get(rule, 0)
            if bit and not self.problem.facts.rule_bits[i] & bit:
                return ()
            key = (rule, i)
            found = self._pair_memo.get(key)
            if found is None:
                p = self.problem
                found = self._pair_memo[key] = request_rule_failures(p.catalog, p.request, p.all_candidates[i], rule,
                                                                     p.facts.rule_memo)
            return found
        elif scope in ("node", "target"):
            src = chunk.group.node_checks
        else:
            key = (chunk.target, int(self._sig_of[i]), rule)
            found = self._pair_memo.get(key)
            if found is None:
                found = self._pair_memo[key] = tuple(ch for ch in self.pair_checks(i, chunk) if ch.rule == rule)
            return found
        return tuple(ch for ch in src if ch.rule == rule)

    def examples(self, fs: frozenset[str]) -> list[Example]:
        """The (candidate, group, every failing check) examples of set `fs`, in order."""
        facts = self.problem.facts
        cands = self.problem.all_candidates
        return [(cands[i], ch.group, facts.failures_of(i) + ch.group.node_checks + self.pair_checks(i, ch))
                for ch in self.sets.get(fs, ()) for i in ch.cands]


def failure_sets(problem: Problem) -> FailureSets:
    """Distinct failure rule sets with example chunks (at most `EXAMPLES` pairs per set).

    Groups identical for the rules (same target and node-check rules) are judged once, through a
    merged group that lists all their nodes. The request + pair rule set of a candidate on a
    target is (its request-filter rules) | (the pair rules of its pair signature there), so per
    target candidates are split by one vector key; a group signature then only adds its node
    rules, and examples are the first candidates (catalog order) of each set.
    """
    out: dict[frozenset[str], list[Chunk]] = {}
    room: dict[frozenset[str], int] = {}
    cand_sig, sig_rep = _pair_signatures(problem)
    fsets = FailureSets(problem, out, cand_sig)
    by_sig = _group_signatures(problem)
    cands = problem.all_candidates
    sets, intern = problem.index.rule_sets, problem.index.rule_set_id
    # the request-rule names of each candidate, from the filter bits (no messages built here)
    values, bits_inv = np.unique(problem.facts.rule_bits, return_inverse=True)
    cand_fr = np.array([intern(rule_names(int(v))) for v in values.tolist()], dtype=np.int64)[bits_inv.reshape(-1)]
    # per pair-rule column (targets alike for the pair rules): (request + pair rule set, first 50 candidate indices having it);
    # 50 is the most examples a rule set keeps, so the first 50 of each part are enough for any
    # union of parts. Then per (those, node rule names): the merged sets, by first candidate.
    per_pair_key: dict[int, list[tuple[frozenset[str], list[int]]]] = {}
    per_merge: dict[tuple, list[tuple[frozenset[str], list[list[int]]]]] = {}
    full: set[tuple] = set()     # merge keys whose sets all hold EXAMPLES pairs already
    columns = problem.table.memo.setdefault(("pair-rule-columns", problem.facts.table_key), {})
    targets = problem.table.targets
    for tid, node_names, rows in by_sig:
        target = targets[tid]
        found = columns.get(tid)
        if found is None:
            found = columns[tid] = _pair_rule_sets(problem, target, sig_rep)
        pf, pkey = found
        mkey = (pkey, node_names)
        if mkey in full:
            continue
        items = per_merge.get(mkey)
        if items is None:
            parts = per_pair_key.get(pkey)
            if parts is None:
                key = cand_fr * _RADIX + pf[cand_sig] if len(cands) else cand_fr
                parts = per_pair_key[pkey] = []
                # a stable sort keeps catalog order inside each key: the first 50 of each part
                order = np.argsort(key, kind="stable")
                sk = key[order]
                cut = np.flatnonzero(sk[1:] != sk[:-1]) + 1
                starts = [0, *cut.tolist()]
                ends = [*cut.tolist(), len(sk)]
                for a, b, k in zip(starts, ends, sk[starts].tolist(), strict=True) if len(sk) else ():
                    parts.append((sets[k // _RADIX] | sets[k % _RADIX], order[a:min(b, a + EXAMPLES)].tolist()))
            node_rules = frozenset(node_names)
            merged: dict[frozenset[str], list[list[int]]] = {}
            for rules, idx in parts:
                merged.setdefault(rules | node_rules, []).append(idx)
            # each set's candidates in catalog order: sets ordered by their first candidate
            items = per_merge[mkey] = sorted(merged.items(), key=lambda kv: min(a[0] for a in kv[1])
                                             if len(kv[1]) > 1 else kv[1][0][0])
        group: MergedGroup | None = None
        for fs, lists in items:
            left = room.get(fs, EXAMPLES)
            if left <= 0:
                continue
            if group is None:
                group = MergedGroup(problem, rows)
            first = lists[0][:left] if len(lists) == 1 else list(islice(heapq.merge(*lists), left))
            out.setdefault(fs, []).append(Chunk(group, target, first))
            room[fs] = left - len(first)
        if group is None:
            full.add(mkey)
    return fsets
