"""The model registry: Contract 1 requests stored by name (validated before they get here)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ..errors import Conflict, NotFound
from ..tables import ModelRecord

__all__ = ["create_model", "delete_model", "get_model", "list_models"]


def create_model(session: Session, *, name: str, request: dict[str, Any], now: float) -> ModelRecord:
    if session.get(ModelRecord, name) is not None:
        raise Conflict(f"model '{name}' is already registered; DELETE /v1/models/{name} first to replace it")
    record = ModelRecord(name=name, request=request, created_at=now, updated_at=now)
    session.add(record)
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise Conflict(f"model '{name}' is already registered") from e
    return record


def get_model(session: Session, *, name: str) -> ModelRecord:
    record = session.get(ModelRecord, name)
    if record is None:
        raise NotFound(f"no model named '{name}' is registered (see GET /v1/models)", name=name)
    return record


def list_models(session: Session) -> list[ModelRecord]:
    return list(session.execute(select(ModelRecord).order_by(ModelRecord.name)).scalars())


def delete_model(session: Session, *, name: str) -> None:
    record = get_model(session, name=name)
    session.delete(record)
    session.commit()
