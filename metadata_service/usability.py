"""Which stored nodes the solver can use with the active catalog, and why not the others.

The solver resolves each GPU of a node against the catalog: a product the catalog knows, or any
product that comes with its `compute_capability`. A GPU that is neither cannot be placed, and a
single such node used to make every fleet-wide selection fail. So a node the solver cannot
understand is kept out of selection, never allowed to break it:

- a full heartbeat with such a GPU is refused with 422 naming `node.gpus[i].product`
  (`HeartbeatService`, against the catalog active at that moment);
- a node stored before an admin uploaded a catalog that dropped its product is left out of every
  selection, and `GET /v1/nodes` shows the reason in `excluded`.

The check is a dictionary lookup per distinct product, memoised per catalog revision, so it adds
nothing measurable per request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from catalog import Catalog

__all__ = ["UsabilityCheck", "unusable_gpu"]

MEMO_PRODUCTS = 4096  # distinct product names remembered per revision (agents choose the strings)


def unusable_gpu(entry: Mapping[str, Any], known: Any) -> tuple[str, str] | None:
    """(field relative to the entry, reason) for the first GPU the solver could not resolve, or None.

    `known(product) -> bool` says whether the active catalog has the product.
    """
    gpus = entry.get("gpus") or []
    for j, gpu in enumerate(gpus if isinstance(gpus, list) else ()):
        if not isinstance(gpu, Mapping) or gpu.get("compute_capability"):
            continue
        product = gpu.get("product")
        if not isinstance(product, str) or not known(product):
            return (
                f"gpus[{j}].product",
                f"GPU product {product!r} is not in the active catalog and the node sent no "
                "compute_capability for it, so no runtime can be matched to it",
            )
    return None


class UsabilityCheck:
    """`reason(entry, catalog)` and `split(entries, catalog)`, memoised per catalog revision."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revision: str | None = None
        self._known: dict[str, bool] = {}

    def _lookup(self, catalog: Catalog) -> Any:
        with self._lock:
            if self._revision != catalog.revision:
                self._revision, self._known = catalog.revision, {}
            known = self._known

        def lookup(product: str) -> bool:
            found = known.get(product)
            if found is None:
                found = catalog.gpu(product) is not None
                if len(known) < MEMO_PRODUCTS:
                    known[product] = found
            return found

        return lookup

    def reason(self, entry: Mapping[str, Any], catalog: Catalog) -> tuple[str, str] | None:
        return unusable_gpu(entry, self._lookup(catalog))

    def split(
        self, entries: Iterable[dict[str, Any]], catalog: Catalog
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """(entries the solver can use, {node name: why it is left out})."""
        lookup = self._lookup(catalog)
        usable: list[dict[str, Any]] = []
        excluded: dict[str, str] = {}
        for entry in entries:
            found = unusable_gpu(entry, lookup)
            if found is None:
                usable.append(entry)
            else:
                excluded[str(entry.get("name"))] = f"{found[0]}: {found[1]}"
        return usable, excluded
