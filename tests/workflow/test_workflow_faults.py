"""Faults of the local backend: a task's whole process tree ends with it (timeouts, normal ends,
grandchildren that ignore SIGTERM or leave the process group), and resume waits for a stale task
to be gone before it launches the task again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_workflow_engine import FixedPlacer

from workflow.backends.local import LocalBackend, stop_stale_process
from workflow.engine import Engine
from workflow.flow import load_flow
from workflow.state import SqliteStateStore, TaskRecord
from workflow.store import RuntimeStore

PY = sys.executable

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


def _wait_for(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def _stubborn(pid_file: Path, ticks: Path, *, setsid: bool) -> str:
    """Python source: ignore SIGTERM (optionally leave the group), record the pid, tick forever."""
    return (
        "import os, signal, time\n"
        + ("os.setsid()\n" if setsid else "")
        + "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "while True:\n"
        f"    open({str(ticks)!r}, 'a').write('tick\\n'); time.sleep(0.05)\n"
    )


def _parent(child_source: str, *, then: str) -> list[str]:
    """argv: start a grandchild running `child_source`, then `then` (python source)."""
    spawn = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child_source!r}]); {then}"
    return [PY, "-c", spawn]


def _run(tmp_path: Path, tasks: list[dict[str, object]]) -> tuple[object, SqliteStateStore]:
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(json.dumps({"name": "faults", "tasks": tasks}))
    state = SqliteStateStore(tmp_path / "state")
    engine = Engine(backend=LocalBackend(state_dir=tmp_path / "state", kill_grace_s=0.5), placer=FixedPlacer(),
                    store=RuntimeStore(tmp_path / "store"), state=state, logs_root=tmp_path / "state" / "runs",
                    poll_interval=0.02)
    return engine.run(load_flow(flow_file)), state


def _assert_silent_after(ticks: Path, pid: int) -> None:
    alive = _alive(pid)
    if alive:
        os.kill(pid, 9)  # do not leave it running after a failed test
    assert not alive, f"grandchild {pid} outlived its task"
    before = ticks.read_text().count("tick")
    time.sleep(0.3)
    assert ticks.read_text().count("tick") == before, "something still writes after the run ended"


@pytest.mark.parametrize("setsid", [False, True], ids=["in-group", "setsid"])
def test_timeout_ends_grandchildren_that_ignore_sigterm(tmp_path: Path, setsid: bool) -> None:
    pid_file, ticks = tmp_path / "pid", tmp_path / "ticks"
    command = _parent(_stubborn(pid_file, ticks, setsid=setsid), then="time.sleep(60)")
    started = time.monotonic()
    result, state = _run(tmp_path, [{"name": "slow", "command": command, "timeout": "1.5s"}])
    assert result.states == {"slow": "Failed"}
    assert "timed out" in state.get_run(result.run_id).tasks["slow"].message
    assert time.monotonic() - started < 20
    _assert_silent_after(ticks, int(_wait_for(pid_file)))


@pytest.mark.parametrize("setsid", [False, True], ids=["in-group", "setsid"])
def test_a_task_that_ends_takes_its_leftovers_with_it(tmp_path: Path, setsid: bool) -> None:
    pid_file, ticks = tmp_path / "pid", tmp_path / "ticks"
    command = _parent(_stubborn(pid_file, ticks, setsid=setsid), then="time.sleep(1)")
    result, _ = _run(tmp_path, [{"name": "quick", "command": command}])
    assert result.states == {"quick": "Succeeded"}
    _assert_silent_after(ticks, int(_wait_for(pid_file)))


def _stale_task(tmp_path: Path, run_id: str, task: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A task process left by a killed runner: ignores SIGTERM, with a setsid grandchild that does too."""
    pid_file, ticks = tmp_path / "stale-pid", tmp_path / "stale-ticks"
    source = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"subprocess.Popen([sys.executable, '-c', {_stubborn(pid_file, ticks, setsid=True)!r}])\n"
        "time.sleep(60)\n"
    )
    env = dict(os.environ, RTFIT_RUN_ID=run_id, RTFIT_TASK=task)
    proc = subprocess.Popen([PY, "-c", source], env=env, start_new_session=True)
    return proc, int(_wait_for(pid_file)), ticks


def test_stop_stale_process_returns_only_when_all_of_it_is_gone(tmp_path: Path) -> None:
    proc, grandchild, ticks = _stale_task(tmp_path, "run-1", "work")
    try:
        assert stop_stale_process(proc.pid, run_id="run-1", task="work", grace=0.5)
        proc.wait(timeout=5)
        assert not _alive(grandchild)
        _assert_silent_after(ticks, grandchild)
    finally:
        for pid in (proc.pid, grandchild):
            if _alive(pid):
                os.kill(pid, 9)


def test_stop_stale_process_leaves_other_processes_alone(tmp_path: Path) -> None:
    other = subprocess.Popen([PY, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        assert not stop_stale_process(other.pid, run_id="run-1", task="work", grace=0.2)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_resume_never_runs_a_stale_task_alongside_its_relaunch(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(json.dumps({"name": "resume", "tasks": [
        {"name": "work", "command": [PY, "-c", f"open({str(trace)!r}, 'a').write('relaunched\\n')"]}]}))
    flow = load_flow(flow_file)
    state = SqliteStateStore(tmp_path / "state")
    run = state.create_run(flow=flow.name, flow_path=str(flow_file), flow_digest=flow.digest, backend="local",
                           tasks=["work"], document=flow.document)
    proc, grandchild, ticks = _stale_task(tmp_path, run.id, "work")
    state.update_task(run.id, TaskRecord("work", state="Running", attempts=1, pid=proc.pid))
    engine = Engine(backend=LocalBackend(state_dir=tmp_path / "state", kill_grace_s=0.5), placer=FixedPlacer(),
                    store=RuntimeStore(tmp_path / "store"), state=state, logs_root=tmp_path / "state" / "runs",
                    poll_interval=0.02)
    try:
        result = engine.run(flow, run_id=run.id)
        assert result.states == {"work": "Succeeded"} and trace.read_text() == "relaunched\n"
        assert proc.poll() is not None or not _alive(proc.pid)
        _assert_silent_after(ticks, grandchild)
    finally:
        for pid in (proc.pid, grandchild):
            if _alive(pid):
                os.kill(pid, 9)
