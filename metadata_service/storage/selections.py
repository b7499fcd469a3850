"""The selection audit log: every answered selection with the revisions it was computed against.

Answers are stored once each (`selection_answers`, keyed by the SHA-256 of their canonical
JSON); an audit row names its answer by that hash. A cache hit therefore writes one small row.
The service writes its rows in batches (`add_audits`, one transaction for all the rows that
arrived while the previous batch was being written: `metadata_service.audit_writer`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ..tables import SelectionAnswer, SelectionAudit

__all__ = ["add_audit", "add_audits", "answer_digest", "audit_answer", "recent_audits"]

_INSERT = insert(SelectionAudit.__table__)  # type: ignore[attr-defined]
_ANSWERS = SelectionAnswer.__table__  # type: ignore[attr-defined]
_INSERT_ANSWER = {   # insert-if-absent: two workers may store the same answer
    "sqlite": sqlite.insert(_ANSWERS).on_conflict_do_nothing(index_elements=["hash"]),
    "postgresql": postgresql.insert(_ANSWERS).on_conflict_do_nothing(index_elements=["hash"]),
}


def answer_digest(answer: dict[str, Any]) -> str:
    """SHA-256 hex of the answer's canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(answer, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


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
    answer_hash: str,
    answer: dict[str, Any] | None,
    now: float,
) -> int:
    """One audit row; `answer` (stored under `answer_hash` unless already there) is given the first
    time this process writes that answer, None after (a cache hit: the hash alone)."""
    # Core inserts: one statement each, no unit of work.
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
        answer_hash=answer_hash,
    )
    try:
        if answer is not None:
            statement = _INSERT_ANSWER.get(session.get_bind().dialect.name)
            if statement is None:   # another database: look first
                exists = session.execute(select(_ANSWERS.c.hash).where(_ANSWERS.c.hash == answer_hash)).first()
                statement = None if exists else insert(_ANSWERS)
            if statement is not None:
                session.execute(statement, {"hash": answer_hash, "answer": answer, "created_at": now})
        result = session.execute(_INSERT, values)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return int(result.inserted_primary_key[0])


def add_audits(session: Session, rows: list[dict[str, Any]], answers: dict[str, tuple[dict[str, Any], float]]) -> None:
    """Several audit rows in one transaction: `rows` are `add_audit`'s values (without `answer`),
    `answers` the answers first written by them, by hash (stored unless already there), written
    before the rows that name them."""
    if not rows and not answers:
        return
    try:
        if answers:
            statement = _INSERT_ANSWER.get(session.get_bind().dialect.name)
            params = [{"hash": h, "answer": a, "created_at": t} for h, (a, t) in answers.items()]
            if statement is None:   # another database: look first
                have = set(session.execute(select(_ANSWERS.c.hash).where(_ANSWERS.c.hash.in_(list(answers)))).scalars())
                params = [p for p in params if p["hash"] not in have]
                statement = insert(_ANSWERS)
            if params:
                session.execute(statement, params)
        if rows:
            session.execute(_INSERT, [{**r, "principal": r["principal"][:200]} for r in rows])
        session.commit()
    except BaseException:
        session.rollback()
        raise


def audit_answer(session: Session, audit: SelectionAudit) -> dict[str, Any] | None:
    """The answer an audit row recorded (stored by hash, or in the row itself before 0003)."""
    if audit.answer is not None or audit.answer_hash is None:
        return audit.answer
    return session.execute(select(_ANSWERS.c.answer).where(_ANSWERS.c.hash == audit.answer_hash)).scalar()


def recent_audits(session: Session, *, limit: int = 100) -> list[SelectionAudit]:
    return list(
        session.execute(select(SelectionAudit).order_by(SelectionAudit.id.desc()).limit(limit)).scalars()
    )
