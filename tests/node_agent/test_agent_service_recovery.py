"""Integration: the agent heartbeats a real `rtfit serve` over loopback HTTP, the service is
stopped for a while and restarted on the same port and database, and the agent recovers by itself.

Both sides are real processes started from the installed `rtfit` command: the service with a
SQLite database in tmp_path and a tokens file (Contract 4), the agent with a fake GPU profile,
a short interval and a short retry cap.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RTFIT = Path(sys.executable).with_name("rtfit")
NODE = "it-node-01"

pytestmark = [
    pytest.mark.skipif(
        not (REPO / "metadata_service" / "cli.py").exists(),
        reason="metadata_service has no CLI (rtfit serve) yet",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(what: str, check: Callable[[], Any], timeout: float, logs: list[Path]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


class Service:
    def __init__(self, tmp: Path, port: int, tokens: Path) -> None:
        self.tmp, self.port, self.tokens = tmp, port, tokens
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = tmp / "service.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "RTFIT_DATA_DIR": str(self.tmp / "data"),
            "RTFIT_TOKENS_FILE": str(self.tokens),
            "RTFIT_LOG_LEVEL": "warning",
        }
        env.pop("RTFIT_DATABASE_URL", None)
        with self.log.open("ab") as log:
            log.write(f"=== start {self.starts}\n".encode())
            self.proc = subprocess.Popen(
                [str(RTFIT), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _wait_for("the service to answer /healthz", self._healthy, 60, [self.log])

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"service exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
            )
        return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tokens(tmp_path: Path) -> dict[str, str]:
    agent, reader = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    entries = [
        {
            "name": f"agent-{NODE}",
            "role": "agent",
            "node": NODE,
            "sha256": hashlib.sha256(agent.encode()).hexdigest(),
        },
        {"name": "it-reader", "role": "reader", "sha256": hashlib.sha256(reader.encode()).hexdigest()},
    ]
    (tmp_path / "tokens.yaml").write_text(yaml.safe_dump({"tokens": entries}))
    (tmp_path / "agent-token").write_text(agent + "\n")
    return {"agent": agent, "reader": reader}


@pytest.fixture
def service(tmp_path: Path, tokens: dict[str, str]) -> Iterator[Service]:
    svc = Service(tmp_path, _free_port(), tmp_path / "tokens.yaml")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def test_agent_recovers_after_the_service_restarts(
    tmp_path: Path, service: Service, tokens: dict[str, str]
) -> None:
    agent_log = tmp_path / "agent.log"
    logs = [service.log, agent_log]
    reader = {"Authorization": f"Bearer {tokens['reader']}"}

    def node() -> dict[str, Any] | None:
        r = httpx.get(f"{service.url}/v1/nodes/{NODE}", headers=reader, timeout=2)
        return r.json() if r.status_code == 200 else None

    with agent_log.open("wb") as log:
        agent = subprocess.Popen(
            [
                str(RTFIT),
                "agent",
                "--server",
                service.url,
                "--token-file",
                str(tmp_path / "agent-token"),
                "--name",
                NODE,
                "--cluster",
                "it",
                "--fake",
                "l4x2",
                "--interval",
                "300ms",
                "--max-backoff",
                "1s",
                "--log-level",
                "info",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith("RTFIT_")},
        )
    try:
        first = _wait_for("the node to be registered", node, 30, logs)
        assert first["gpus"][0]["product"] == "NVIDIA L4"
        assert sum(g["count"] for g in first["gpus"]) == 2 and sum(g["free"] for g in first["gpus"]) == 1
        assert first["cluster"] == "it" and first["driver_version"] == "535.104.05"
        # liveness pings keep it current
        beats = _wait_for("liveness heartbeats", lambda: (n := node()) and n["beats"] >= 3 and n, 30, logs)
        assert beats["stale"] is False

        service.stop()
        time.sleep(2.0)  # the agent keeps trying and backing off meanwhile
        assert agent.poll() is None, f"the agent died while the service was down:\n{agent_log.read_text()}"
        restarted_at = time.time()
        service.start()

        again = _wait_for(
            "a heartbeat after the restart",
            lambda: (n := node()) and n["last_seen"] is not None and n["last_seen"] >= restarted_at and n,
            30,
            logs,
        )
        assert again["stale"] is False
        assert time.time() - again["last_seen"] < 5
        assert (
            again["inventory_hash"] == first["inventory_hash"]
        )  # same DB: liveness resumed, no re-upload needed
        assert agent.poll() is None
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            rc = agent.wait(timeout=10)
        except subprocess.TimeoutExpired:
            agent.kill()
            rc = agent.wait()
    text = agent_log.read_text()
    assert rc == 0, text
    assert "heartbeat failed" in text and "heartbeats delivered again" in text
    assert "Traceback" not in text
