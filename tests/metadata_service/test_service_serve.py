"""The real `rtfit serve` process on a loopback port, and the client commands against it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service_protocol import ServiceClient, ServiceRefused, ServiceUnreachable, fetch_inventory

from .conftest import node_entry

RTFIT = Path(sys.executable).with_name("rtfit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rtfit(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RTFIT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "RTFIT_DATA_DIR": str(work / "data"), "RTFIT_TOKENS_FILE": str(work / "tokens.yaml")}
    env.pop("RTFIT_DATABASE_URL", None)
    tokens = {}
    for role, node in (("admin", None), ("reader", None), ("agent", "node-a")):
        args = ["token", "new", "--role", role] + (["--node", node] if node else [])
        done = _rtfit(*args, env=env, cwd=work)
        assert done.returncode == 0, done.stderr
        tokens[role] = done.stdout.strip()
        (work / f"{role}.token").write_text(tokens[role] + "\n")
    port = _free_port()
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([str(RTFIT), "serve", "--port", str(port)], env=env, cwd=work, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    else:
        proc.kill()
    try:
        yield {"url": url, "tokens": tokens, "work": work, "env": env, "proc": proc}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_serve_answers_healthz_and_readyz(served: dict[str, Any]) -> None:
    assert served["proc"].poll() is None, (served["work"] / "serve.log").read_text()[-2000:]
    assert httpx.get(f"{served['url']}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{served['url']}/readyz").json()
    assert ready["database"] == "sqlite"
    assert (served["work"] / "data" / "rtfit.db").exists()


def test_token_file_holds_digests_only(served: dict[str, Any]) -> None:
    text = (served["work"] / "tokens.yaml").read_text()
    for token in served["tokens"].values():
        assert token not in text


def test_client_functions(served: dict[str, Any]) -> None:
    url, tokens = served["url"], served["tokens"]
    with ServiceClient(url, tokens["agent"]) as agent:
        agent.request("PUT", "/v1/nodes/node-a/heartbeat", json={"node": node_entry()})
    with ServiceClient(url, tokens["reader"]) as reader:
        answer = reader.select({"model": {"framework": "pytorch"}})
        assert answer["feasible"] is True and answer["choice"]["node"] == "node-a"
        with pytest.raises(ServiceRefused) as info:
            reader.select({"model": {"framework": "pytorhc"}})
        assert info.value.status == 422 and info.value.problem.field == "model.framework"
        assert "pytorhc" in info.value.detail
    assert fetch_inventory(url, tokens["reader"])["nodes"][0]["name"] == "node-a"
    with pytest.raises(ServiceRefused) as info, ServiceClient(url, "wrong") as stranger:
        stranger.select({"model": {"framework": "pytorch"}})
    assert info.value.status == 401
    with pytest.raises(ServiceUnreachable) as info, ServiceClient(f"http://127.0.0.1:{_free_port()}") as nobody:
        nobody.select({"model": {}})
    assert info.value.status is None and "cannot reach" in info.value.detail


def test_nodes_and_models_commands(served: dict[str, Any]) -> None:
    url, work, env = served["url"], served["work"], served["env"]
    with ServiceClient(url, served["tokens"]["agent"]) as agent:
        agent.request("PUT", "/v1/nodes/node-a/heartbeat", json={"node": node_entry()})
    reader = ["--server", url, "--token-file", str(work / "reader.token")]
    admin = ["--server", url, "--token-file", str(work / "admin.token")]
    done = _rtfit("nodes", *reader, env=env, cwd=work)
    assert done.returncode == 0, done.stderr
    assert "node-a" in done.stdout and "NVIDIA L4" in done.stdout and "live" in done.stdout
    done = _rtfit("nodes", "show", "node-a", *reader, env=env, cwd=work)
    assert done.returncode == 0 and '"driver_version": "550.54.15"' in done.stdout
    done = _rtfit("nodes", "show", "nope", *reader, env=env, cwd=work)
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    model = work / "m.yaml"
    model.write_text("framework: pytorch\nframework_version: '>=2.3'\n")
    done = _rtfit("models", "list", *reader, env=env, cwd=work)   # empty: says so (on stderr), not nothing
    assert done.returncode == 0 and done.stdout == "" and "no models registered" in done.stderr
    done = _rtfit("models", "add", "det", str(model), *admin, env=env, cwd=work)
    assert done.returncode == 0, done.stderr
    done = _rtfit("models", "list", *reader, env=env, cwd=work)
    assert "det" in done.stdout and "pytorch" in done.stdout
    done = _rtfit("models", "add", "det2", str(model), *reader, env=env, cwd=work)
    assert done.returncode == 2 and "403" in done.stderr
    done = _rtfit("models", "delete", "det", *admin, env=env, cwd=work)
    assert done.returncode == 0


def test_token_new_rejects_bad_input(tmp_path: Path) -> None:
    env = dict(os.environ)
    done = _rtfit("token", "new", "--role", "root", "--file", str(tmp_path / "t.yaml"), env=env, cwd=tmp_path)
    assert done.returncode == 2 and "role" in done.stderr and "Traceback" not in done.stderr
    done = _rtfit("token", "new", "--role", "agent", "--file", str(tmp_path / "t.yaml"), env=env, cwd=tmp_path)
    assert done.returncode == 2 and "--node" in done.stderr
