"""`--server`: run state kept by the metadata service (its real app, SQLite, in-process)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip("metadata_service.app")
from fastapi.testclient import TestClient  # noqa: E402

from metadata_service.app import create_app  # noqa: E402
from metadata_service.settings import Settings  # noqa: E402
from workflow.backends.local import LocalBackend  # noqa: E402
from workflow.engine import Engine  # noqa: E402
from workflow.flow import parse_flow  # noqa: E402
from workflow.remote import RemoteStateStore  # noqa: E402
from workflow.runner import LazySolverPlacer  # noqa: E402
from workflow.store import RuntimeStore  # noqa: E402

PY = sys.executable


@pytest.fixture
def service(tmp_path: Path):
    token = "t_runner_admin_token"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [{"name": "runner", "role": "admin",
                                                  "sha256": hashlib.sha256(token.encode()).hexdigest()}]}))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'svc.db'}", data_dir=tmp_path / "data", tokens_file=tokens)
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def _engine(tmp_path: Path, state: RemoteStateStore) -> Engine:
    return Engine(backend=LocalBackend(state_dir=tmp_path / "state"), placer=LazySolverPlacer(inventory=None),
                  store=RuntimeStore(tmp_path / "store"), state=state, logs_root=tmp_path / "state" / "runs",
                  poll_interval=0.02)


def test_run_state_and_logs_go_to_the_service(tmp_path: Path, service: TestClient) -> None:
    trace = tmp_path / "trace"
    doc = {"name": "remote", "tasks": [
        {"name": "a", "command": [PY, "-c", f"print('hello'); open({str(trace)!r}, 'a').write('a\\n')"]},
        {"name": "b", "depends": "a", "command": [PY, "-c", "raise SystemExit(5)"]},
        {"name": "c", "depends": "b", "command": ["true"]},
    ]}
    flow = parse_flow(json.dumps(doc))
    state = RemoteStateStore("http://testserver", client=service)
    result = _engine(tmp_path, state).run(flow)
    assert result.states == {"a": "Succeeded", "b": "Failed", "c": "Skipped"}
    body = service.get(f"/v1/flows/{result.run_id}").json()
    assert {n: t["state"] for n, t in body["tasks"].items()} == result.states
    assert body["tasks"]["b"]["exit_code"] == 5 and body["state"] == "Failed"
    assert "hello" in service.get(f"/v1/flows/{result.run_id}/tasks/a/logs").text
    assert "hello" in state.get_logs(result.run_id, "a")

    # a fresh runner on the same flow resumes the unfinished run it finds on the service
    run = state.create_run(flow=flow.name, flow_path=None, flow_digest=flow.digest, backend="local",
                           tasks=[t.name for t in flow.tasks], document=flow.document)
    from workflow.state import TaskRecord

    state.update_task(run.id, TaskRecord("a", state="Succeeded"))
    again = _engine(tmp_path, RemoteStateStore("http://testserver", client=service)).run(flow)
    assert again.run_id == run.id and again.resumed
    assert trace.read_text().split() == ["a"]  # a was not rerun


def test_the_service_copy_counts_attempts_like_the_local_one(tmp_path: Path, service: TestClient) -> None:
    flow = parse_flow(json.dumps({"name": "attempts", "tasks": [
        {"name": "ok", "command": [PY, "-c", "pass"]},
        {"name": "flaky", "retries": 1, "command": [PY, "-c", "raise SystemExit(3)"]},
    ]}))
    state = RemoteStateStore("http://testserver", client=service)
    result = _engine(tmp_path, state).run(flow)
    body = service.get(f"/v1/flows/{result.run_id}").json()
    assert body["tasks"]["ok"]["attempts"] == 1
    assert body["tasks"]["flaky"]["attempts"] == 2
    assert state.get_run(result.run_id).tasks["flaky"].attempts == 2


def test_a_local_run_with_server_is_placed_on_this_machine(tmp_path: Path, monkeypatch) -> None:
    """`rtfit flow run --server URL` (local backend) keeps run state there, but places tasks here."""
    from typer.testing import CliRunner

    import workflow.remote
    import workflow.runner
    from rtfit.cli import app
    from workflow.errors import WorkflowError

    def no_fleet(*_a, **_k):
        raise AssertionError("a local run must not be placed on the service's nodes")

    seen = {}

    def capture(**kwargs):
        seen.update(kwargs)
        raise WorkflowError("stop here")

    monkeypatch.setattr(workflow.remote, "fetch_inventory", no_fleet)
    monkeypatch.setattr(workflow.runner, "build_engine", capture)
    (tmp_path / "f.yaml").write_text("name: f\ntasks:\n  - {name: a, command: [python, -c, pass]}\n")
    res = CliRunner().invoke(app, ["flow", "run", str(tmp_path / "f.yaml"), "--server", "http://127.0.0.1:9",
                                   "--store", str(tmp_path / "store")])
    assert res.exit_code == 2 and "stop here" in res.stderr
    assert seen["backend"] == "local" and seen["inventory"] is None
    monkeypatch.undo()
    from workflow.runner import build_engine

    with pytest.raises(WorkflowError, match="the local backend runs every task on this machine"):
        build_engine(backend="local", store=RuntimeStore(tmp_path / "s"), state_dir=tmp_path / "st",
                     inventory={"nodes": [{"name": "demo-edge-l4"}]})
    engine = build_engine(backend="local", store=RuntimeStore(tmp_path / "s"), state_dir=tmp_path / "st")
    import socket

    assert engine.placer._kwargs["inventory"]["nodes"][0]["name"] == (socket.gethostname() or "localhost")
