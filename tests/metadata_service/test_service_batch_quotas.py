"""Batch quotas through the real `rtfit serve` process, on SQLite and on PostgreSQL.

`POST /v1/select/batch` takes `quotas` (per cluster, the most GPUs the batch may use there); the
answer is the solver's own with the same quotas, whatever database holds the inventory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import catalog
import solver
from service_protocol import ServiceClient

from .conftest import node_entry
from .test_service_serve import _free_port, _rtfit

RTFIT = Path(sys.executable).with_name("rtfit")
PYTORCH2 = {"framework": "pytorch", "framework_version": ">=2.3", "gpu_count": 2}


def test_batch_quotas_through_the_real_service(db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "RTFIT_DATA_DIR": str(tmp_path / "data"), "RTFIT_TOKENS_FILE": str(tmp_path / "tokens.yaml"),
           "RTFIT_DATABASE_URL": db_url}
    tokens = {}
    for role in ("admin", "reader"):
        done = _rtfit("token", "new", "--role", role, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        tokens[role] = done.stdout.strip()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([str(RTFIT), "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log,
                                stderr=log)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            nodes = {"node-a": "gold", "node-b": "gold", "node-c": "std"}
            for name, cluster in nodes.items():
                r = httpx.put(f"{url}/v1/nodes/{name}/heartbeat", json={"node": node_entry(name, cluster=cluster)},
                              headers={"Authorization": f"Bearer {tokens['admin']}"}, timeout=30)
                assert r.status_code == 200, r.text
            client = ServiceClient(url, tokens["reader"])
            body = {"models": [PYTORCH2] * 3, "quotas": {"gold": 2}}
            answer = client.select_batch(body)
            inv = {"nodes": [node_entry(n, cluster=c) for n, c in nodes.items()]}
            assert answer == solver.select_batch(catalog.load_catalog(), [PYTORCH2] * 3, inv,
                                                 quotas={"gold": 2}).to_dict()
            placed = [nodes[p["choice"]["node"]] for p in answer["placements"] if p["feasible"]]
            assert sorted(placed) == ["gold", "std"]
            assert client.select_batch({"models": [PYTORCH2] * 3})["feasible"] is True
            bad = httpx.post(f"{url}/v1/select/batch", json={"models": [PYTORCH2], "quotas": {"gold": -2}},
                             headers={"Authorization": f"Bearer {tokens['reader']}"}, timeout=30)
            assert bad.status_code == 422 and bad.json()["field"] == "quotas.gold", bad.text
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
