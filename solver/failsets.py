"""Failure sets for explanations: which rules reject each (runtime, node group) pair.

Split from `explain.py`. An infeasible request is explained by the smallest set of rules that
rejects *every* pair; that needs the distinct failure rule sets over all (candidate, group)
pairs, with up to `_EXAMPLES` example triples each for the messages. At 5,000 nodes that is
~1,400 runtimes x ~5,000 groups, so nothing here is judged per pair: node rules per distinct
(target, arch, memory, count, free), pair rule sets per (candidate table, platform, compute
capability, driver) and pair signature, and candidates split per target by one vector key.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import replace
from itertools import islice

import numpy as np

from catalog.compat import Check
from solver.facts import Candidate, Target
from solver.filters import rule_names
from solver.groups import NodeGroup, node_checks, node_rule_names
from solver.pairrules import pair_failure_rules_many
from solver.problem import Problem
from solver.rules import pair_failures, pair_signature

__all__ = ["failure_sets"]

_RULE_SETS: list[frozenset[str]] = []
_RULE_SET_ID: dict[frozenset[str], int] = {}
_RADIX = 1 << 24
_EXAMPLES = 50  # example triples kept per failure rule set
_PAIR_SETS: dict[tuple, np.ndarray] = {}


def _intern_rules(rules: frozenset[str]) -> int:
    """A process-wide id for a set of rule names (there are few distinct ones)."""
    found = _RULE_SET_ID.get(rules)
    if found is None:
        found = _RULE_SET_ID[rules] = len(_RULE_SETS)
        _RULE_SETS.append(rules)
    return found


def _pair_rule_sets(problem: Problem, target: Target, sig_rep: list[Candidate]) -> np.ndarray:
    """Per pair signature of the candidate table (in catalog order), the id of its pair-rule set on `target`."""
    # the pair rules read the platform, compute capability and driver of a target, not the product
    key = (problem.facts.table_key, id(problem.catalog), target.platform, target.cc, target.driver)
    found = _PAIR_SETS.get(key)
    if found is None:
        if len(_PAIR_SETS) > 4096:
            _PAIR_SETS.clear()
        ids: dict[tuple[str, ...], int] = {}
        found = _PAIR_SETS[key] = np.array(
            [ids[r] if r in ids else ids.setdefault(r, _intern_rules(frozenset(r)))
             for r in pair_failure_rules_many(problem.catalog, sig_rep, target, problem.facts.table_key)],
            dtype=np.int64)
    return found


def _group_signatures(problem: Problem) -> dict[tuple, list[NodeGroup]]:
    """(target, node-check rule names) -> its groups, in order of first appearance.

    Node rules read only a group's target, arch, GPU memory, count and free GPUs, so they are
    judged once per distinct combination of those table columns.
    """
    t = problem.table
    base = problem.base_groups
    if not base:
        return {}
    # node_rule_names compares memory, count and free GPUs with the request only, so rows that
    # agree on (target, arch, memory short, count short, free short) get the same names
    req = problem.request
    need = req.min_memory_mib
    short = (t.count < req.gpu_count).astype(np.int64) * 2 + (t.free < req.gpu_count)
    if need:
        short = short * 2 + (t.memory < need)
    else:
        short = short * 2
    combo = (t.target_id.astype(np.int64) * (int(t.arch_id.max()) + 1) + t.arch_id) * 8 + short
    _, first, inv = np.unique(combo, return_index=True, return_inverse=True)
    memo: dict = {}
    names = [node_rule_names(problem.catalog, problem.request, base[i], memo) for i in first.tolist()]
    name_ids: dict[tuple[str, ...], int] = {}
    combo_name = np.array([name_ids.setdefault(n, len(name_ids)) for n in names], dtype=np.int64)
    name_list = list(name_ids)
    code = t.target_id * (len(name_ids) + 1) + combo_name[inv.reshape(-1)]
    order = np.argsort(code, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(code[order]) != 0, True])
    found = []
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = order[a:b].tolist()
        k = int(code[rows[0]])
        found.append((rows[0], (t.targets[k // (len(name_ids) + 1)], name_list[k % (len(name_ids) + 1)]),
                      [base[r] for r in rows]))
    found.sort(key=lambda f: f[0])
    return {key: groups for _, key, groups in found}


def failure_sets(problem: Problem) -> dict[frozenset[str], list[tuple[Candidate, NodeGroup, tuple[Check, ...]]]]:
    """Distinct failure rule sets -> example (candidate, group, checks) triples (at most 50 each).

    Groups identical for the rules (same target and node-check rules) are judged once, through a
    merged group that lists all their nodes. The request + pair rule set of a candidate on a
    target is (its request-filter rules) | (the pair rules of its pair signature there), so per
    target candidates are split by one vector key; a group signature then only adds its node
    rules, and example triples are built for the first candidates (catalog order) of each set.
    """
    out: dict[frozenset[str], list] = defaultdict(list)
    by_sig = _group_signatures(problem)
    cands = problem.all_candidates
    failures_of = problem.facts.failures_of  # request-rule checks with messages, only for examples
    pair_memo: dict[tuple[int, int], tuple[Check, ...]] = {}  # (id of target, pair signature) -> failures
    sets, intern = _RULE_SETS, _intern_rules

    sig_id: dict[tuple, int] = {}
    sig_rep: list[Candidate] = []
    cand_sig = np.zeros(len(cands), dtype=np.int64)
    for c in cands:
        sig = pair_signature(c)
        if sig not in sig_id:
            sig_id[sig] = len(sig_rep)
            sig_rep.append(c)
        cand_sig[c.index] = sig_id[sig]
    # the request-rule names of each candidate, from the filter bits (no messages built here)
    values, bits_inv = np.unique(problem.facts.rule_bits, return_inverse=True)
    cand_fr = np.array([intern(rule_names(int(v))) for v in values.tolist()], dtype=np.int64)[bits_inv.reshape(-1)]
    # per target: (request + pair rule set, first 50 candidate indices having it); 50 is the most
    # examples a rule set keeps, so the first 50 of each part are enough for any union of parts
    sig_of = cand_sig.tolist()
    per_target: dict[Target, list[tuple[frozenset[str], list[int]]]] = {}
    # the parts read a target's platform, compute capability and driver only (see _pair_rule_sets)
    per_pair_key: dict[tuple, list[tuple[frozenset[str], list[int]]]] = {}
    for (target, node_names), siblings in by_sig.items():
        parts = per_target.get(target)
        if parts is None:
            pkey = (target.platform, target.cc, target.driver)
            parts = per_pair_key.get(pkey)
            if parts is None:
                pf = _pair_rule_sets(problem, target, sig_rep)
                key = cand_fr * _RADIX + pf[cand_sig] if len(cands) else cand_fr
                parts = per_pair_key[pkey] = []
                # a stable sort keeps catalog order inside each key: the first 50 of each part
                order = np.argsort(key, kind="stable")
                sk = key[order]
                bounds = np.flatnonzero(np.r_[True, sk[1:] != sk[:-1], True]).tolist() if len(key) else [0]
                for a, b in zip(bounds[:-1], bounds[1:], strict=True):
                    k = int(sk[a])
                    parts.append((sets[k // _RADIX] | sets[k % _RADIX], order[a:min(b, a + _EXAMPLES)].tolist()))
            per_target[target] = parts
        node_rules = frozenset(node_names)
        merged: dict[frozenset[str], list[list[int]]] = {}
        for rules, idx in parts:
            merged.setdefault(rules | node_rules, []).append(idx)
        g: NodeGroup | None = None
        for fs, lists in sorted(merged.items(), key=lambda kv: min(a[0] for a in kv[1])):
            bucket = out[fs]
            room = _EXAMPLES - len(bucket)
            if room <= 0:
                continue
            if g is None:  # the merged group, built only when it gives an example
                g = replace(siblings[0], node_checks=node_checks(problem.catalog, problem.request, siblings[0]))
                if len(siblings) > 1:
                    g = replace(g, nodes=tuple(sorted(n for s in siblings for n in s.nodes)))
            first = lists[0][:room] if len(lists) == 1 else list(islice(heapq.merge(*lists), room))
            for i in first:
                c = cands[i]
                key = (id(target), sig_of[i])   # pair failures depend on the pair signature only
                pf = pair_memo.get(key)
                if pf is None:
                    pf = pair_memo[key] = pair_failures(problem.catalog, c, target)
                bucket.append((c, g, failures_of(i) + g.node_checks + pf))
    return out
