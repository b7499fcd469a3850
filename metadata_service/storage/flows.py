"""Flow runs written by the flow runner: the run, each task's state, and each task's log text.

`upsert_run` is the one write: the first call creates the run, later calls with the same id
merge task entries by name (state and fields replaced when given, `log` text appended). A run's
state is derived from its tasks, never stored, so it cannot disagree with them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from ..errors import Conflict, NotFound
from ..tables import FlowRun, FlowTask

__all__ = ["RunView", "get_run", "get_task_log", "list_runs", "run_state", "upsert_run"]

_TASK_FIELDS = ("state", "attempts", "node", "runtime", "exit_code", "message", "started_at", "finished_at")
MAX_LOG_BYTES = 4 * 1024 * 1024  # per task; older text is dropped from the front


@dataclass(frozen=True)
class RunView:
    run: FlowRun
    tasks: list[FlowTask]
    state: str


def run_state(states: list[str]) -> str:
    """Running while any task is Pending/Running, then Failed if any failed, else Succeeded."""
    if not states:
        return "Pending"
    if any(s == "Running" for s in states):
        return "Running"
    if any(s == "Pending" for s in states):
        return "Running" if any(s != "Pending" for s in states) else "Pending"
    return "Failed" if any(s == "Failed" for s in states) else "Succeeded"


def upsert_run(
    session: Session,
    *,
    run_id: str | None,
    flow: str,
    status: str | None = None,
    digest: str | None = None,
    backend: str | None = None,
    spec: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    tasks: dict[str, dict[str, Any]],
    principal: str,
    now: float,
) -> tuple[RunView, bool]:
    """Create or update a run; returns (view, created)."""
    try:
        run = session.get(FlowRun, run_id, with_for_update=True) if run_id else None
        created = run is None
        if run is None:
            run = FlowRun(
                id=run_id or uuid.uuid4().hex[:16],
                flow=flow,
                status=status,
                digest=digest,
                backend=backend,
                spec=spec,
                meta=meta,
                created_by=principal[:200],
                created_at=now,
                updated_at=now,
            )
            session.add(run)
            session.flush()
        elif run.flow != flow:
            raise Conflict(f"run '{run.id}' belongs to flow '{run.flow}', not '{flow}'", run=run.id)
        else:
            run.updated_at = now
            for key, value in (("status", status), ("digest", digest), ("backend", backend), ("spec", spec)):
                if value is not None:
                    setattr(run, key, value)
            if meta is not None:
                run.meta = {**(run.meta or {}), **meta}
        existing = {t.name: t for t in session.execute(select(FlowTask).where(FlowTask.run_id == run.id)).scalars()}
        next_position = len(existing)
        for name, update in tasks.items():
            task = existing.get(name)
            if task is None:
                task = FlowTask(run_id=run.id, name=name, position=next_position, state="Pending", updated_at=now)
                next_position += 1
                session.add(task)
            for key in _TASK_FIELDS:
                if key in update and (update[key] is not None or key == "state"):
                    setattr(task, key, update[key])
            if update.get("log"):
                task.log = (task.log + update["log"])[-MAX_LOG_BYTES:]
            task.updated_at = now
        session.flush()
        # Read the answer inside the same transaction: a read after the commit would open a new
        # transaction on the writer (on SQLite: BEGIN IMMEDIATE, the write lock) and hold it until
        # the request's session is closed, which under load waits for a worker thread that is
        # itself waiting for that lock (tests/reliability/test_rel_load.py found 30 s stalls).
        view = get_run(session, run_id=run.id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return view, created


def get_run(session: Session, *, run_id: str) -> RunView:
    run = session.get(FlowRun, run_id)
    if run is None:
        raise NotFound(f"no flow run with id '{run_id}'", run=run_id)
    tasks = list(
        session.execute(select(FlowTask).where(FlowTask.run_id == run_id).order_by(FlowTask.position)).scalars()
    )
    return RunView(run=run, tasks=tasks, state=run.status or run_state([t.state for t in tasks]))


def list_runs(
    session: Session,
    *,
    flow: str | None = None,
    digest: str | None = None,
    state: str | None = None,
    limit: int = 100,
) -> list[RunView]:
    """Newest first; `state` filters on the reported/derived state (after the query)."""
    query = select(FlowRun.id).order_by(FlowRun.created_at.desc(), FlowRun.id.desc())
    if flow is not None:
        query = query.where(FlowRun.flow == flow)
    if digest is not None:
        query = query.where(FlowRun.digest == digest)
    if state is None:
        query = query.limit(limit)
    views = [get_run(session, run_id=rid) for rid in session.execute(query).scalars()]
    if state is not None:
        views = [v for v in views if v.state == state][:limit]
    return views


def get_task_log(session: Session, *, run_id: str, task: str) -> str:
    row = session.execute(
        select(FlowTask.log).where(FlowTask.run_id == run_id, FlowTask.name == task)
    ).first()
    if row is None:
        if session.scalar(select(func.count()).select_from(FlowRun).where(FlowRun.id == run_id)) == 0:
            raise NotFound(f"no flow run with id '{run_id}'", run=run_id)
        raise NotFound(f"run '{run_id}' has no task named '{task}'", run=run_id, task=task)
    return row[0]
