"""Every process of one local task, and ending them all: process group, then escalation.

A task runs in its own process group, but the group alone was not enough: the runner signalled
the group and waited only for the direct child, so a grandchild that ignored SIGTERM outlived its
task (writing to the log after the task was Failed and `rtfit flow run` had exited), and a child
that called `setsid` left the group entirely. So a task's processes are found by what they all
inherit: the `RTFIT_RUN_ID` and `RTFIT_TASK` entries of their environment (read from
`/proc/<pid>/environ`, which only our own processes let us read). Ending a task:

1. SIGTERM to its process group and to every process carrying its run and task;
2. wait up to the grace period (`LocalBackend(kill_grace_s=...)`, 5 s by default) for all to exit;
3. SIGKILL to the group and to whatever still carries its run and task; wait until they are gone.

A process that both leaves the group and empties its environment cannot be found this way (a
cgroup per task would find it; that needs privileges the runner does not assume). Zombies have an
empty environ and are never counted. Without `/proc` (not Linux) only the group is signalled.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["DEFAULT_GRACE_S", "end_task", "task_processes"]

DEFAULT_GRACE_S = 5.0
_GONE_S = 5.0  # after SIGKILL: how long to wait for the kernel to take them away
_STEP_S = 0.02


def task_processes(run_id: str, task: str) -> list[int]:
    """Live processes (not this one) whose environment names this run and task."""
    want = {f"RTFIT_RUN_ID={run_id}".encode(), f"RTFIT_TASK={task}".encode()}
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if want.issubset(environ.split(b"\0")):
            found.append(int(name))
    return found


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def end_task(
    run_id: str,
    task: str,
    *,
    group: int | None,
    grace: float = DEFAULT_GRACE_S,
    reap: Callable[[], object] | None = None,
) -> list[int]:
    """End every process of (run, task): SIGTERM, up to `grace` seconds, then SIGKILL.

    `group` is the task's process group (its first process's pid); `reap` collects a direct child
    that exited (`Popen.poll`) so it does not linger. Returns the pids that needed SIGKILL.
    """
    if group is not None:
        _signal(group, signal.SIGTERM, group=True)
    for pid in task_processes(run_id, task):
        _signal(pid, signal.SIGTERM, group=False)
    deadline = time.monotonic() + grace
    left = task_processes(run_id, task)
    while left and time.monotonic() < deadline:
        time.sleep(_STEP_S)
        if reap is not None:
            reap()
        left = task_processes(run_id, task)
    if group is not None:
        _signal(group, signal.SIGKILL, group=True)  # members that emptied their environment, too
    for pid in left:
        _signal(pid, signal.SIGKILL, group=False)
    deadline = time.monotonic() + _GONE_S
    while time.monotonic() < deadline:
        if reap is not None:
            reap()
        if not task_processes(run_id, task):
            break
        time.sleep(_STEP_S)
    return left
