"""The local backend: each task is a subprocess whose environment is its composed runtime.

Argument lists only, never a shell. A task without a model runs in the runner's own environment
(its interpreter first on PATH). A task with a model runs in a *bare* base environment — a venv
with no packages, created once under the state folder, standing in for a plain base image — plus
its composed components on PATH / LD_LIBRARY_PATH / PYTHONPATH: whatever it imports comes from
the store. Each task gets its own process group; a timeout or cancel, and the end of its main
process, end every process it started, including those that left the group (proctree.py: SIGTERM,
a grace period, then SIGKILL). Serving tasks are started, health-checked over HTTP, and stopped
when the run ends.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from workflow.backends.base import Launch, Outcome, task_env
from workflow.backends.proctree import DEFAULT_GRACE_S, end_task, task_processes
from workflow.errors import BackendError

__all__ = ["LocalBackend", "stop_stale_process"]

_PASS_THROUGH = ("HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "OMP_NUM_THREADS", "SYSTEMROOT")
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def stop_stale_process(pid: int, *, run_id: str, task: str, grace: float = DEFAULT_GRACE_S) -> bool:
    """End what a killed runner left of a task, and return only once it is all gone.

    Its process group is signalled only if `pid` still proves to be ours (its environment names
    the run and task: the pid may have been reused); every process carrying the run and task is
    ended either way, SIGTERM first, SIGKILL after `grace` seconds. Resume relaunches the task
    after this returns, so a task that ignores SIGTERM never runs twice at once.
    """
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        environ = []
    ours = f"RTFIT_RUN_ID={run_id}".encode() in environ and f"RTFIT_TASK={task}".encode() in environ
    if not ours and not task_processes(run_id, task):
        return False
    end_task(run_id, task, group=pid if ours else None, grace=grace)
    return True


class _ProcessHandle:
    def __init__(
        self, proc: subprocess.Popen[bytes], log: IO[bytes], *, run_id: str, task: str, grace: float
    ) -> None:
        self.proc = proc
        self.pid: int | None = proc.pid
        self._log = log
        self._run_id = run_id
        self._task = task
        self._grace = grace

    def _end_all(self) -> None:
        """End every process of this task (the main one, what it left behind, what left the group)."""
        end_task(self._run_id, self._task, group=self.proc.pid, grace=self._grace, reap=self.proc.poll)
        self.proc.wait()
        self._log.close()

    def poll(self) -> Outcome | None:
        code = self.proc.poll()
        if code is None:
            return None
        self._end_all()  # a task is over when its main process is: nothing it started outlives it
        if code == 0:
            return Outcome(True, 0, "exit 0")
        return Outcome(False, code, f"exit {code}" if code > 0 else f"killed by signal {-code}")

    def cancel(self) -> None:
        self._end_all()


class _ServeHandle(_ProcessHandle):
    """Success once GET http://127.0.0.1:<port><health> answers 200; failure if it exits first."""

    def __init__(
        self, proc: subprocess.Popen[bytes], log: IO[bytes], url: str, startup_timeout: float, *,
        run_id: str, task: str, grace: float,
    ) -> None:
        super().__init__(proc, log, run_id=run_id, task=task, grace=grace)
        self.task = task
        self.url = url
        self.deadline = time.monotonic() + startup_timeout
        self.healthy = False

    def poll(self) -> Outcome | None:
        if self.healthy:
            return Outcome(True, None, f"serving, healthy at {self.url}")
        code = self.proc.poll()
        if code is not None:
            self._end_all()
            return Outcome(False, code, f"server exited with {code} before it was healthy")
        try:
            with urllib.request.urlopen(self.url, timeout=1) as resp:  # noqa: S310 - 127.0.0.1 only
                if resp.status == 200:
                    self.healthy = True
                    return Outcome(True, None, f"serving, healthy at {self.url}")
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > self.deadline:
            self.cancel()
            return Outcome(False, None, f"no healthy answer from {self.url} in time")
        return None


class LocalBackend:
    """Subprocesses on this machine. `state_dir` holds the bare base environment."""

    name = "local"
    mount_root: str | None = None

    def __init__(self, *, state_dir: str | Path, kill_grace_s: float = DEFAULT_GRACE_S) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.kill_grace_s = kill_grace_s  # SIGTERM to SIGKILL when a task is cancelled or ends
        version = platform.python_version()
        self.provided: Mapping[str, str] = {"python": version}
        self._serving: list[_ServeHandle] = []
        self._base: Path | None = None

    def base_env(self) -> Path:
        """The bare venv composed tasks start from (created once, no pip, no packages)."""
        if self._base is None:
            series = ".".join(platform.python_version_tuple()[:2])
            base = self.state_dir / f"base-python-{series}"
            if not (base / "bin" / "python").exists():
                tmp = base.with_name(base.name + f".tmp{os.getpid()}")
                shutil.rmtree(tmp, ignore_errors=True)
                executable = getattr(sys, "_base_executable", sys.executable)
                builder = venv.EnvBuilder(with_pip=False, symlinks=True, clear=True)
                ctx = builder.ensure_directories(tmp)
                ctx.executable = executable
                builder.create(tmp)
                try:
                    os.rename(tmp, base)
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)
            self._base = base
        return self._base

    def _environment(self, launch: Launch) -> dict[str, str]:
        artifacts = str(launch.artifacts_dir)
        if launch.composed is None:
            env = dict(os.environ)
            env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", _SYSTEM_PATH)
            env.update(task_env(launch, artifacts=artifacts))
            return _marked(env, launch)
        env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        composed = dict(launch.composed.env)
        bins = [composed.pop("PATH", ""), str(self.base_env() / "bin"), _SYSTEM_PATH]
        env["PATH"] = os.pathsep.join(b for b in bins if b)
        env.update(composed)
        env["PYTHONNOUSERSITE"] = "1"
        # Bytecode goes to the runner's state folder, never into the shared store: a task run as
        # root would otherwise write __pycache__ into components and `store verify` would fail.
        env["PYTHONPYCACHEPREFIX"] = str(self.state_dir / "pycache")
        env.update(task_env(launch, artifacts=artifacts))
        return _marked(env, launch)

    def launch(self, launch: Launch) -> _ProcessHandle:
        env = self._environment(launch)
        argv = list(launch.task.command)
        exe = shutil.which(argv[0], path=env["PATH"]) if "/" not in argv[0] else argv[0]
        cwd = _workdir(launch)
        launch.log_path.parent.mkdir(parents=True, exist_ok=True)
        launch.artifacts_dir.mkdir(parents=True, exist_ok=True)
        log = launch.log_path.open("ab")
        log.write(f"== {launch.task.name} attempt {launch.attempt} ({time.strftime('%Y-%m-%dT%H:%M:%S')})\n".encode())
        log.flush()
        if exe is None:
            log.close()
            raise BackendError(f"task '{launch.task.name}': executable {argv[0]!r} not found on the task's PATH")
        try:
            proc = subprocess.Popen(  # argument list, no shell
                [exe, *argv[1:]], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except OSError as e:
            log.close()
            raise BackendError(f"task '{launch.task.name}': cannot start {argv[0]!r}: {e}") from e
        serve = launch.task.serve
        run_id, task, grace = launch.run_id, launch.task.name, self.kill_grace_s
        if serve is None:
            return _ProcessHandle(proc, log, run_id=run_id, task=task, grace=grace)
        handle = _ServeHandle(proc, log, f"http://127.0.0.1:{serve.port}{serve.health}", serve.startup_timeout,
                              run_id=run_id, task=task, grace=grace)
        self._serving.append(handle)
        return handle

    def close(self) -> dict[str, str]:
        """Stop the serving processes this backend started (and everything they started);
        {task: what became of its server}.

        A serving task's state says "serving, healthy" only while its server runs: the engine
        records these messages, so `flow status` never shows a stopped server as healthy.
        """
        ended: dict[str, str] = {}
        for handle in self._serving:
            code = handle.proc.poll()
            if code is None:
                handle.cancel()
                ended[handle.task] = f"served at {handle.url}; stopped when the run ended"
            else:
                ended[handle.task] = f"served at {handle.url}; the server exited with {code} while the run went on"
        self._serving.clear()
        return ended


def _marked(env: dict[str, str], launch: Launch) -> dict[str, str]:
    """The run and task identity last, so a task's own `env` cannot hide its processes (proctree.py)."""
    env["RTFIT_RUN_ID"] = launch.run_id
    env["RTFIT_TASK"] = launch.task.name
    return env


def _workdir(launch: Launch) -> Path:
    """The task's working folder, resolved (symlinks followed) and proven inside the flow's folder.

    The flow parser refuses absolute paths and '..' in `workdir`, but only as a string: a symlink
    inside the flow folder (`sub -> /etc`) passed that check and ran the task elsewhere.
    """
    base = launch.flow.base_dir.resolve()
    workdir = launch.task.workdir or "."
    try:
        cwd = (base / workdir).resolve(strict=True)
    except (OSError, RuntimeError) as e:  # missing, or a symlink loop
        raise BackendError(f"task '{launch.task.name}': workdir {workdir!r} does not exist in {base}") from e
    if cwd != base and base not in cwd.parents:
        raise BackendError(
            f"task '{launch.task.name}': workdir {workdir!r} resolves to {cwd}, outside the flow's folder {base} "
            "(a symlink?); the task was not started"
        )
    if not cwd.is_dir():
        raise BackendError(f"task '{launch.task.name}': workdir {workdir!r} is not a folder")
    return cwd
