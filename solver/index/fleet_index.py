"""The fleet index: what the solver derives from one inventory under one catalog revision.

Node groups (identical nodes collapsed), their columnar tables and the node-name ranks depend
on the inventory and on the catalog (GPU products resolve against it), never on a request. A
`FleetIndex` holds them for ONE (catalog index, inventory) pair: built once, passed explicitly
to `select`, shared by every thread selecting on that fleet, and dropped with it (a new
inventory revision or a new catalog revision gets a new one). Like `CatalogIndex`, its tables
are insert-only and their values are pure functions of the key, so threads may race to fill one
and never see an entry disappear. `warm()` builds the request-independent parts ahead of time,
so a service can build the next index before swapping it in.

A scoped selection (a `where` on cluster, labels or node names) does not rebuild anything: it
asks `scoped(names)` for a view that keeps only those nodes' groups, derived from this index's
groups (see `FleetIndex.scoped`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from solver.facts.groups import NodeGroup, base_groups, cpu_groups
from solver.index.catalog_index import CatalogIndex
from solver.inputs.inventory import Inventory

if TYPE_CHECKING:
    from solver.facts.table import GroupTable

__all__ = ["FleetIndex"]


class FleetIndex:
    """Per (catalog revision, inventory revision) node groups and tables (see the module docstring)."""

    def __init__(self, index: CatalogIndex, inventory: Inventory, *, parent: FleetIndex | None = None) -> None:
        self.index = index
        self.catalog = index.catalog
        self.inventory = inventory
        self.parent = parent        # a scoped view's whole-fleet index (its groups are derived from it)
        self._groups: dict[tuple, tuple[NodeGroup, ...]] = {}
        self._tables: dict[tuple, GroupTable] = {}
        self._member_of: dict[tuple, dict[str, list[int]]] = {}   # per groups key: node -> its groups
        self._position: dict[str, int] | None = None               # node name -> place in the inventory
        rank = {name: i for i, name in enumerate(sorted(n.name for n in inventory.nodes))}
        self.node_rank: dict[str, int] = rank

    def groups(self, uses_gpu: bool, label_keys: tuple[str, ...] = ()) -> tuple[NodeGroup, ...]:
        """The request-independent node groups (GPU slots, or one per node for CPU-only requests)."""
        key = (uses_gpu, label_keys)
        found = self._groups.get(key)
        if found is None:
            made = None
            if self.parent is not None:
                made = self.parent._restricted(uses_gpu, label_keys, self.node_rank)
            if made is None:
                made = base_groups(self.catalog, self.inventory, label_keys) if uses_gpu else \
                    cpu_groups(self.inventory, label_keys)
            found = self._groups.setdefault(key, made)
        return found

    def table(self, uses_gpu: bool, label_keys: tuple[str, ...] = ()) -> GroupTable:
        """The columnar table of `groups(uses_gpu, label_keys)` (a scoped view's names its parent's
        table, from which `index.cached` derives the per-table runtime index instead of rebuilding it)."""
        from solver.facts.table import group_table

        key = (uses_gpu, label_keys)
        found = self._tables.get(key)
        if found is None:
            made = group_table(self.groups(uses_gpu, label_keys), self.node_rank, False)
            if self.parent is not None:
                made.parent = self.parent.table(uses_gpu, label_keys)
            found = self._tables.setdefault(key, made)
        return found

    def _restricted(self, uses_gpu: bool, label_keys: tuple[str, ...], keep: dict[str, int]) \
            -> tuple[NodeGroup, ...] | None:
        """This index's groups restricted to the nodes of `keep`, exactly as `base_groups` /
        `cpu_groups` would group those nodes alone (same members, fields and order), in time
        proportional to the nodes kept; None when the order could tie (then the caller groups)."""
        groups = self.groups(uses_gpu, label_keys)
        key = (uses_gpu, label_keys)
        member_of = self._member_of.get(key)
        if member_of is None:
            made: dict[str, list[int]] = {}
            for g in groups:
                for n in g.nodes:
                    made.setdefault(n, []).append(g.index)
            member_of = self._member_of.setdefault(key, made)
        kept: dict[int, list[str]] = {}
        for name in keep:
            for gi in member_of.get(name, ()):
                kept.setdefault(gi, []).append(name)
        # base_groups orders by (first member, product, MIG profile); cpu_groups by first member
        picked = [(tuple(sorted(names)), groups[gi]) for gi, names in kept.items()]
        order = [(nodes[0], g.gpu_product or "", g.mig_profile or "") if uses_gpu else (nodes[0],)
                 for nodes, g in picked]
        if len(set(order)) != len(order):
            return None   # groups of one node alike but for memory: their order follows insertion
        ranked = sorted(range(len(picked)), key=order.__getitem__)
        return tuple(replace(picked[j][1], index=i, nodes=picked[j][0]) for i, j in enumerate(ranked))

    def warm(self) -> FleetIndex:
        """Build the groups and tables every selection without label preferences needs; returns self."""
        for uses_gpu in (True, False):
            self.table(uses_gpu)
        return self

    def scoped(self, names: Iterable[str]) -> FleetIndex:
        """A fleet index of the nodes named (a `where` scope), derived from this one's inventory.

        The nodes are this inventory's own frozen objects (no parsing, no GPU resolution again);
        the view's groups are this index's groups restricted to them, and its tables derive their
        runtime index from this index's tables (`index.cached`): a scope costs what its nodes
        cost, never a rebuild of what the whole fleet already has.
        """
        root = self.parent or self
        position = root._position
        if position is None:
            position = root._position = {n.name: i for i, n in enumerate(root.inventory.nodes)}
        nodes = root.inventory.nodes
        picked = sorted({position[n] for n in names if n in position})
        return FleetIndex(self.index, Inventory(nodes=tuple(nodes[i] for i in picked)), parent=root)

    def __repr__(self) -> str:
        return f"FleetIndex(revision={self.index.revision[:12]}, nodes={len(self.inventory.nodes)})"
