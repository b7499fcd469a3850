"""Run state kept by the metadata service (`rtfit flow run --server URL`).

`RemoteStateStore` implements the engine's `StateStore` over the service's flow API
(`POST /v1/flows` creates or updates a run, tasks merged by name, `log` text appended;
`GET /v1/flows[/{id}]`; `GET /v1/flows/{id}/tasks/{task}/logs`). The token comes from
`RTFIT_TOKEN` (writes need the admin role). The service derives a run's state from its tasks, so
"finishing" a run needs no call; attempts and process ids are not kept there (a runner resuming
from the service restarts unfinished tasks without looking for stale local processes). Task logs
are uploaded, each attempt's new text once, when the task's state changes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from service_protocol import RetryPolicy, ServiceCallError, ServiceClient, fetch_inventory
from workflow.errors import RunNotFound, ServerError
from workflow.flow import document_digest
from workflow.state import RunRecord, TaskRecord, new_run_id

__all__ = ["RemoteStateStore", "fetch_inventory", "runner_retry"]

_FIELDS = ("state", "attempts", "node", "exit_code", "message")


def runner_retry(budget_s: float | None = None) -> RetryPolicy:
    """Unreachable / 502-504 answers are retried with backoff for up to `budget_s` (env
    `RTFIT_SERVER_RETRY_S`, default 60), so a runner outlives a service restart; every call it
    makes is an idempotent upsert or a read (a retried `log` may repeat once)."""
    if budget_s is None:
        budget_s = float(os.environ.get("RTFIT_SERVER_RETRY_S", "60"))
    return RetryPolicy(budget_s=budget_s, base=0.2, cap=5.0)


class _Http:
    """The runner's calls through the shared client; its errors become the workflow's own."""

    def __init__(self, server: str, token: str | None, *, client: httpx.Client | None = None) -> None:
        self._client = ServiceClient(server, token, retry=runner_retry(), http=client)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            return self._client.request(method, path, **kwargs)
        except ServiceCallError as e:
            if e.status == 404:
                raise RunNotFound(str(e)) from e
            raise ServerError(str(e)) from e


class RemoteStateStore:
    """The engine's run state, stored through the metadata service's flow API."""

    def __init__(self, server: str, *, token: str | None = None, client: httpx.Client | None = None) -> None:
        self._http = _Http(server, token or os.environ.get("RTFIT_TOKEN"), client=client)
        self._log_sent: dict[tuple[str, str, str], int] = {}

    def _record(self, body: Mapping[str, Any]) -> RunRecord:
        tasks = {}
        for name, t in (body.get("tasks") or {}).items():
            tasks[name] = TaskRecord(name=name, state=t["state"], attempts=int(t.get("attempts") or 0),
                                     node=t.get("node"), runtime=t.get("runtime") or {},
                                     exit_code=t.get("exit_code"), message=t.get("message"),
                                     started=t.get("started_at"), finished=t.get("finished_at"))
        spec = body.get("spec")
        status = "Running" if body["state"] in ("Running", "Pending") else body["state"]
        return RunRecord(id=body["id"], flow=body["flow"], flow_path=None,
                         flow_digest=document_digest(spec) if spec else "", backend=body.get("backend") or "",
                         status=status, created=body.get("created_at") or 0.0, tasks=tasks)

    def create_run(self, *, flow: str, flow_path: str | None, flow_digest: str, backend: str, tasks: list[str],
                   document: Mapping[str, Any] | None = None) -> RunRecord:
        run_id = new_run_id()
        body = {"id": run_id, "flow": flow, "backend": backend, "spec": dict(document) if document else None,
                "tasks": {t: {"state": "Pending"} for t in tasks}}
        self._http.call("POST", "/v1/flows", json=body)
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        return self._record(self._http.call("GET", f"/v1/flows/{run_id}"))

    def latest_unfinished(self, *, flow: str, flow_digest: str) -> RunRecord | None:
        for summary in self._http.call("GET", "/v1/flows", params={"flow": flow, "limit": 20}):
            if summary.get("state") not in ("Running", "Pending"):
                continue
            record = self.get_run(summary["id"])
            if record.flow_digest == flow_digest:
                return record
        return None

    def update_task(self, run_id: str, task: TaskRecord) -> None:
        update: dict[str, Any] = {k: getattr(task, k) for k in _FIELDS}
        update["runtime"] = dict(task.runtime) or None
        update["started_at"] = task.started
        update["finished_at"] = task.finished
        if task.log_path and task.state != "Running" and Path(task.log_path).is_file():
            key = (run_id, task.name, task.log_path)
            data = Path(task.log_path).read_text(encoding="utf-8", errors="replace")
            sent = self._log_sent.get(key, 0)
            if len(data) > sent:
                update["log"] = data[sent:]
                self._log_sent[key] = len(data)
        self._http.call("POST", "/v1/flows", json={"id": run_id, "flow": self._flow_of(run_id), "tasks": {task.name: update}})

    def _flow_of(self, run_id: str) -> str:
        if not hasattr(self, "_flows"):
            self._flows: dict[str, str] = {}
        if run_id not in self._flows:
            self._flows[run_id] = self.get_run(run_id).flow
        return self._flows[run_id]

    def finish_run(self, run_id: str, status: str) -> None:
        """Nothing to write: the service derives a run's state from its tasks."""

    def reopen_run(self, run_id: str) -> None:
        """Nothing to write: a run with Pending tasks is Running/Pending on the service."""

    def list_runs(self, limit: int = 20) -> list[RunRecord]:
        return [self.get_run(s["id"]) for s in self._http.call("GET", "/v1/flows", params={"limit": limit})]

    def get_logs(self, run_id: str, task: str) -> str:
        return str(self._http.call("GET", f"/v1/flows/{run_id}/tasks/{task}/logs"))
