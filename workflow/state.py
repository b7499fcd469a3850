"""Run state: what each run of a flow has done, persisted so a restarted runner resumes.

`SqliteStateStore` keeps runs and task records in one SQLite file (`<state dir>/runs.db`, by
default next to the store in `.rtfit/`). Every state change is committed before the runner acts
on it, so a runner killed at any point leaves a record that `resume` can continue from: tasks that
Succeeded are kept, everything else runs again. `StateStore` is the protocol the engine uses; the
service-backed implementation lives in `remote.py`.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from workflow.errors import RunNotFound, WorkflowError

__all__ = [
    "FINAL_STATES",
    "RunRecord",
    "SqliteStateStore",
    "StateStore",
    "TaskRecord",
    "new_run_id",
    "reset_for_resume",
]

FINAL_STATES = frozenset({"Succeeded", "Failed", "Skipped"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, flow TEXT NOT NULL, flow_path TEXT, flow_digest TEXT NOT NULL,
    backend TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL REFERENCES runs(id), name TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL, exit_code INTEGER,
    node TEXT, runtime TEXT, message TEXT, log_path TEXT, pid INTEGER,
    PRIMARY KEY (run_id, name)
);
"""
_TASK_COLUMNS = ("state", "attempts", "started", "finished", "exit_code", "node", "runtime", "message", "log_path", "pid")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


@dataclass(frozen=True)
class TaskRecord:
    name: str
    state: str = "Pending"
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    exit_code: int | None = None
    node: str | None = None
    runtime: Mapping[str, str] = field(default_factory=dict)
    message: str | None = None
    log_path: str | None = None
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in ("name", *_TASK_COLUMNS)} | {"runtime": dict(self.runtime)}


@dataclass(frozen=True)
class RunRecord:
    id: str
    flow: str
    flow_path: str | None
    flow_digest: str
    backend: str
    status: str
    created: float
    tasks: Mapping[str, TaskRecord]

    def states(self) -> dict[str, str]:
        return {name: t.state for name, t in self.tasks.items()}


class StateStore(Protocol):
    def create_run(self, *, flow: str, flow_path: str | None, flow_digest: str, backend: str, tasks: list[str],
                   document: Mapping[str, Any] | None = None) -> RunRecord: ...
    def get_run(self, run_id: str) -> RunRecord: ...
    def latest_unfinished(self, *, flow: str, flow_digest: str) -> RunRecord | None: ...
    def update_task(self, run_id: str, task: TaskRecord) -> None: ...
    def finish_run(self, run_id: str, status: str) -> None: ...
    def reopen_run(self, run_id: str) -> None: ...
    def list_runs(self, limit: int = 20) -> list[RunRecord]: ...


class SqliteStateStore:
    """Run state in a SQLite file; safe for one runner per run and any number of readers."""

    def __init__(self, state_dir: str | Path) -> None:
        self.dir = Path(state_dir).absolute()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "runs.db"
        try:
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as e:
            raise WorkflowError(f"{self.path}: cannot open run state: {e}") from e

    def close(self) -> None:
        self._conn.close()

    def logs_dir(self, run_id: str) -> Path:
        return self.dir / "runs" / run_id / "logs"

    def create_run(self, *, flow: str, flow_path: str | None, flow_digest: str, backend: str, tasks: list[str],
                   document: Mapping[str, Any] | None = None) -> RunRecord:
        run_id = new_run_id()
        now = time.time()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?)", (run_id, flow, flow_path, flow_digest, backend, "Running", now, now)
            )
            self._conn.executemany(
                "INSERT INTO tasks (run_id, name, state) VALUES (?,?,?)", [(run_id, t, "Pending") for t in tasks]
            )
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id!r} in {self.path}")
        cols = ["name", *_TASK_COLUMNS]
        tasks = {}
        for r in self._conn.execute(f"SELECT {', '.join(cols)} FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,)):
            data = dict(zip(cols, r, strict=True))
            data["runtime"] = json.loads(data["runtime"]) if data["runtime"] else {}
            tasks[data["name"]] = TaskRecord(**data)
        return RunRecord(
            id=row[0], flow=row[1], flow_path=row[2], flow_digest=row[3], backend=row[4], status=row[5], created=row[6], tasks=tasks
        )

    def latest_unfinished(self, *, flow: str, flow_digest: str) -> RunRecord | None:
        row = self._conn.execute(
            "SELECT id FROM runs WHERE flow = ? AND flow_digest = ? AND status = 'Running' ORDER BY created DESC LIMIT 1",
            (flow, flow_digest),
        ).fetchone()
        return self.get_run(row[0]) if row else None

    def update_task(self, run_id: str, task: TaskRecord) -> None:
        values = [getattr(task, c) for c in _TASK_COLUMNS]
        values[_TASK_COLUMNS.index("runtime")] = json.dumps(dict(task.runtime), sort_keys=True)
        with self._conn:
            self._conn.execute(
                f"UPDATE tasks SET {', '.join(c + ' = ?' for c in _TASK_COLUMNS)} WHERE run_id = ? AND name = ?",
                (*values, run_id, task.name),
            )
            self._conn.execute("UPDATE runs SET updated = ? WHERE id = ?", (time.time(), run_id))

    def finish_run(self, run_id: str, status: str) -> None:
        with self._conn:
            self._conn.execute("UPDATE runs SET status = ?, updated = ? WHERE id = ?", (status, time.time(), run_id))

    def reopen_run(self, run_id: str) -> None:
        with self._conn:
            self._conn.execute("UPDATE runs SET status = 'Running', updated = ? WHERE id = ?", (time.time(), run_id))

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        rows = self._conn.execute("SELECT id FROM runs ORDER BY created DESC LIMIT ?", (limit,)).fetchall()
        return [self.get_run(r[0]) for r in rows]


def reset_for_resume(record: TaskRecord) -> TaskRecord:
    """A task record as a resumed run sees it: Succeeded stays, anything else is Pending again."""
    if record.state == "Succeeded":
        return record
    return replace(record, state="Pending", exit_code=None, finished=None, pid=None, message=None)
