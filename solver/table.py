"""Columnar view of node groups, for the fast path at fleet scale.

A random 5,000-node fleet can still hold thousands of distinct groups (free GPU counts and
cached sets vary). Judging them one Python object at a time costs too much for hundreds of
selections per second, so the per-inventory facts of every group are stored once as numpy
columns (target, cached set, memory, GPU count, free GPUs, cluster, arch, name rank) and a
selection becomes a few vector operations: a feasibility mask, the objective term columns,
and a lexicographic arg-max. Runtime facts are still judged per distinct (target, cached set)
through `fast.best_candidate`, never per node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solver.facts import Target
from solver.groups import NodeGroup

__all__ = ["GroupTable", "group_table"]


@dataclass(eq=False)
class GroupTable:
    groups: tuple[NodeGroup, ...]
    targets: list[Target]
    cached_sets: list[frozenset[str]]
    clusters: list[str | None]
    arches: list[str]
    label_sets: list[tuple[tuple[str, str], ...]]
    target_id: np.ndarray
    cached_id: np.ndarray
    memory: np.ndarray          # MiB, -1 = unknown
    count: np.ndarray
    free: np.ndarray
    cluster_id: np.ndarray
    arch_id: np.ndarray
    label_id: np.ndarray
    rank: np.ndarray            # name rank of the representative (planning: group index)
    members: np.ndarray         # number of nodes in the group (planning: 1)
    memo: dict = field(default_factory=dict)
    target_index: dict[Target, int] = field(default_factory=dict)
    cached_index: dict[frozenset[str], int] = field(default_factory=dict)  # per candidate table: `cachedindex.CachedIndex`


    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct target x cached-set codes, sorted; each group's position among them) (memoised).

        Code = target_id * len(cached_sets) + cached_id, as `fast.RowScores` uses.
        """
        found = self.memo.get("pairs")
        if found is None:
            code = self.target_id * max(len(self.cached_sets), 1) + self.cached_id
            uniq, inv = np.unique(code, return_inverse=True)
            found = self.memo["pairs"] = (uniq, inv.reshape(-1))
        return found


def _intern(values: list, item) -> int:  # type: ignore[no-untyped-def]
    try:
        return values.index(item)
    except ValueError:
        values.append(item)
        return len(values) - 1


def group_table(groups: tuple[NodeGroup, ...], node_rank: dict[str, int], planning: bool) -> GroupTable:
    targets: list[Target] = []
    t_index: dict[Target, int] = {}
    cached: dict[frozenset[str], int] = {}
    clusters: list[str | None] = []
    arches: list[str] = []
    labels: list[tuple[tuple[str, str], ...]] = []
    n = len(groups)
    cols = {k: np.zeros(n, dtype=np.int64) for k in ("t", "c", "m", "n", "f", "cl", "a", "l", "r", "k")}
    for i, g in enumerate(groups):
        if g.target not in t_index:
            t_index[g.target] = len(targets)
            targets.append(g.target)
        cols["t"][i] = t_index[g.target]
        cols["c"][i] = cached.setdefault(g.cached, len(cached))
        cols["m"][i] = g.memory_mib if g.memory_mib is not None else -1
        cols["n"][i] = g.count
        cols["f"][i] = g.free
        cols["cl"][i] = _intern(clusters, g.cluster)
        cols["a"][i] = _intern(arches, g.arch)
        cols["l"][i] = _intern(labels, g.labels)
        cols["r"][i] = g.index if planning else node_rank[g.nodes[0]]
        cols["k"][i] = max(len(g.nodes), 1)
    return GroupTable(groups=groups, targets=targets, cached_sets=sorted(cached, key=cached.__getitem__),
                      clusters=clusters, arches=arches, label_sets=labels, target_id=cols["t"], cached_id=cols["c"],
                      memory=cols["m"], count=cols["n"], free=cols["f"], cluster_id=cols["cl"], arch_id=cols["a"],
                      label_id=cols["l"], rank=cols["r"], members=cols["k"], target_index=t_index,
                      cached_index=cached)
