"""The local backend: each task is a subprocess whose environment is its composed runtime.

Argument lists only, never a shell. A task without a model runs in the runner's own environment
(its interpreter first on PATH). A task with a model runs in a *bare* base environment — a venv
with no packages, created once under the state folder, standing in for a plain base image — plus
its composed components on PATH / LD_LIBRARY_PATH / PYTHONPATH: whatever it imports comes from
the store. Each task gets its own process group so a timeout or cancel ends all of it. Serving
tasks are started, health-checked over HTTP, and stopped when the run ends.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
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
from workflow.errors import BackendError

__all__ = ["LocalBackend", "stop_stale_process"]

_PASS_THROUGH = ("HOME", "USER", "LANG", "LC_ALL", "TZ", "TMPDIR", "OMP_NUM_THREADS", "SYSTEMROOT")
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _kill_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_stale_process(pid: int, *, run_id: str, task: str) -> bool:
    """End a task process left by a killed runner, only if its environment proves it is ours."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    if f"RTFIT_RUN_ID={run_id}".encode() not in environ or f"RTFIT_TASK={task}".encode() not in environ:
        return False
    _kill_group(pid, signal.SIGTERM)
    return True


class _ProcessHandle:
    def __init__(self, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.proc = proc
        self.pid: int | None = proc.pid
        self._log = log

    def poll(self) -> Outcome | None:
        code = self.proc.poll()
        if code is None:
            return None
        self._log.close()
        if code == 0:
            return Outcome(True, 0, "exit 0")
        return Outcome(False, code, f"exit {code}" if code > 0 else f"killed by signal {-code}")

    def cancel(self) -> None:
        _kill_group(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._log.close()


class _ServeHandle(_ProcessHandle):
    """Success once GET http://127.0.0.1:<port><health> answers 200; failure if it exits first."""

    def __init__(self, proc: subprocess.Popen[bytes], log: IO[bytes], url: str, startup_timeout: float) -> None:
        super().__init__(proc, log)
        self.url = url
        self.deadline = time.monotonic() + startup_timeout
        self.healthy = False

    def poll(self) -> Outcome | None:
        if self.healthy:
            return Outcome(True, None, f"serving, healthy at {self.url}")
        code = self.proc.poll()
        if code is not None:
            self._log.close()
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

    def __init__(self, *, state_dir: str | Path) -> None:
        self.state_dir = Path(state_dir).absolute()
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
            return env
        env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        composed = dict(launch.composed.env)
        bins = [composed.pop("PATH", ""), str(self.base_env() / "bin"), _SYSTEM_PATH]
        env["PATH"] = os.pathsep.join(b for b in bins if b)
        env.update(composed)
        env["PYTHONNOUSERSITE"] = "1"
        env.update(task_env(launch, artifacts=artifacts))
        return env

    def launch(self, launch: Launch) -> _ProcessHandle:
        env = self._environment(launch)
        argv = list(launch.task.command)
        exe = shutil.which(argv[0], path=env["PATH"]) if "/" not in argv[0] else argv[0]
        cwd = launch.flow.base_dir / (launch.task.workdir or ".")
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
        if serve is None:
            return _ProcessHandle(proc, log)
        handle = _ServeHandle(proc, log, f"http://127.0.0.1:{serve.port}{serve.health}", serve.startup_timeout)
        self._serving.append(handle)
        return handle

    def close(self) -> None:
        """Stop the serving processes this backend started."""
        for handle in self._serving:
            if handle.proc.poll() is None:
                handle.cancel()
        self._serving.clear()
