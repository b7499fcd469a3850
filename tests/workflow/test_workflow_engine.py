"""Engine on the local backend with real subprocesses: order, expressions, retries, timeouts,
skip propagation, placement failures, composed environments, and resume after a killed runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from workflow.backends.local import LocalBackend
from workflow.engine import Engine
from workflow.flow import Task
from workflow.placement import Placement
from workflow.state import SqliteStateStore
from workflow.store import RuntimeStore, stage_folder

PY = sys.executable


class FixedPlacer:
    """Stands in for the solver: every modelled task gets `runtime` (or an error)."""

    def __init__(self, runtime: dict[str, str] | None = None, error: str | None = None) -> None:
        self.runtime = runtime or {}
        self.error = error
        self.batches: list[list[str]] = []

    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        self.batches.append([t.name for t in tasks])
        out = {}
        for t in tasks:
            if t.model is not None and self.error:
                out[t.name] = Placement(t.name, error=self.error)
            else:
                rt = (self.runtime if t.model is not None else {}) | dict(t.runtime)
                out[t.name] = Placement(t.name, node="local", runtime=rt,
                                        explanation=() if t.model is not None else ("no model: runner environment",))
        return out


def run_flow(tmp_path: Path, text: str, placer: FixedPlacer | None = None, **kw: object):
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(text)
    from workflow.flow import load_flow

    flow = load_flow(flow_file)
    state = SqliteStateStore(tmp_path / "state")
    engine = Engine(backend=LocalBackend(state_dir=tmp_path / "state"), placer=placer or FixedPlacer(),
                    store=RuntimeStore(tmp_path / "store"), state=state, logs_root=tmp_path / "state" / "runs",
                    poll_interval=0.02, **kw)
    return engine.run(flow), state


def log_line(path: Path, text: str) -> list[str]:
    """argv appending `text` to a file (an order witness)."""
    return [PY, "-c", f"open({str(path)!r}, 'a').write({text!r} + '\\n')"]


def test_order_and_expressions_and_skip_propagation(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    flow = {
        "name": "order",
        "tasks": [
            {"name": "a", "command": log_line(trace, "a")},
            {"name": "b", "depends": "a", "command": [PY, "-c", "import sys; sys.exit(4)"]},
            {"name": "c", "depends": "a.Succeeded && (b.Failed || b.Skipped)", "command": log_line(trace, "c")},
            {"name": "d", "depends": "b", "command": log_line(trace, "d")},
            {"name": "e", "depends": "d", "command": log_line(trace, "e")},
            {"name": "f", "depends": "d.Skipped && !c.Failed", "command": log_line(trace, "f")},
        ],
    }
    result, state = run_flow(tmp_path, json.dumps(flow))
    assert result.states == {"a": "Succeeded", "b": "Failed", "c": "Succeeded", "d": "Skipped", "e": "Skipped",
                             "f": "Succeeded"}
    lines = trace.read_text().split()
    assert lines[0] == "a" and sorted(lines) == ["a", "c", "f"]
    rec = state.get_run(result.run_id)
    assert rec.status == "Failed" and rec.tasks["b"].exit_code == 4
    assert "depends not satisfied: d.Succeeded" in rec.tasks["e"].message


def test_retries_then_success_and_exhausted(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    flaky = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=int(p.read_text()) if p.exists() else 0; "
             "p.write_text(str(n+1)); sys.exit(0 if n >= 2 else 1)")
    flow = {"name": "retry", "tasks": [
        {"name": "flaky", "command": [PY, "-c", flaky], "retries": 2},
        {"name": "hopeless", "command": [PY, "-c", "raise SystemExit(2)"], "retries": 1},
    ]}
    result, state = run_flow(tmp_path, json.dumps(flow))
    assert result.states == {"flaky": "Succeeded", "hopeless": "Failed"}
    rec = state.get_run(result.run_id)
    assert rec.tasks["flaky"].attempts == 3 and rec.tasks["hopeless"].attempts == 2
    log = Path(rec.tasks["hopeless"].log_path).read_text()
    assert "attempt 1" in log and "attempt 2" in log


def test_timeout_kills_the_task(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    flow = {"name": "timeouts", "tasks": [
        {"name": "slow", "command": [PY, "-c", f"import time; time.sleep(30); open({str(marker)!r}, 'w')"],
         "timeout": "0.5s"},
        {"name": "after", "depends": "slow.Failed", "command": ["true"]},
    ]}
    start = time.monotonic()
    result, state = run_flow(tmp_path, json.dumps(flow))
    assert time.monotonic() - start < 10
    assert result.states == {"slow": "Failed", "after": "Succeeded"}
    assert "timed out after 0.5s" in state.get_run(result.run_id).tasks["slow"].message
    assert not marker.exists()


def test_placement_error_fails_the_task_with_the_reason(tmp_path: Path) -> None:
    flow = {"name": "place", "tasks": [
        {"name": "gpu-train", "model": {"framework": "pytorch", "gpu_count": 1}, "command": ["true"]},
        {"name": "cleanup", "depends": "gpu-train.Failed", "command": ["true"]},
    ]}
    result, state = run_flow(tmp_path, json.dumps(flow), FixedPlacer(error="driver-too-old on edge-01"))
    assert result.states == {"gpu-train": "Failed", "cleanup": "Succeeded"}
    assert "driver-too-old on edge-01" in state.get_run(result.run_id).tasks["gpu-train"].message


def test_ready_tasks_are_placed_together(tmp_path: Path) -> None:
    placer = FixedPlacer()
    flow = {"name": "batch", "tasks": [{"name": n, "command": ["true"]} for n in ("a", "b", "c")]
            + [{"name": "z", "depends": ["a", "b", "c"], "command": ["true"]}]}
    result, _ = run_flow(tmp_path, json.dumps(flow), placer)
    assert not result.failed
    assert placer.batches == [["a", "b", "c"], ["z"]]


def test_composed_task_sees_only_its_runtime(tmp_path: Path) -> None:
    pkg = tmp_path / "pkgsrc" / "site-packages" / "rtfit_demo_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("WHO = 'from the store'\n")
    stage_folder(RuntimeStore(tmp_path / "store"), "demo", "1.0", tmp_path / "pkgsrc")
    out = tmp_path / "out.json"
    script = (f"import json, os, sys, rtfit_demo_pkg; json.dump({{'who': rtfit_demo_pkg.WHO, 'pp': os.environ['PYTHONPATH'], "
              f"'exe': sys.executable, 'prefix': sys.prefix}}, open({str(out)!r}, 'w'))")
    no_typer = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('typer') is None else 9)"
    flow = {"name": "composed", "tasks": [
        {"name": "use", "model": {"framework": "none", "gpu_count": 0}, "runtime": {"demo": "1.0"},
         "command": ["python", "-c", script]},
        {"name": "isolated", "model": {"framework": "none", "gpu_count": 0}, "command": ["python", "-c", no_typer]},
        {"name": "runner-env", "command": ["python", "-c", "import typer"]},
        {"name": "missing", "model": {"framework": "none"}, "runtime": {"demo": "2.0"}, "command": ["true"]},
    ]}
    result, state = run_flow(tmp_path, json.dumps(flow))
    assert result.states == {"use": "Succeeded", "isolated": "Succeeded", "runner-env": "Succeeded", "missing": "Failed"}
    seen = json.loads(out.read_text())
    assert seen["who"] == "from the store"
    assert seen["pp"] == str(tmp_path / "store" / "demo" / "1.0" / "site-packages")
    assert seen["prefix"].startswith(str(tmp_path / "state" / "base-python-"))
    assert "rtfit store stage demo 2.0" in state.get_run(result.run_id).tasks["missing"].message
    # Importing from the store wrote no bytecode into it (tests run as root: the store is writable).
    assert not list((tmp_path / "store" / "demo" / "1.0").rglob("__pycache__"))
    assert all(r.ok for r in RuntimeStore(tmp_path / "store").verify())


KILL_FLOW = """\
name: resume
tasks:
  - name: first
    command: [{py}, -c, "open('{trace}', 'a').write('first\\\\n')"]
  - name: second
    depends: first
    command: [{py}, -c, "import os, time; open('{trace}', 'a').write('second\\\\n'); time.sleep(0 if os.path.exists('{go}') else 60)"]
  - name: third
    depends: second
    command: [{py}, -c, "open('{trace}', 'a').write('third\\\\n')"]
"""


def test_resume_after_killed_runner(tmp_path: Path) -> None:
    trace, go = tmp_path / "trace", tmp_path / "go"
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(KILL_FLOW.format(py=PY, trace=trace, go=go))
    rtfit = [PY, "-m", "rtfit", "flow", "run", str(flow_file), "--store", str(tmp_path / "store"), "--json"]
    runner = subprocess.Popen(rtfit, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "second" not in (trace.read_text() if trace.exists() else ""):
        time.sleep(0.1)
    assert "second" in trace.read_text()
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its task die mid-run
    runner.wait()
    go.write_text("")
    again = subprocess.run(rtfit, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["tasks"] == {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}
    assert trace.read_text().split() == ["first", "second", "second", "third"]  # first not rerun
    status = subprocess.run([PY, "-m", "rtfit", "flow", "status", out["run"], "--store", str(tmp_path / "store")],
                            capture_output=True, text=True)
    assert status.returncode == 0 and "second" in status.stdout and "Succeeded" in status.stdout
    logs = subprocess.run([PY, "-m", "rtfit", "flow", "logs", out["run"], "second", "--store", str(tmp_path / "store")],
                          capture_output=True, text=True)
    assert logs.stdout.count("== second attempt") == 2


def test_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("name: ok\ntasks:\n  - {name: a, command: ['true']}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntasks:\n  - {name: a, command: 'echo hi'}\n")
    failing = tmp_path / "failing.yaml"
    failing.write_text("name: failing\ntasks:\n  - {name: a, command: ['false']}\n")
    base = [PY, "-m", "rtfit", "flow", "run", "--store", str(tmp_path / "store"), "--json"]
    r = subprocess.run(base + [str(good)], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["tasks"] == {"a": "Succeeded"}
    r = subprocess.run(base + [str(failing)], capture_output=True, text=True)
    assert r.returncode == 1 and json.loads(r.stdout)["tasks"] == {"a": "Failed"}
    r = subprocess.run(base + [str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "task 'a', field 'command', line 3" in r.stderr and "Traceback" not in r.stderr
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text("name: unquoted\ntasks:\n  - {name: a, command: [true]}\n")
    r = subprocess.run(base + [str(unquoted)], capture_output=True, text=True)
    assert r.returncode == 2 and "quote YAML words" in r.stderr


@pytest.mark.parametrize("serve_ok", [True, False])
def test_local_serving_task_is_health_checked_and_stopped(tmp_path: Path, serve_ok: bool) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ("import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n"
              "    def do_GET(self):\n        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
              "http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n")
    cmd = [PY, "-c", server] if serve_ok else [PY, "-c", "raise SystemExit(1)"]
    client = [PY, "-c", f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=5)"]
    flow = {"name": "serving", "tasks": [
        {"name": "serve", "command": cmd, "serve": {"port": port, "startup_timeout": "20s"}},
        {"name": "client", "depends": "serve", "command": client},
    ]}
    result, state = run_flow(tmp_path, json.dumps(flow))
    if serve_ok:
        assert result.states == {"serve": "Succeeded", "client": "Succeeded"}
        # the recorded state never claims a stopped server is healthy
        message = state.get_run(result.run_id).tasks["serve"].message
        assert "healthy" not in message and "stopped when the run ended" in message, message
    else:
        assert result.states == {"serve": "Failed", "client": "Skipped"}
    with socket.socket() as s:  # the server is gone once the run is over
        assert s.connect_ex(("127.0.0.1", port)) != 0
