"""Stored catalog revisions as the console sees them: a listing, and any one of them parsed.

The service keeps every uploaded revision (`catalog_revisions`) and a pointer to the active one;
the public API only exposes the active one. The console's diff view needs the others, read-only.
Parsed catalogs are kept in a small LRU because a parse takes a noticeable fraction of a second.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

import catalog
from catalog import Catalog, CatalogError

from ..errors import InvalidInput, NotFound
from ..tables import CatalogPointer, CatalogRevision

__all__ = ["RevisionCache", "list_revisions", "resolve_revision"]

_MIN_PREFIX = 6


def list_revisions(session: Session) -> list[dict[str, Any]]:
    """Every stored revision, newest first, with which one is active."""
    pointer = session.get(CatalogPointer, "active")
    active_id = pointer.revision_id if pointer is not None else None
    rows = session.execute(
        select(CatalogRevision.id, CatalogRevision.revision, CatalogRevision.source, CatalogRevision.created_at,
               CatalogRevision.counts).order_by(CatalogRevision.created_at.desc(), CatalogRevision.id.desc())
    ).all()
    return [
        {"revision": r[1], "source": r[2], "created_at": r[3], "counts": dict(r[4] or {}), "active": r[0] == active_id}
        for r in rows
    ]


def resolve_revision(session: Session, text: str, *, field: str) -> str:
    """A full stored revision from a full one or a unique prefix (at least 6 hex digits)."""
    text = text.strip().lower()
    if len(text) < _MIN_PREFIX:
        raise InvalidInput(f"{field}: give at least {_MIN_PREFIX} characters of a revision", field=field)
    matches = [
        r for r in session.execute(select(CatalogRevision.revision)).scalars() if r.lower().startswith(text)
    ]
    if not matches:
        raise NotFound(f"{field}: no stored catalog revision starts with '{text}'", field=field)
    if len(matches) > 1:
        raise InvalidInput(f"{field}: '{text}' matches {len(matches)} revisions; give more characters", field=field)
    return matches[0]


class RevisionCache:
    """revision -> parsed `Catalog`, loaded from the stored documents on first use."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._data: OrderedDict[str, Catalog] = OrderedDict()

    def get(self, session: Session, revision: str) -> Catalog:
        with self._lock:
            found = self._data.get(revision)
            if found is not None:
                self._data.move_to_end(revision)
                return found
        documents = session.execute(
            select(CatalogRevision.documents).where(CatalogRevision.revision == revision)
        ).scalar_one_or_none()
        if documents is None:
            raise NotFound(f"no stored catalog revision '{revision}'", revision=revision)
        try:
            loaded = catalog.load_catalog_from_documents(dict(documents))
        except CatalogError as e:
            raise InvalidInput(f"stored revision {revision[:12]} no longer loads: {e}", field="revision") from e
        with self._lock:
            self._data[revision] = loaded
            while len(self._data) > self._size:
                self._data.popitem(last=False)
        return loaded
