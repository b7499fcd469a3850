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
- verdict rows (target x candidate, from `RequestFacts.verdicts`), filled on demand.

Per request, `best_many` then finds for every pair the candidate with the largest
`Problem.candidate_key_for` with a few array operations: the first feasible position of each
signature per target (candidates are ordered by the key's non-cached part), and an arg-max of
`cached bytes * (n + 1) - position` over signatures. The result equals
`max(feasible, key=problem.candidate_key_for)` (tests hold them together).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from packaging.version import InvalidVersion, Version

from solver.facts import Candidate, Component, cached_match

if TYPE_CHECKING:
    from solver.problem import Problem, RequestFacts
    from solver.table import GroupTable

__all__ = ["CachedIndex", "best_many", "cached_index"]

_NEVER = np.iinfo(np.int64).min


def _parse_entry(entry: str) -> tuple[str, Version | None]:
    kind, _, version = entry.partition("/")
    try:
        return kind.strip().lower(), Version(version.strip())
    except InvalidVersion:
        return kind.strip().lower(), None


class CachedIndex:
    """Cached-bytes signatures and verdict rows of one candidate table on one group table."""

    def __init__(self, table: GroupTable, facts: RequestFacts) -> None:
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
        sizes = np.array([comp_list[int(r)].size_bytes for r in relevant.tolist()], dtype=np.int64)
        member = np.zeros((len(table.cached_sets), len(entries)), dtype=np.int64)
        for i, s in enumerate(table.cached_sets):
            for e in s:
                member[i, e_index[e]] = 1
        has = (member @ hit[:, relevant].astype(np.int64)) > 0           # cached set x relevant component
        self.cb_sig = has.astype(np.int64) @ (sigs * sizes).T             # cached set x signature: bytes
        self._verdicts = np.zeros((len(self.targets), len(cands)), dtype=bool)
        self._filled = np.zeros(len(self.targets), dtype=bool)

    def verdict_rows(self, target_ids: np.ndarray) -> np.ndarray:
        """Pair-rule verdicts (target x candidate of the table) for these table targets."""
        for t in target_ids[~self._filled[target_ids]].tolist():
            self._verdicts[t] = np.frombuffer(self.facts.verdicts(self.targets[t]), dtype=np.uint8).astype(bool)
            self._filled[t] = True
        return self._verdicts[target_ids]

    def cached_bytes(self, cached_ids: np.ndarray, cand_ids: np.ndarray) -> np.ndarray:
        return self.cb_sig[cached_ids, self.sig_of[cand_ids]]


def cached_index(table: GroupTable, facts: RequestFacts) -> CachedIndex:
    """The index of `facts`' candidate table on `table` (memoised on the table)."""
    key = ("cached-index", facts.table_key)
    found = table.memo.get(key)
    if found is None:
        found = table.memo[key] = CachedIndex(table, facts)
    return found


def _order(problem: Problem) -> np.ndarray:
    """The request's candidates ordered by the non-cached part of the candidate key (best first)."""
    memo = problem.facts.best_memo
    key = ("order", problem._cand_order)
    found = memo.get(key)
    if found is None:
        cands = problem.candidates          # sorted by (newest rank, index)
        if "newest" not in problem._cand_order:
            cands = tuple(sorted(cands, key=lambda c: c.index))
        found = memo[key] = np.array([c.index for c in cands], dtype=np.int64)
    return found


def best_many(problem: Problem, target_ids: np.ndarray, cached_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best candidate index (-1: none fits) and its cached bytes for each (table target, cached set) pair."""
    n = len(target_ids)
    none = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    ordc = _order(problem)
    if n == 0 or len(ordc) == 0:
        return none
    idx = cached_index(problem.table, problem.facts)
    tu, t_inv = np.unique(target_ids, return_inverse=True)
    ok = idx.verdict_rows(tu)[:, ordc]                    # target x position
    nk = len(ordc)
    any_ok = ok.any(axis=1)
    first = ok.argmax(axis=1)
    order = problem._cand_order
    if "cached" not in order:
        pos = np.where(any_ok, first, -1)[t_inv]
    else:
        sig = idx.sig_of[ordc]
        newest_first = "newest" in order and order.index("newest") < order.index("cached")
        rank = problem.facts.rank_array[ordc]
        gkey = rank * (int(sig.max()) + 1) + sig if newest_first else sig
        _, gid = np.unique(gkey, return_inverse=True)
        gid = gid.reshape(-1)
        perm = np.argsort(gid, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(gid[perm]) != 0])
        at = np.where(ok, np.arange(nk), nk)[:, perm]
        fpos = np.minimum.reduceat(at, starts, axis=1)     # target x group: first feasible position
        valid = fpos < nk
        if newest_first:                                   # only the newest feasible rank competes
            valid &= rank[perm[starts]][None, :] == rank[first][:, None]
        cb = idx.cb_sig[:, sig[perm[starts]]][cached_ids]  # pair x group: cached bytes
        score = np.where(valid[t_inv], cb * (nk + 1) - fpos[t_inv], _NEVER)
        g = score.argmax(axis=1)
        pos = np.where(valid[t_inv, g], fpos[t_inv, g], -1)
    cand = np.where(pos >= 0, ordc[np.maximum(pos, 0)], -1)
    cbytes = np.where(cand >= 0, idx.cached_bytes(cached_ids, np.maximum(cand, 0)), 0)
    return cand, cbytes
