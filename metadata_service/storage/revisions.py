"""What a selection reads before anything else, in one statement: the active catalog revision,
the inventory revision and the oldest lease of an available node.

A selection needs all three (the cache key is the two revisions; a stale node must be swept
before the revision is trusted). Read as three ORM queries they cost about three times one
round trip and statement setup each; as scalar subqueries of one SELECT they cost one. Most
selections do not run it at all: `revision_watch.py` keeps the last result in memory and reads
it again only when something may have changed.

The third column is MIN(last_seen) of the available leases (the partial index
ix_heartbeats_live_last_seen answers it from its first entry), not "is some lease stale": with
it a reader knows when the next node can go stale (`Revisions.next_stale_at`) without asking
again. Renewals and new registrations only move that minimum later, so a kept bound is
conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Dialect, func, select
from sqlmodel import Session

from ..tables import CatalogPointer, CatalogRevision, Heartbeat, InventoryState
from .catalogs import ACTIVE

__all__ = ["Revisions", "read_revisions", "revisions_of", "revisions_sql"]


@dataclass(frozen=True)
class Revisions:
    catalog: str | None        # the active catalog revision (None: no catalog loaded)
    inventory: int
    stale_pending: bool        # an available node older than the TTL: sweep, then read again
    oldest_live: float | None = None   # MIN(last_seen) of the available leases (None: none)

    def next_stale_at(self, ttl_s: float) -> float:
        """When the oldest available lease goes stale, as these revisions know it."""
        return float("inf") if self.oldest_live is None else self.oldest_live + ttl_s


_READ = select(
    select(CatalogRevision.revision)
    .join(CatalogPointer, CatalogPointer.revision_id == CatalogRevision.id)
    .where(CatalogPointer.key == ACTIVE)
    .scalar_subquery(),
    select(InventoryState.revision).where(InventoryState.id == 1).scalar_subquery(),
    select(func.min(Heartbeat.last_seen)).where(Heartbeat.available.is_(True)).scalar_subquery(),
)


def revisions_of(row: tuple, *, stale_before: float) -> Revisions:
    """`Revisions` from a row of the statement (`read_revisions`, or `revisions_sql` run raw)."""
    catalog, inventory, oldest = row
    oldest = None if oldest is None else float(oldest)
    return Revisions(catalog=catalog, inventory=int(inventory or 0),
                     stale_pending=oldest is not None and oldest < stale_before, oldest_live=oldest)


def read_revisions(session: Session, *, stale_before: float) -> Revisions:
    return revisions_of(tuple(session.execute(_READ).one()), stale_before=stale_before)


def revisions_sql(dialect: Dialect) -> str:
    """The statement as plain SQL of `dialect`, without parameters, for a raw DBAPI connection."""
    return str(_READ.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
