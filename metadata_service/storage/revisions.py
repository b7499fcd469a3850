"""What a selection reads before anything else, in one statement: the active catalog revision,
the inventory revision and whether some node has gone stale.

A selection needs all three (the cache key is the two revisions; a stale node must be swept
before the revision is trusted). Read as three ORM queries they cost about three times one
round trip and statement setup each, on every request including cache hits; as scalar
subqueries of one SELECT they cost one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, exists, select
from sqlmodel import Session

from ..tables import CatalogPointer, CatalogRevision, Heartbeat, InventoryState
from .catalogs import ACTIVE

__all__ = ["Revisions", "read_revisions"]


@dataclass(frozen=True)
class Revisions:
    catalog: str | None        # the active catalog revision (None: no catalog loaded)
    inventory: int
    stale_pending: bool        # an available node older than the TTL: sweep, then read again


_READ = select(
    select(CatalogRevision.revision)
    .join(CatalogPointer, CatalogPointer.revision_id == CatalogRevision.id)
    .where(CatalogPointer.key == ACTIVE)
    .scalar_subquery(),
    select(InventoryState.revision).where(InventoryState.id == 1).scalar_subquery(),
    exists(select(Heartbeat.node).where(Heartbeat.available.is_(True), Heartbeat.last_seen < bindparam("before"))),
)


def read_revisions(session: Session, *, stale_before: float) -> Revisions:
    catalog, inventory, stale = session.execute(_READ, {"before": stale_before}).one()
    return Revisions(catalog=catalog, inventory=int(inventory or 0), stale_pending=bool(stale))
