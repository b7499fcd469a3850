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
from typing import TYPE_CHECKING

from solver.facts.groups import NodeGroup, base_groups, cpu_groups
from solver.index.catalog_index import CatalogIndex
from solver.inputs.inventory import Inventory

if TYPE_CHECKING:
    from solver.facts.table import GroupTable

__all__ = ["FleetIndex"]


class FleetIndex:
    """Per (catalog revision, inventory revision) node groups and tables (see the module docstring)."""

    def __init__(self, index: CatalogIndex, inventory: Inventory) -> None:
        self.index = index
        self.catalog = index.catalog
        self.inventory = inventory
        self._groups: dict[tuple, tuple[NodeGroup, ...]] = {}
        self._tables: dict[tuple, GroupTable] = {}
        rank = {name: i for i, name in enumerate(sorted(n.name for n in inventory.nodes))}
        self.node_rank: dict[str, int] = rank

    def groups(self, uses_gpu: bool, label_keys: tuple[str, ...] = ()) -> tuple[NodeGroup, ...]:
        """The request-independent node groups (GPU slots, or one per node for CPU-only requests)."""
        key = (uses_gpu, label_keys)
        found = self._groups.get(key)
        if found is None:
            made = base_groups(self.catalog, self.inventory, label_keys) if uses_gpu else \
                cpu_groups(self.inventory, label_keys)
            found = self._groups.setdefault(key, made)
        return found

    def table(self, uses_gpu: bool, label_keys: tuple[str, ...] = ()) -> GroupTable:
        """The columnar table of `groups(uses_gpu, label_keys)`."""
        from solver.facts.table import group_table

        key = (uses_gpu, label_keys)
        found = self._tables.get(key)
        if found is None:
            found = self._tables.setdefault(key, group_table(self.groups(uses_gpu, label_keys), self.node_rank,
                                                             False))
        return found

    def warm(self) -> FleetIndex:
        """Build the groups and tables every selection without label preferences needs; returns self."""
        for uses_gpu in (True, False):
            self.table(uses_gpu)
        return self

    def scoped(self, names: Iterable[str]) -> FleetIndex:
        """A fleet index of the nodes named (a `where` scope), derived from this one's inventory.

        The nodes are this inventory's own frozen objects (no parsing, no GPU resolution again).
        """
        keep = set(names)
        sub = Inventory(nodes=tuple(n for n in self.inventory.nodes if n.name in keep))
        return FleetIndex(self.index, sub)

    def __repr__(self) -> str:
        return f"FleetIndex(revision={self.index.revision[:12]}, nodes={len(self.inventory.nodes)})"
