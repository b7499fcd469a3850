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

from solver.facts.candidates import Target
from solver.facts.groups import NodeGroup

__all__ = ["GroupTable", "NodeClasses", "group_table"]


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
    parent: GroupTable | None = None   # a scoped view's: the whole fleet's table (targets, cached sets a superset)


    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct target x cached-set codes, sorted; each group's position among them) (memoised).

        Code = target_id * len(cached_sets) + cached_id, as `fast.RowScores` uses.
        """
        found = self.memo.get("pairs")
        if found is None:
            code = self.target_id * max(len(self.cached_sets), 1) + self.cached_id
            uniq, inv = np.unique(code, return_inverse=True)
            found = self.memo.setdefault("pairs", (uniq, inv.reshape(-1)))
        return found

    def node_classes(self) -> NodeClasses:
        """Rows grouped by (target, arch, GPU count, free GPUs, memory): what node rules read (memoised)."""
        found = self.memo.get("node-classes")
        if found is None:
            cols = np.stack([self.target_id, self.arch_id, self.count, self.free, self.memory], axis=1)
            if len(cols):
                _, rep, inv = np.unique(cols, axis=0, return_index=True, return_inverse=True)
                inv = inv.reshape(-1)
            else:
                rep, inv = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            found = self.memo.setdefault("node-classes", NodeClasses(
                class_of=inv, rep_row=rep, target_id=self.target_id[rep], arch_id=self.arch_id[rep],
                count=self.count[rep], free=self.free[rep], memory=self.memory[rep],
                members=np.bincount(inv, weights=self.members, minlength=len(rep))))
        return found


@dataclass(frozen=True)
class NodeClasses:
    """Group rows alike for the node rules: per class its columns, a row of it, its node count."""

    class_of: np.ndarray        # per group row
    rep_row: np.ndarray
    target_id: np.ndarray
    arch_id: np.ndarray
    count: np.ndarray
    free: np.ndarray
    memory: np.ndarray
    members: np.ndarray


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
    cols: dict[str, list[int]] = {k: [] for k in ("t", "c", "m", "n", "f", "cl", "a", "l", "r", "k")}
    ct, cc, cm, cn, cf, ccl, ca, cla, cr, ck = cols.values()
    for g in groups:   # plain lists, one numpy conversion per column at the end
        target = g.target
        ti = t_index.get(target)
        if ti is None:
            ti = t_index[target] = len(targets)
            targets.append(target)
        ct.append(ti)
        cc.append(cached.setdefault(g.cached, len(cached)))
        cm.append(g.memory_mib if g.memory_mib is not None else -1)
        cn.append(g.count)
        cf.append(g.free)
        ccl.append(_intern(clusters, g.cluster))
        ca.append(_intern(arches, g.arch))
        cla.append(_intern(labels, g.labels))
        cr.append(g.index if planning else node_rank[g.nodes[0]])
        ck.append(max(len(g.nodes), 1))
    arr = {k: np.array(v, dtype=np.int64) for k, v in cols.items()}
    return GroupTable(groups=groups, targets=targets, cached_sets=sorted(cached, key=cached.__getitem__),
                      clusters=clusters, arches=arches, label_sets=labels, target_id=arr["t"], cached_id=arr["c"],
                      memory=arr["m"], count=arr["n"], free=arr["f"], cluster_id=arr["cl"], arch_id=arr["a"],
                      label_id=arr["l"], rank=arr["r"], members=arr["k"], target_index=t_index,
                      cached_index=cached)
