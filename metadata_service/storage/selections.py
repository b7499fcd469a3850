"""The selection audit log: every answered selection with the revisions it was computed against.

Answers are stored once each (`selection_answers`, keyed by the SHA-256 of their JSON body as
the service sends it, `render_answer`); an audit row names its answer by that hash. A cache hit therefore writes one small row.
The service writes its rows in batches (`add_audits`, one transaction for all the rows that
arrived while the previous batch was being written: `metadata_service.audit_writer`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import JSON, Text, bindparam, cast, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ..tables import SelectionAnswer, SelectionAudit

__all__ = ["add_audit", "add_audits", "answer_digest", "audit_answer", "body_digest", "recent_audits",
           "render_answer"]

_INSERT = insert(SelectionAudit.__table__)  # type: ignore[attr-defined]
_ANSWERS = SelectionAnswer.__table__  # type: ignore[attr-defined]
_INSERT_ANSWER = {   # insert-if-absent: two workers may store the same answer
    "sqlite": sqlite.insert(_ANSWERS).on_conflict_do_nothing(index_elements=["hash"]),
    "postgresql": postgresql.insert(_ANSWERS).on_conflict_do_nothing(index_elements=["hash"]),
}


_ANSWER_JSON = TypeAdapter(dict[str, Any])


def render_answer(answer: dict[str, Any]) -> bytes:
    """The JSON body of an answer exactly as FastAPI renders the route's `dict[str, Any]` return
    (its response field's `TypeAdapter.dump_json`), so the lane and the route send the same bytes."""
    return _ANSWER_JSON.dump_json(answer, by_alias=True)


def body_digest(body: bytes) -> str:
    """An answer's hash: SHA-256 hex of its JSON body (`render_answer`), the bytes a client gets.

    Rendered once, the body is sent, cached and hashed as is. Rows written before this definition
    name answers by the SHA-256 of their canonical JSON (sorted keys, no spaces); they are read back
    by the hash they hold, so both kinds stay readable (an answer stored under both is kept twice)."""
    return hashlib.sha256(body).hexdigest()


def answer_digest(answer: dict[str, Any]) -> str:
    """The hash an answer is stored under: `body_digest(render_answer(answer))`."""
    return body_digest(render_answer(answer))


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


def _insert_bodies(dialect: str) -> Any:
    """Insert-if-absent of answers given as their JSON body (`render_answer`'s bytes, decoded): the
    text goes into the JSON column as is, not decoded and encoded again (PostgreSQL casts it to its
    `json`, which keeps the text; SQLite stores the text)."""
    answer: Any = bindparam("answer", type_=Text)
    if dialect == "postgresql":
        answer = cast(answer, JSON)
    table = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}.get(dialect)
    statement = (table or insert)(_ANSWERS).values(hash=bindparam("hash"), answer=answer,
                                                   created_at=bindparam("created_at"))
    return statement if table is None else statement.on_conflict_do_nothing(index_elements=["hash"])


_INSERT_BODY = {dialect: _insert_bodies(dialect) for dialect in ("sqlite", "postgresql", "other")}


def add_audits(session: Session, rows: list[dict[str, Any]], answers: dict[str, tuple[bytes, float]]) -> None:
    """Several audit rows in one transaction: `rows` are `add_audit`'s values (without `answer`),
    `answers` the answers first written by them, by hash, as their JSON body (`render_answer`),
    stored unless already there, before the rows that name them."""
    if not rows and not answers:
        return
    try:
        if answers:
            dialect = session.get_bind().dialect.name
            statement = _INSERT_BODY.get(dialect)
            params = [{"hash": h, "answer": body.decode(), "created_at": t} for h, (body, t) in answers.items()]
            if statement is None:   # another database: look first
                have = set(session.execute(select(_ANSWERS.c.hash).where(_ANSWERS.c.hash.in_(list(answers)))).scalars())
                params = [p for p in params if p["hash"] not in have]
                statement = _INSERT_BODY["other"]
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
