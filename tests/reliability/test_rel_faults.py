"""Faults: the database stopped mid-load, the service SIGKILLed, a catalog upload cut off, a solver
request that would run long. Each test drives a real `rtfit serve` over loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rel_support import load_test, pg_schema, token_entry

RTFIT = Path(sys.executable).with_name("rtfit")
PG_CLUSTER = "/etc/postgresql"


def _pg_ctl(action: str) -> None:
    version = sorted(os.listdir(PG_CLUSTER))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action, *(
        ["-m", "fast"] if action == "stop" else [])], check=True, capture_output=True, timeout=60)


def _wait(what: str, check: Any, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# -- PostgreSQL stopped and restarted in the middle of the load --------------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_mid_load_recovers_and_loses_nothing(tmp_path: Path) -> None:
    if not (os.path.isdir(PG_CLUSTER) and os.geteuid() == 0):
        pytest.skip("needs the local PostgreSQL cluster and root to stop it")
    with pg_schema() as url:
        load = load_test.Load(agents=100, interval=0.5, connections=50, selectors=2, select_rate=4.0, flows=1,
                              flow_rate=4.0, seconds=22.0)
        tokens = load_test.write_tokens(tmp_path / "tokens.yaml", load)
        service = load_test.ServiceProcess(tmp_path, url, tmp_path / "tokens.yaml")
        acks = load_test.Acks()
        figures: dict[str, Any] = {}
        service.start()
        try:
            # The load runs on until 8 s after PostgreSQL is back (on a loaded machine the restart can
            # outlast the 22 s load, leaving no heartbeat to prove that writes resumed), 90 s at most.
            healed: list[float] = []
            give_up = time.time() + 90
            runner = threading.Thread(target=lambda: figures.update(asyncio.run(load_test.run_load(
                service.port, tokens, load, acks,
                keep_going=lambda: time.time() < (healed[0] + 8 if healed else give_up)))))
            runner.start()
            time.sleep(5)
            acked_before = sum(acks.heartbeat_count.values())
            try:
                _pg_ctl("stop")
                down_at = time.monotonic()
                _wait("/readyz to report not ready", lambda: service.status("/readyz") == 503, 10)
                health_t0 = time.monotonic()
                assert service.status("/healthz") == 200  # the process itself still answers, fast
                assert time.monotonic() - health_t0 < 1.0
                time.sleep(max(0.0, 4 - (time.monotonic() - down_at)))
            finally:
                _pg_ctl("start")  # always: other tests need PostgreSQL
            up_at = time.time()
            healed.append(up_at)
            recovered = _wait("/readyz to recover", lambda: service.status("/readyz") == 200, 15)
            runner.join(timeout=120)
        finally:
            service.stop()
        assert recovered < 10, f"readiness came back {recovered:.1f} s after PostgreSQL did"
        # The outage was real (writes refused while it lasted) and answered as 503, never 500.
        refused = {k: v for kind in ("register", "liveness", "select", "flow")
                   for k, v in figures[kind]["non_2xx"].items()}
        assert refused and set(refused) <= {"503"}, figures
        # Writes resumed after the restart, and nothing that was acknowledged is missing.
        assert sum(acks.heartbeat_count.values()) > acked_before
        assert max(acks.heartbeat_last_send.values()) > up_at
        proof = load_test.verify(url, acks)
        assert proof["lost"] == {"heartbeats": 0, "selections": 0, "flow_logs": 0}, proof


# -- the service SIGKILLed: agents back off and recover, a flow runner waits, a flow resumes -------
FLOW = """\
name: kill-flow
tasks:
  - name: first
    command: [{py}, -c, "open('{trace}', 'a').write('first\\\\n')"]
  - name: second
    depends: first
    command: [{py}, -c, "import os, time; open('{trace}', 'a').write('second\\\\n'); [time.sleep(0.1) for _ in range(600) if not os.path.exists('{go}')]"]
  - name: third
    depends: second
    command: [{py}, -c, "open('{trace}', 'a').write('third\\\\n')"]
"""


class _Serve:
    def __init__(self, tmp: Path, tokens_file: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "RTFIT_DATA_DIR": str(tmp / "data"), "RTFIT_TOKENS_FILE": str(tokens_file),
                    "RTFIT_LOG_LEVEL": "warning"}
        self.env.pop("RTFIT_DATABASE_URL", None)
        self.log = tmp / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(RTFIT), "serve", "--port", str(self.port)], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        _wait("the service", self._ready, 60)

    def _ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def killable(tmp_path: Path) -> Any:
    admin, admin_entry = token_entry("runner", "admin")
    reader, reader_entry = token_entry("reader", "reader")
    agent, agent_entry = token_entry("agent-kill-node", "agent", "kill-node")
    (tmp_path / "tokens.yaml").write_text(yaml.safe_dump({"tokens": [admin_entry, reader_entry, agent_entry]}))
    (tmp_path / "agent-token").write_text(agent)
    serve = _Serve(tmp_path, tmp_path / "tokens.yaml")
    serve.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield serve, {"admin": admin, "reader": reader}, procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        serve.kill()


def _flow_cmd(tmp: Path, serve: _Serve) -> list[str]:
    flow = tmp / "flow.yaml"
    flow.write_text(FLOW.format(py=sys.executable, trace=tmp / "trace", go=tmp / "go"))
    return [str(RTFIT), "flow", "run", str(flow), "--server", serve.url, "--store", str(tmp / "store"), "--json"]


@pytest.mark.slow
def test_service_sigkill_agent_and_runner_recover(tmp_path: Path, killable: Any) -> None:
    serve, tok, procs = killable
    reader = {"Authorization": f"Bearer {tok['reader']}"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTFIT_")}
    agent = subprocess.Popen([str(RTFIT), "agent", "--server", serve.url, "--token-file", str(tmp_path / "agent-token"),
                              "--name", "kill-node", "--fake", "l4x2", "--interval", "300ms", "--max-backoff", "1s"],
                             stdout=(tmp_path / "agent.log").open("wb"), stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
    procs.append(agent)
    runner = subprocess.Popen(_flow_cmd(tmp_path, serve), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**env, "RTFIT_TOKEN": tok["admin"]}, start_new_session=True)
    procs.append(runner)

    def node() -> dict[str, Any] | None:
        r = httpx.get(f"{serve.url}/v1/nodes/kill-node", headers=reader, timeout=2)
        return r.json() if r.status_code == 200 else None

    _wait("the agent's node", lambda: node() is not None, 30)
    trace = tmp_path / "trace"
    _wait("task second to run", lambda: trace.exists() and "second" in trace.read_text(), 60)
    serve.kill()  # SIGKILL mid-flow, mid-heartbeats
    time.sleep(2.0)
    assert agent.poll() is None and runner.poll() is None, "agent or runner died while the service was down"
    (tmp_path / "go").write_text("")  # task second finishes while the service is down
    restarted = time.time()
    serve.start()
    _wait("a heartbeat after the restart", lambda: (n := node()) is not None and n["last_seen"] >= restarted, 30)
    out, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err.decode()[-2000:]
    run = json.loads(out)
    assert run["tasks"] == {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}
    stored = httpx.get(f"{serve.url}/v1/flows/{run['run']}", headers=reader, timeout=5).json()
    assert {k: v["state"] for k, v in stored["tasks"].items()} == run["tasks"]


@pytest.mark.slow
def test_service_and_runner_sigkilled_then_flow_resumes(tmp_path: Path, killable: Any) -> None:
    serve, tok, procs = killable
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RTFIT_")}, "RTFIT_TOKEN": tok["admin"]}
    cmd = _flow_cmd(tmp_path, serve)
    runner = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    procs.append(runner)
    trace = tmp_path / "trace"
    _wait("task second to run", lambda: trace.exists() and "second" in trace.read_text(), 60)
    os.killpg(runner.pid, signal.SIGKILL)  # the runner and its task die...
    serve.kill()  # ...and so does the service (a node reboot)
    runner.wait()
    serve.start()
    (tmp_path / "go").write_text("")
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    out = json.loads(again.stdout)
    assert out["tasks"] == {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"}
    assert trace.read_text().split() == ["first", "second", "second", "third"]  # resumed: first not rerun


# -- a catalog upload that fails validation or is cut off midway ------------------------------------
def test_catalog_update_rejected_or_cut_off_keeps_the_old_revision(tmp_path: Path, killable: Any) -> None:
    serve, tok, _ = killable
    admin = {"Authorization": f"Bearer {tok['admin']}"}
    before = httpx.get(f"{serve.url}/v1/catalog", headers=admin, timeout=5).json()
    from catalog import load_catalog

    docs = json.loads(json.dumps(load_catalog().to_documents(), default=str))
    # 1. fails validation: a record with a bad field
    broken = json.loads(json.dumps(docs))
    first_file = next(iter(broken))
    broken[first_file] = {"bogus-top-level": [1, 2, 3]}
    r = httpx.put(f"{serve.url}/v1/catalog", json={"files": broken}, headers=admin, timeout=60)
    assert r.status_code == 422 and r.json()["problems"], r.text[:500]
    # 2. cut off: Content-Length announced, half the body sent, connection dropped
    body = json.dumps({"files": docs}).encode()
    with socket.create_connection(("127.0.0.1", serve.port)) as s:
        s.sendall(f"PUT /v1/catalog HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok['admin']}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
    # 3. truncated body that does arrive complete (JSON cut in the middle)
    r = httpx.put(f"{serve.url}/v1/catalog", content=body[: len(body) // 2], timeout=30,
                  headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text[:300]
    time.sleep(0.5)
    after = httpx.get(f"{serve.url}/v1/catalog", headers=admin, timeout=5).json()
    assert after["revision"] == before["revision"] and after["activated_at"] == before["activated_at"]
    assert httpx.get(f"{serve.url}/readyz", timeout=5).status_code == 200


# -- a pathological solver request: bounded time, and the service stays responsive ------------------
@pytest.mark.slow
def test_pathological_batch_is_bounded_and_service_stays_responsive(tmp_path: Path, killable: Any) -> None:
    serve, tok, _ = killable
    admin = {"Authorization": f"Bearer {tok['admin']}"}
    # 400 nodes of mixed GPUs, then the largest batch allowed (200 models) of competing requests.
    for i in range(400):
        entry = load_test.node_entry(i)
        entry["name"] = f"patho-{i:04d}"
        r = httpx.put(f"{serve.url}/v1/nodes/{entry['name']}/heartbeat", json={"node": entry}, headers=admin, timeout=30)
        assert r.status_code == 200, r.text
    models = [{"framework": ("pytorch", "onnxruntime", "tensorflow")[i % 3], "precision": ("fp16", "bf16", "fp32")[i % 3],
               "min_gpu_memory_gib": 8 + i % 40, "gpu_count": 1 + i % 4} for i in range(200)]
    result: dict[str, Any] = {}

    def call() -> None:
        t0 = time.monotonic()
        r = httpx.post(f"{serve.url}/v1/select/batch", json={"models": models}, headers=admin, timeout=300)
        result.update(status=r.status_code, seconds=time.monotonic() - t0, body=r.json())

    worker = threading.Thread(target=call)
    worker.start()
    health: list[float] = []
    while worker.is_alive():
        t0 = time.monotonic()
        assert httpx.get(f"{serve.url}/healthz", timeout=5).status_code == 200
        health.append(time.monotonic() - t0)
        time.sleep(0.2)
    worker.join()
    assert result["status"] == 200, result
    assert result["seconds"] < 60, f"batch took {result['seconds']:.1f} s"
    assert len(result["body"]["placements"]) == 200
    assert health and max(health) < 1.0, f"/healthz slowest {max(health):.2f} s while the solver ran"
