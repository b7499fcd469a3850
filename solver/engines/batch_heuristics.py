"""Batch placement, step 2: the heuristics (baselines, CP-SAT's hint and floor).

- `first_fit`: requests in order, each to the best-keyed option whose group still has a member
  node (in name order) with enough free GPUs (and whose cluster quota has room).
- `best_fit_decreasing`: requests by decreasing GPU count (ties: fewest options first, then
  request order); each to the node, among all its options, left with the fewest free GPUs after
  taking it (ties: the better-keyed option, then node name order). The classic bin-packing
  heuristic: it fragments capacity less than first-fit, at the price of the policy terms.
- `scarce_first`: most constrained first - requests whose options hold the fewest free GPUs in
  all (e.g. the 80 GB models on a few large nodes), then larger ones, then request order; each to
  its best-keyed option with room, as first-fit. Requests that could run anywhere no longer take
  the scarce capacity before the requests that need it.

Both return (counts per (class, option), per request (class, option, node) or None); the caller
scores them with `batch_cpsat.objective` and keeps the better one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from solver.engines.batch import _Instance

__all__ = ["HEURISTICS", "best_fit_decreasing", "first_fit"]

Where = list[tuple[int, int, str] | None]


class _Capacity:
    """Free GPUs per (group, node) and what is left of each cluster quota while placing."""

    def __init__(self, inst: _Instance) -> None:
        self.inst = inst
        self.left: dict[tuple[int, str], int] = {}
        self.quota: dict[str, int] = dict(inst.quotas)

    def free(self, c: int, j: int, node: str) -> int:
        g = self.inst.options[c][j].group
        return self.left.get((g.index, node), g.free)

    def quota_ok(self, c: int, j: int) -> bool:
        cluster = self.inst.options[c][j].group.cluster
        need = self.inst.size(c)
        return not need or cluster not in self.quota or self.quota[cluster] >= need

    def take(self, c: int, j: int, node: str) -> None:
        need = self.inst.size(c)
        if not need:
            return
        g = self.inst.options[c][j].group
        self.left[(g.index, node)] = self.free(c, j, node) - need
        if g.cluster in self.quota:
            self.quota[g.cluster] -= need


def _classes(inst: _Instance) -> dict[int, int]:
    return {i: c for c, ms in enumerate(inst.members) for i in ms}


def _finish(inst: _Instance, where: Where) -> tuple[dict[tuple[int, int], int], Where]:
    counts: dict[tuple[int, int], int] = {}
    for w in where:
        if w is not None:
            counts[(w[0], w[1])] = counts.get((w[0], w[1]), 0) + 1
    return counts, where


def first_fit(inst: _Instance) -> tuple[dict[tuple[int, int], int], Where]:
    """Greedy first-fit in request order (the baseline; with no quotas it is the pre-CP-SAT answer)."""
    cap = _Capacity(inst)
    where: Where = [None] * len(inst.requests)
    cls_of = _classes(inst)
    for i in range(len(inst.requests)):
        _first_fit_one(inst, cap, where, i, cls_of[i])
    return _finish(inst, where)


def best_fit_decreasing(inst: _Instance) -> tuple[dict[tuple[int, int], int], Where]:
    """Largest requests first, each to the tightest node among all its options."""
    cap = _Capacity(inst)
    where: Where = [None] * len(inst.requests)
    cls_of = _classes(inst)
    order = sorted(range(len(inst.requests)), key=lambda i: (-inst.size(cls_of[i]), len(inst.options[cls_of[i]]), i))
    for i in order:
        c = cls_of[i]
        need = inst.size(c)
        best: tuple[int, int, str] | None = None
        best_left = 0
        for j, o in enumerate(inst.options[c]):
            if not cap.quota_ok(c, j):
                continue
            for n in o.group.nodes:
                left = cap.free(c, j, n) - need
                if left >= 0 and (best is None or left < best_left):
                    best, best_left = (c, j, n), left
                if left == 0 or not need:
                    break       # the group's nodes are alike: the first with the tightest fit will do
            if best is not None and (best_left == 0 or not need):
                break
        if best is not None:
            cap.take(*best)
            where[i] = best
    return _finish(inst, where)


def scarce_first(inst: _Instance) -> tuple[dict[tuple[int, int], int], Where]:
    """Most constrained first: requests whose options hold the fewest GPUs in all, then larger
    ones, then request order; each to its best-keyed option with room (first-fit)."""
    cap = _Capacity(inst)
    where: Where = [None] * len(inst.requests)
    cls_of = _classes(inst)
    room = [sum(len(o.group.nodes) * o.group.free for o in opts) for opts in inst.options]
    order = sorted(range(len(inst.requests)), key=lambda i: (room[cls_of[i]], -inst.size(cls_of[i]), i))
    for i in order:
        _first_fit_one(inst, cap, where, i, cls_of[i])
    return _finish(inst, where)


def _first_fit_one(inst: _Instance, cap: _Capacity, where: Where, i: int, c: int) -> bool:
    """Request `i` (class `c`) to the first option, in key order, with quota and a node with room."""
    need = inst.size(c)
    for j, o in enumerate(inst.options[c]):
        if not cap.quota_ok(c, j):
            continue
        node = next((n for n in o.group.nodes if cap.free(c, j, n) >= need), None)
        if node is not None:
            cap.take(c, j, node)
            where[i] = (c, j, node)
            return True
    return False


HEURISTICS = {"first-fit": first_fit, "best-fit-decreasing": best_fit_decreasing, "scarce-first": scarce_first}
