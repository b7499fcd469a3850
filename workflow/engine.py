"""The flow engine: decide, place, launch, watch, retry, persist — until every task is final.

One loop, one thread. Each turn:
1. every Pending task whose predecessors are all final is decided: its `depends` expression true
   -> ready, false -> Skipped (that is how skips propagate);
2. the ready tasks (up to the free parallel slots) are placed together in one solver batch,
   composed from the store and launched;
3. running handles are polled; a task past its `timeout` is cancelled and counts as a failed
   attempt; a failed attempt with retries left is launched again.
Every state change is written to the state store before the next action, so a runner killed at
any point can be restarted on the same run: Succeeded tasks stay, the rest run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from workflow.backends.base import Backend, Handle, Launch, Outcome
from workflow.errors import StoreError, WorkflowError
from workflow.flow import Flow, Task
from workflow.placement import FlowPlacement, Placement, Placer
from workflow.state import FINAL_STATES, RunRecord, StateStore, TaskRecord, reset_for_resume
from workflow.store.compose import ComposedRuntime, compose
from workflow.store.layout import RuntimeStore

__all__ = ["Engine", "RunResult"]

Event = Callable[[str, TaskRecord], None]


@dataclass(frozen=True)
class RunResult:
    run_id: str
    flow: str
    states: dict[str, str]
    resumed: bool

    @property
    def failed(self) -> bool:
        return any(s == "Failed" for s in self.states.values())

    def to_dict(self) -> dict[str, object]:
        return {"flow": self.flow, "run": self.run_id, "tasks": dict(self.states)}


@dataclass
class _Running:
    handle: Handle
    started: float
    launch: Launch


class Engine:
    """Runs one flow on one backend with one placer, store and state store."""

    def __init__(
        self,
        *,
        backend: Backend,
        placer: Placer,
        store: RuntimeStore,
        state: StateStore,
        logs_root: Path,
        parallel: int = 4,
        poll_interval: float = 0.05,
        on_event: Event | None = None,
        on_plan: Callable[[FlowPlacement], None] | None = None,
    ) -> None:
        self.backend = backend
        self.placer = placer
        self.store = store
        self.state = state
        self.logs_root = Path(logs_root)
        self.parallel = max(1, parallel)
        self.poll_interval = poll_interval
        self.on_event = on_event
        self.on_plan = on_plan
        self.plan: FlowPlacement | None = None      # the last run's whole-flow plan, if the placer made one

    # -- run lifecycle -------------------------------------------------------------------------

    def start(self, flow: Flow, *, run_id: str | None = None, new: bool = False) -> tuple[RunRecord, bool]:
        """The run to work on: the given one, else an unfinished run of this same flow, else new."""
        if run_id is not None:
            record = self.state.get_run(run_id)
            if record.flow != flow.name:
                raise WorkflowError(f"run {run_id} is a run of flow '{record.flow}', not '{flow.name}'")
            return record, True
        if not new:
            existing = self.state.latest_unfinished(flow=flow.name, flow_digest=flow.digest)
            if existing is not None:
                return existing, True
        names = [t.name for t in flow.tasks]
        path = str(flow.path) if flow.path else None
        return self.state.create_run(flow=flow.name, flow_path=path, flow_digest=flow.digest, backend=self.backend.name, tasks=names,
                                     document=flow.document), False

    def run(self, flow: Flow, *, run_id: str | None = None, new: bool = False) -> RunResult:
        record, resumed = self.start(flow, run_id=run_id, new=new)
        run_id = record.id
        self.state.reopen_run(run_id)
        records: dict[str, TaskRecord] = {}
        for t in flow.tasks:
            old = record.tasks.get(t.name, TaskRecord(t.name))
            if resumed and old.state == "Running" and old.pid:
                from workflow.backends.local import stop_stale_process
                from workflow.backends.proctree import DEFAULT_GRACE_S

                # returns once the stale task is gone (SIGTERM, grace, SIGKILL): never two at once
                grace = getattr(self.backend, "kill_grace_s", DEFAULT_GRACE_S)
                stop_stale_process(old.pid, run_id=run_id, task=t.name, grace=grace)
            records[t.name] = reset_for_resume(old) if resumed else old
            if records[t.name] != old:
                self.state.update_task(run_id, records[t.name])
        running: dict[str, _Running] = {}
        self.plan = self._plan(flow, run_id, records)
        try:
            self._loop(flow, run_id, records, running)
        except BaseException:
            for name, r in running.items():
                r.handle.cancel()
                self._save(run_id, records, replace(records[name], state="Pending", pid=None, message="runner stopped"))
            raise
        finally:
            ended = self.backend.close() or {}
            for name, message in ended.items():
                if name in records and records[name].state == "Succeeded":
                    self._save(run_id, records, replace(records[name], message=message))
        states = {n: r.state for n, r in records.items()}
        self.state.finish_run(run_id, "Failed" if "Failed" in states.values() else "Succeeded")
        return RunResult(run_id, flow.name, states, resumed)

    def _plan(self, flow: Flow, run_id: str, records: dict[str, TaskRecord]) -> FlowPlacement | None:
        """Place the whole flow before it starts (placers that can): each Pending model task's
        record gets its planned node and runtime and, as its message, where it goes and why - or
        why it cannot be placed (it then Fails when it is reached, as before)."""
        plan_flow = getattr(self.placer, "plan_flow", None)
        if plan_flow is None:
            return None
        try:
            plan = plan_flow(flow)
        except Exception as e:  # the solver is another package: report on the tasks, don't crash the run
            plan = None
            for t in flow.tasks:
                if t.model is not None and records[t.name].state == "Pending":
                    self._save(run_id, records, replace(records[t.name], message=f"no flow plan: {e}"))
        if plan is None:
            return None
        if self.on_plan is not None:
            self.on_plan(plan)
        for name, p in plan.placements.items():
            rec = records.get(name)
            if rec is None or rec.state != "Pending":
                continue
            if p.error is not None:
                self._save(run_id, records, replace(rec, message=f"cannot be placed: {p.error}"))
            else:
                self._save(run_id, records, replace(rec, node=p.node, runtime=dict(p.runtime),
                                                    message=f"planned: {p.why or 'its best node'}"))
        return plan

    # -- the loop ----------------------------------------------------------------------------

    def _save(self, run_id: str, records: dict[str, TaskRecord], rec: TaskRecord) -> None:
        records[rec.name] = rec
        self.state.update_task(run_id, rec)
        if self.on_event is not None:
            self.on_event(run_id, rec)

    def _decide(self, flow: Flow, run_id: str, records: dict[str, TaskRecord], running: dict[str, _Running]) -> list[Task]:
        ready: list[Task] = []
        states = {n: r.state for n, r in records.items()}
        for t in flow.topological():
            rec = records[t.name]
            if rec.state != "Pending" or t.name in running:
                continue
            if not all(states[p] in FINAL_STATES for p in t.predecessors):
                continue
            if t.depends is not None and not t.depends.evaluate(states):
                msg = f"depends not satisfied: {t.depends.render()}"
                self._save(run_id, records, replace(rec, state="Skipped", message=msg, finished=time.time()))
                states[t.name] = "Skipped"
                continue
            ready.append(t)
        return ready

    def _launch(self, flow: Flow, run_id: str, task: Task, placement: Placement, records: dict[str, TaskRecord],
                running: dict[str, _Running]) -> None:
        rec = records[task.name]
        attempt = rec.attempts + 1
        log_path = self.logs_root / run_id / "logs" / f"{task.name}.log"
        base = replace(rec, attempts=attempt, node=placement.node, runtime=dict(placement.runtime),
                       log_path=str(log_path), started=time.time(), finished=None, exit_code=None)
        try:
            composed: ComposedRuntime | None = None
            if task.model is not None or task.runtime:
                composed = compose(placement.runtime, self.store, mount_root=self.backend.mount_root,
                                   provided=self.backend.provided, stage_hints=placement.stage_hints())
            launch = Launch(run_id, flow, task, attempt, placement, composed, log_path, self.logs_root / run_id / "artifacts")
            handle = self.backend.launch(launch)
        except (StoreError, WorkflowError) as e:
            self._fail_or_retry(flow, run_id, task, placement, records, running, base, Outcome(False, None, str(e)))
            return
        running[task.name] = _Running(handle, time.monotonic(), launch)
        self._save(run_id, records, replace(base, state="Running", pid=handle.pid, message=placement.why))

    def _fail_or_retry(self, flow: Flow, run_id: str, task: Task, placement: Placement, records: dict[str, TaskRecord],
                       running: dict[str, _Running], rec: TaskRecord, outcome: Outcome) -> None:
        if rec.attempts <= task.retries:
            self._save(run_id, records, replace(rec, state="Pending", exit_code=outcome.exit_code,
                                                message=f"attempt {rec.attempts} failed: {outcome.message}; retrying"))
            self._launch(flow, run_id, task, placement, records, running)
            return
        self._save(run_id, records, replace(rec, state="Failed", exit_code=outcome.exit_code, pid=None,
                                            message=outcome.message, finished=time.time()))

    def _loop(self, flow: Flow, run_id: str, records: dict[str, TaskRecord], running: dict[str, _Running]) -> None:
        while True:
            ready = self._decide(flow, run_id, records, running)
            if not ready and not running:
                for t in flow.tasks:  # nothing runs and nothing can start: what is left is unreachable
                    if records[t.name].state == "Pending":
                        self._save(run_id, records, replace(records[t.name], state="Skipped", message="unreachable"))
                return
            slots = self.parallel - len(running)
            if ready and slots > 0:
                batch = ready[:slots]
                try:
                    placements = self.placer.place(batch)
                except Exception as e:  # the solver is another package: report, don't crash the run
                    placements = {t.name: Placement(t.name, error=f"placement failed: {e}") for t in batch}
                for t in batch:
                    p = placements.get(t.name) or Placement(t.name, error="no placement returned")
                    if p.error is not None:
                        self._save(run_id, records, replace(records[t.name], state="Failed", message=f"no placement: {p.error}",
                                                            finished=time.time()))
                        continue
                    self._launch(flow, run_id, t, p, records, running)
                continue
            for name in list(running):
                r = running[name]
                task = flow.task(name)
                try:
                    outcome = r.handle.poll()
                except WorkflowError as e:  # the backend lost track of the task (API error ...)
                    outcome = Outcome(False, None, str(e))
                if outcome is None and task.timeout is not None and task.serve is None \
                        and time.monotonic() - r.started > task.timeout:
                    r.handle.cancel()
                    outcome = Outcome(False, None, f"timed out after {task.timeout:g}s")
                if outcome is None:
                    continue
                del running[name]
                rec = replace(records[name], exit_code=outcome.exit_code, pid=None)
                if outcome.succeeded:
                    self._save(run_id, records, replace(rec, state="Succeeded", message=outcome.message, finished=time.time()))
                else:
                    self._fail_or_retry(flow, run_id, task, r.launch.placement, records, running, rec, outcome)
            time.sleep(self.poll_interval)
