"""What the engine hands a backend, and what a backend hands back.

A `Launch` is everything needed to start one attempt of one task: the task, its placement and
composed runtime, the environment, where its log goes. A backend returns a `Handle` the engine
polls; `poll()` gives `None` while the task runs and an `Outcome` when it is over. A serving task's
outcome is success once it is healthy (it keeps serving until the backend is closed locally, or
as a Deployment on Kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from workflow.flow import Flow, Task
from workflow.placement import Placement
from workflow.store.compose import ComposedRuntime

__all__ = ["Backend", "Handle", "Launch", "Outcome", "task_env"]


@dataclass(frozen=True)
class Launch:
    run_id: str
    flow: Flow
    task: Task
    attempt: int
    placement: Placement
    composed: ComposedRuntime | None
    log_path: Path
    artifacts_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    exit_code: int | None = None
    message: str = ""


class Handle(Protocol):
    pid: int | None

    def poll(self) -> Outcome | None: ...

    def cancel(self) -> None: ...


class Backend(Protocol):
    name: str
    mount_root: str | None
    provided: Mapping[str, str]

    def launch(self, launch: Launch) -> Handle: ...

    def close(self) -> Mapping[str, str] | None: ...


def task_env(launch: Launch, *, artifacts: str) -> dict[str, str]:
    """Variables every task sees: its identity, attempt, artifacts folder, its own `env`."""
    env = {
        "RTFIT_RUN_ID": launch.run_id,
        "RTFIT_FLOW": launch.flow.name,
        "RTFIT_TASK": launch.task.name,
        "RTFIT_ATTEMPT": str(launch.attempt),
        "RTFIT_ARTIFACTS": artifacts,
    }
    if launch.placement.node:
        env["RTFIT_NODE"] = launch.placement.node
    if launch.task.serve is not None:
        env["PORT"] = str(launch.task.serve.port)
    env.update(launch.task.env)
    env.update(launch.env)
    return env
