"""The selection audit log: every answered selection with the revisions it was computed against."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from ..tables import SelectionAudit

__all__ = ["add_audit", "recent_audits"]

_INSERT = insert(SelectionAudit.__table__)  # type: ignore[attr-defined]


def add_audit(
    session: Session,
    *,
    principal: str,
    kind: str,
    request: dict[str, Any],
    catalog_revision: str,
    inventory_revision: int,
    feasible: bool,
    cached: bool,
    solve_seconds: float,
    answer: dict[str, Any],
    now: float,
) -> int:
    # A Core insert: one statement, no unit of work (the ORM's flush cost more than the INSERT
    # on the cached-selection path, where this row is most of the request's work).
    values = dict(
        created_at=now,
        principal=principal[:200],
        kind=kind,
        request=request,
        catalog_revision=catalog_revision,
        inventory_revision=inventory_revision,
        feasible=feasible,
        cached=cached,
        solve_seconds=solve_seconds,
        answer=answer,
    )
    try:
        result = session.execute(_INSERT, values)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return int(result.inserted_primary_key[0])


def recent_audits(session: Session, *, limit: int = 100) -> list[SelectionAudit]:
    return list(
        session.execute(select(SelectionAudit).order_by(SelectionAudit.id.desc()).limit(limit)).scalars()
    )
