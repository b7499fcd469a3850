"""Vectorised "best runtime per (target, cached set)" for the fast path and batch options.

The best runtime for a node group depends only on its target (GPU product, platform, driver)
and its cached set. A fleet can hold thousands of distinct (target, cached set) pairs, and
judging each pair by scanning every feasible candidate in Python costs seconds per selection.

Per (group table, candidate table) this module precomputes, once:
- the *relevant* components: those of the candidate table that some cached entry of the fleet
  provides (`facts.cached_match`); every other component never earns cached bytes;
- each candidate's *signature*: how many of each relevant component it carries (candidates
  with the same signature earn the same cached bytes on every node);
- `cb_sig[cached set, signature]`: cached bytes, exactly `Problem.cached_bytes_for`;
- the pair-rule verdicts of every (target, candidate) of the table (`RequestFacts.verdicts`),
  deduplicated: candidates accepted on exactly the same targets share a *verdict class*,
  targets accepting exactly the same candidates share a *verdict row*.

Per request, `best_many` then finds for every pair the candidate with the largest
`Problem.candidate_key_for` with a few small array operations. Candidates of one (verdict
class, signature) are interchangeable but for their position in the key order, so only the
first of each class competes (a few dozen classes, against thousands of candidates); per
verdict row, the first feasible class of each signature group, then an arg-max of
`cached bytes * (n + 1) - position` over the groups. The result equals
`max(feasible, key=problem.candidate_key_for)` (tests hold them together).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
from packaging.version import InvalidVersion, Version

from solver.facts.candidates import Candidate, Component, cached_match, cached_weight
from solver.rules.pair import pair_failure_rules_many, table_signatures

if TYPE_CHECKING:
    from solver.facts.problem import Problem, RequestFacts
    from solver.facts.table import GroupTable

__all__ = ["CachedIndex", "best_for_pairs", "best_many", "cached_index"]

_NEVER = np.iinfo(np.int64).min


def _parse_entry(entry: str) -> tuple[str, Version | None]:
    kind, _, version = entry.partition("/")
    try:
        return kind.strip().lower(), Version(version.strip())
    except InvalidVersion:
        return kind.strip().lower(), None


def _distinct(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the first of each distinct row, in order of first appearance; each row's class)."""
    rows = np.ascontiguousarray(rows)
    keys = rows.view(np.dtype((np.void, rows.shape[1] * rows.itemsize))).reshape(-1)
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inv.reshape(-1)]


class CachedIndex:
    """Cached-bytes signatures and verdict rows of one candidate table on one group table."""

    def __init__(self, table: GroupTable, facts: RequestFacts, min_bytes: int = 0) -> None:
        cands: tuple[Candidate, ...] = facts.all_candidates
        self.facts = facts
        self.targets = table.targets
        comps: dict[Component, int] = {}
        for c in cands:
            for comp in c.components:
                comps.setdefault(comp, len(comps))
        comp_list = list(comps)
        entries = sorted({e for s in table.cached_sets for e in s})
        e_index = {e: i for i, e in enumerate(entries)}
        parsed = [_parse_entry(e) for e in entries]
        hit = np.array([[cached_match(comp, p) for comp in comp_list] for p in parsed], dtype=bool).reshape(
            len(entries), len(comp_list))
        relevant = np.flatnonzero(hit.any(axis=0))
        rel_pos = {int(r): i for i, r in enumerate(relevant.tolist())}
        counts = np.zeros((len(cands), len(relevant)), dtype=np.int64)
        for c in cands:
            for comp in c.components:
                j = rel_pos.get(comps[comp])
                if j is not None:
                    counts[c.index, j] += 1
        sigs, sig_of = np.unique(counts, axis=0, return_inverse=True)
        self.sig_of = np.asarray(sig_of, dtype=np.int64).reshape(-1)
        self.nsig = len(sigs)
        sizes = np.array([cached_weight(comp_list[int(r)].size_bytes, min_bytes) for r in relevant.tolist()],
                         dtype=np.int64)
        member = np.zeros((len(table.cached_sets), len(entries)), dtype=np.int64)
        for i, s in enumerate(table.cached_sets):
            for e in s:
                member[i, e_index[e]] = 1
        has = (member @ hit[:, relevant].astype(np.int64)) > 0           # cached set x relevant component
        self.cb_sig = has.astype(np.int64) @ (sigs * sizes).T             # cached set x signature: bytes
        # Pair-rule verdicts of every (target, candidate), deduplicated both ways: candidates
        # judged alike on every target of this fleet share a verdict class, targets judged alike
        # (same platform, CC and driver, or just the same outcome) share a verdict row.
        verdicts = np.array([np.frombuffer(facts.verdicts(t), dtype=np.uint8) for t in self.targets],
                            dtype=bool).reshape(len(self.targets), len(cands))
        if verdicts.size:
            first, vclass_of = _distinct(np.packbits(verdicts, axis=0).T)
            cols = verdicts[:, first]                                  # target x verdict class
            first, row_of = _distinct(np.packbits(cols, axis=1))
            rows = cols[first]
        else:
            rows, vclass_of, row_of = verdicts, np.zeros(len(cands)), np.zeros(len(self.targets))
        self.vclass_of = np.asarray(vclass_of, dtype=np.int64).reshape(-1)  # per candidate
        self.row_of = np.asarray(row_of, dtype=np.int64).reshape(-1)        # per table target
        self.vrows = rows                                   # verdict row x verdict class: accepted
        # per candidate: its (verdict class, signature) class as one code (`_classes`)
        self.class_code = self.vclass_of * self.nsig + self.sig_of
        self.nclass_codes = int(self.class_code.max()) + 1 if len(self.class_code) else 0
        # The pair rules of every candidate on every (platform, CC, driver) of the fleet, which
        # explanations and rejection tallies read: judged here, once per fleet and candidate
        # table, rather than on the first selections that need them.
        _, reps = table_signatures(facts.index, facts.table_key, cands)
        judged: set[tuple] = set()
        for t in self.targets:
            pkey = (t.platform, t.cc, t.driver)
            if t.cc is not None and pkey not in judged:
                judged.add(pkey)
                pair_failure_rules_many(facts.index, reps, t, facts.table_key)
        # cached sets earning the same bytes from every signature share a cached-bytes class
        if self.cb_sig.size:
            first, cbc_of = _distinct(self.cb_sig)
            self.cb_rows = self.cb_sig[first]                 # cached-bytes class x signature: bytes
        else:
            cbc_of, self.cb_rows = np.zeros(len(table.cached_sets), dtype=np.int64), self.cb_sig
        self.cbc_of = np.asarray(cbc_of, dtype=np.int64).reshape(-1)       # per cached set
        self._pair_classes(table)

    def _pair_classes(self, table: GroupTable) -> None:
        """Each (target, cached set) pair of `table` as a (verdict row, cached-bytes class) pair."""
        codes, _ = table.pairs()
        ncached = max(len(table.cached_sets), 1)
        ncbc = max(len(self.cb_rows), 1)
        key = self.row_of[codes // ncached] * ncbc + self.cbc_of[codes % ncached] if len(codes) else codes
        ukeys, upair_of = np.unique(key, return_inverse=True)
        self.upair_of = np.asarray(upair_of, dtype=np.int64).reshape(-1)  # per pair of table.pairs()
        self.upair_row = ukeys // ncbc
        self.upair_cbc = ukeys % ncbc

    def cached_bytes(self, cached_ids: np.ndarray, cand_ids: np.ndarray) -> np.ndarray:
        return self.cb_sig[cached_ids, self.sig_of[cand_ids]]

    def restricted(self, parent: GroupTable, table: GroupTable) -> CachedIndex:
        """This index (built on `parent`) for `table`, whose targets and cached sets are some of
        the parent's (a `where` scope): the per-target and per-cached-set rows are picked out, the
        candidate signatures and verdict classes are kept (classes alike on every target of the
        parent are alike on every target of the scope), and only the pairs are classed again."""
        sub = copy.copy(self)
        tmap = np.array([parent.target_index[t] for t in table.targets], dtype=np.int64)
        cmap = np.array([parent.cached_index[c] for c in table.cached_sets], dtype=np.int64)
        sub.targets = table.targets
        sub.row_of = self.row_of[tmap]
        sub.cb_sig = self.cb_sig[cmap]
        sub.cbc_of = self.cbc_of[cmap]
        sub._pair_classes(table)
        return sub


def cached_index(table: GroupTable, facts: RequestFacts, min_bytes: int = 0) -> CachedIndex:
    """The index of `facts`' candidate table on `table` (memoised on the table; a scoped table's
    is derived from its parent's), cached bytes weighed with `min_bytes` (`facts.cached_weight`)."""
    key = ("cached-index", facts.table_key, min_bytes)
    found = table.memo.get(key)
    if found is None:
        if table.parent is not None:
            made = cached_index(table.parent, facts, min_bytes).restricted(table.parent, table)
        else:
            made = CachedIndex(table, facts, min_bytes)
        found = table.memo.setdefault(key, made)
    return found


def _order(problem: Problem) -> np.ndarray:
    """The request's candidates ordered by the non-cached part of the candidate key (best first)."""
    kept = problem.facts.kept_index          # by (newest rank, index)
    return kept if "newest" in problem._cand_order else np.sort(kept)


def _classes(idx: CachedIndex, ordc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in `ordc`) of the first candidate of each (verdict class, cached signature) class.

    Candidates of one class are judged alike by the pair rules on every target of the table and
    earn the same cached bytes on every node, so only the first of each (in key order) can be
    anyone's best.
    Returns (positions, ascending; their candidate indices).
    """
    n = len(ordc)
    first = np.full(idx.nclass_codes, n, dtype=np.int64)   # per class code: its first position
    np.minimum.at(first, idx.class_code[ordc], np.arange(n, dtype=np.int64))
    pos = np.sort(first[first < n])
    return pos, ordc[pos]


def best_many(problem: Problem, target_ids: np.ndarray, cached_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best candidate index (-1: none fits) and its cached bytes for each (table target, cached set) pair."""
    n = len(target_ids)
    if n == 0 or len(_order(problem)) == 0:
        return np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    idx = cached_index(problem.table, problem.facts, problem.policy.cached_min_bytes)
    return _best(problem, idx, idx.row_of[target_ids], idx.cbc_of[cached_ids])


def best_for_pairs(problem: Problem, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`best_many` of every (target, cached set) pair of `problem.table.pairs()` marked `used`
    (the others get -1 and 0), judged once per (verdict row, cached-bytes class)."""
    n = len(used)
    cand = np.full(n, -1, dtype=np.int64)
    cbytes = np.zeros(n, dtype=np.int64)
    if not used.any() or len(_order(problem)) == 0:
        return cand, cbytes
    idx = cached_index(problem.table, problem.facts, problem.policy.cached_min_bytes)
    marked = np.zeros(len(idx.upair_row), dtype=bool)
    marked[idx.upair_of[used]] = True
    ups = np.flatnonzero(marked)
    ucand, ubytes = _best(problem, idx, idx.upair_row[ups], idx.upair_cbc[ups])
    full_cand = np.full(len(marked), -1, dtype=np.int64)
    full_bytes = np.zeros(len(marked), dtype=np.int64)
    full_cand[ups] = ucand
    full_bytes[ups] = ubytes
    cand[used] = full_cand[idx.upair_of[used]]
    cbytes[used] = full_bytes[idx.upair_of[used]]
    return cand, cbytes


def _best(problem: Problem, idx: CachedIndex, row_ids: np.ndarray, cbc_ids: np.ndarray) \
        -> tuple[np.ndarray, np.ndarray]:
    """Best candidate and its cached bytes per (verdict row, cached-bytes class) pair."""
    ordc = _order(problem)
    pos, reps = _classes(idx, ordc)
    t_inv = row_ids                                       # every verdict row (there are few)
    ok = idx.vrows[:, idx.vclass_of[reps]]                # verdict row x class (in key order)
    any_ok = ok.any(axis=1)
    first = ok.argmax(axis=1)                             # each row's first feasible class
    order = problem._cand_order
    if "cached" not in order:
        at = np.where(any_ok, first, -1)[t_inv]
    else:
        # the classes grouped by cached signature (and newest rank when that comes first): each
        # row's first feasible class of every group competes on cached bytes
        nk = len(ordc)
        sig = idx.sig_of[reps]
        newest_first = "newest" in order and order.index("newest") < order.index("cached")
        rank = problem.facts.rank_array[reps]
        gkey = rank * idx.nsig + sig if newest_first else sig
        perm = np.argsort(gkey, kind="stable")            # within a group: by position
        gsorted = gkey[perm]
        starts = np.concatenate(([0], np.flatnonzero(gsorted[1:] != gsorted[:-1]) + 1))
        at_g = np.minimum.reduceat(np.where(ok, np.arange(len(reps)), len(reps))[:, perm], starts, axis=1)
        valid = at_g < len(reps)                          # row x group: its first feasible class
        if newest_first:                                  # only the newest feasible rank competes
            valid &= rank[perm[starts]][None, :] == rank[first][:, None]
        fpos = pos[np.minimum(at_g, len(reps) - 1)]
        cb = idx.cb_rows[:, sig[perm[starts]]][cbc_ids]   # pair x group: cached bytes
        score = np.where(valid[t_inv], cb * (nk + 1) - fpos[t_inv], _NEVER)
        g = score.argmax(axis=1)
        at = np.where(valid[t_inv, g], at_g[t_inv, g], -1)
    cand = np.where(at >= 0, reps[np.maximum(at, 0)], -1)
    cbytes = np.where(cand >= 0, idx.cb_rows[cbc_ids, idx.sig_of[np.maximum(cand, 0)]], 0)
    return cand, cbytes
