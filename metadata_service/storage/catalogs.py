"""Catalog revisions: store an uploaded (already validated) catalog and switch the active one.

Validation happens before anything is written (`catalog.load_catalog_from_documents`), and the
insert of the revision plus the switch of the pointer happen in one transaction, so a rejected
or failed upload leaves the previous revision active.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ..tables import CatalogPointer, CatalogRevision

__all__ = ["ActiveCatalog", "activate", "get_active", "get_active_documents", "json_documents"]

ACTIVE = "active"


@dataclass(frozen=True)
class ActiveCatalog:
    revision: str
    counts: dict[str, int]
    activated_at: float
    source: str


def json_documents(documents: Any) -> dict[str, Any]:
    """The documents as plain JSON values (YAML dates become ISO strings), as they will be stored."""
    return json.loads(json.dumps(documents, default=str))


# Read on every selection: the statement is built once.
_GET_ACTIVE = (
    select(CatalogRevision.revision, CatalogRevision.counts, CatalogPointer.activated_at, CatalogRevision.source)
    .join(CatalogPointer, CatalogPointer.revision_id == CatalogRevision.id)
    .where(CatalogPointer.key == ACTIVE)
)


def get_active(session: Session) -> ActiveCatalog | None:
    row = session.execute(_GET_ACTIVE).first()
    if row is None:
        return None
    return ActiveCatalog(revision=row[0], counts=dict(row[1]), activated_at=row[2], source=row[3])


def get_active_documents(session: Session) -> tuple[str, dict[str, Any]] | None:
    """(revision, documents) of the active catalog, for (re)building the in-memory Catalog."""
    row = session.execute(
        select(CatalogRevision.revision, CatalogRevision.documents)
        .join(CatalogPointer, CatalogPointer.revision_id == CatalogRevision.id)
        .where(CatalogPointer.key == ACTIVE)
    ).first()
    return None if row is None else (row[0], dict(row[1]))


def activate(
    session: Session,
    *,
    revision: str,
    documents: dict[str, Any],
    counts: dict[str, int],
    source: str,
    now: float,
) -> ActiveCatalog:
    """Store the revision (or reuse an identical stored one) and make it active, in one commit."""
    try:
        return _activate_once(session, revision=revision, documents=documents, counts=counts, source=source, now=now)
    except IntegrityError:
        # Another process stored the same revision (or the first pointer) at the same moment.
        return _activate_once(session, revision=revision, documents=documents, counts=counts, source=source, now=now)


def _activate_once(
    session: Session,
    *,
    revision: str,
    documents: dict[str, Any],
    counts: dict[str, int],
    source: str,
    now: float,
) -> ActiveCatalog:
    try:
        stored = session.execute(
            select(CatalogRevision).where(CatalogRevision.revision == revision)
        ).scalar_one_or_none()
        if stored is None:
            stored = CatalogRevision(
                revision=revision, documents=documents, counts=counts, source=source[:200], created_at=now
            )
            session.add(stored)
            session.flush()
        pointer = session.get(CatalogPointer, ACTIVE, with_for_update=True)
        if pointer is None:
            pointer = CatalogPointer(key=ACTIVE, revision_id=stored.id, activated_at=now)
            session.add(pointer)
        elif pointer.revision_id != stored.id:
            pointer.revision_id = stored.id
            pointer.activated_at = now
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ActiveCatalog(revision=revision, counts=dict(counts), activated_at=pointer.activated_at, source=stored.source)
