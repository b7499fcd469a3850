"""The console's browser-test harness: a real service on loopback, seeded, and headless Chromium.

The service is the real app (`create_app`) on SQLite in a temp dir, with a tokens file, served by
uvicorn in a thread on a free 127.0.0.1 port. It is seeded through its own HTTP API: nodes
heartbeated in (one left stale by setting the injected clock back), a second catalog revision uploaded
(so there is a diff to show), a registered model, and a flow run in every task state. Chromium is
Debian's (`/usr/bin/chromium`) driven by Playwright; it is never downloaded. Without it the tests
skip, unless `CI` is set: then a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("RTFIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
TOKENS = {"admin": "ui-test-admin-token", "reader": "ui-test-reader-token", "agent": "ui-test-agent-token"}
TTL_S = 600.0


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_chromium() -> str:
    """The Chromium path; skip (or, under CI, fail) with the reason when it is missing."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
        if _ci():
            pytest.fail(f"CI is set and {reason}")
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if _ci():
            pytest.fail("CI is set and the playwright package is missing (pip install -e '.[dev]')")
        pytest.skip("the playwright package is missing (pip install -e '.[dev]')")
    return CHROMIUM


class MovableClock:
    """time.time() plus an offset (set back for one heartbeat to make a node stale without sleeping)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


# -- seed data (Contract 2 nodes, Contract 5 flow) -------------------------------------------------

NODES: list[dict[str, Any]] = [
    {"name": "dc-a100-01", "cluster": "dc-frankfurt", "arch": "x86_64", "driver_version": "550.54.15",
     "gpus": [{"product": "NVIDIA A100-SXM4-80GB", "count": 8, "free": 6}],
     "cached_components": ["cuda/12.4.1", "python/3.11.9"], "labels": {"zone": "a"}},
    {"name": "dc-h100-01", "cluster": "dc-frankfurt", "arch": "x86_64", "driver_version": "570.124.06",
     "gpus": [{"product": "NVIDIA H100 80GB HBM3", "count": 4, "free": 4}], "cached_components": []},
    {"name": "edge-01", "cluster": "edge-seoul", "arch": "x86_64", "driver_version": "535.104.05",
     "gpus": [{"product": "NVIDIA L4", "count": 2, "free": 1}], "cached_components": ["cuda/12.2.2"]},
    {"name": "cpu-01", "cluster": "edge-seoul", "arch": "aarch64", "driver_version": None, "gpus": []},
]
STALE_NODE: dict[str, Any] = {
    "name": "edge-02", "cluster": "edge-seoul", "arch": "x86_64", "driver_version": "525.147.05",
    "gpus": [{"product": "Tesla T4", "count": 1, "free": 1}],
}

FLOW_SPEC: dict[str, Any] = {
    "name": "detector-pipeline",
    "tasks": [
        {"name": "train", "model": {"framework": "pytorch", "framework_version": ">=2.1"}, "command": ["python", "train.py"]},
        {"name": "validate", "depends": "train", "command": ["python", "validate.py"]},
        {"name": "export", "depends": "train", "model": {"framework": "pytorch"}, "command": ["python", "export.py"]},
        {"name": "quantize", "depends": "export", "model": {"framework": "onnxruntime"}, "command": ["python", "q.py"]},
        {"name": "notify-failure", "depends": "train.Failed || export.Failed", "command": ["sh", "-c", "echo failed"]},
        {"name": "publish", "depends": ["validate", "quantize"], "command": ["sh", "-c", "echo publish"]},
    ],
}
TASK_STATES = {
    "train": "Succeeded", "validate": "Succeeded", "export": "Failed",
    "quantize": "Skipped", "notify-failure": "Running", "publish": "Pending",
}
RUN_ID = "run-ui-0001"


def _flow_tasks(now: float) -> dict[str, dict[str, Any]]:
    runtime = {"cuda": "12.4.1", "cudnn": "9.1.0", "python": "3.11.9", "pytorch": "2.4.1+cu124"}
    return {
        "train": {"state": "Succeeded", "node": "dc-a100-01", "runtime": runtime, "exit_code": 0,
                  "started_at": now - 900, "finished_at": now - 300,
                  "log": "epoch 1/3 loss=0.91\nepoch 2/3 loss=0.55\nepoch 3/3 loss=0.41\nsaved model.pt\n"},
        "validate": {"state": "Succeeded", "node": "dc-a100-01", "runtime": runtime, "exit_code": 0,
                     "started_at": now - 290, "finished_at": now - 250, "log": "mAP=0.734\n"},
        "export": {"state": "Failed", "node": "edge-01", "runtime": runtime, "exit_code": 1,
                   "message": "exit status 1", "started_at": now - 290, "finished_at": now - 280,
                   "log": "Traceback (most recent call last):\nRuntimeError: unsupported operator aten::foo\n"},
        "quantize": {"state": "Skipped", "message": "depends 'export' was not met"},
        "notify-failure": {"state": "Running", "node": "cpu-01", "started_at": now - 20, "log": "sending...\n"},
        "publish": {"state": "Pending"},
    }


@dataclass
class LiveService:
    url: str
    tokens: dict[str, str]
    clock: MovableClock
    run_id: str = RUN_ID
    notes: dict[str, Any] = field(default_factory=dict)

    def client(self, role: str = "reader") -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.tokens[role]}"}, timeout=60)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def seed(service: LiveService) -> None:
    import catalog

    with service.client("admin") as admin:
        def ok(resp: httpx.Response) -> Any:
            assert resp.status_code < 300, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
            return resp.json() if resp.content else None

        # edge-02 last reported TTL + 2 min ago (the service's clock is set back for that one beat).
        service.clock.offset = -(TTL_S + 120)
        ok(admin.put(f"/v1/nodes/{STALE_NODE['name']}/heartbeat", json={"node": STALE_NODE}))
        service.clock.offset = 0.0
        for node in NODES:
            entry = {k: v for k, v in node.items() if v is not None}
            ok(admin.put(f"/v1/nodes/{node['name']}/heartbeat", json={"node": entry}))

        # A second catalog revision (one GPU record changed), then the original made active again.
        documents = json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))
        original = json.loads(json.dumps(documents))
        for gpu in documents["gpus.yaml"]["gpus"]:
            if gpu["name"] == "NVIDIA L4":
                gpu["memory_mib"] = int(gpu["memory_mib"]) + 1
                gpu["note"] = "changed by the console test"
        service.notes["changed_revision"] = ok(admin.put("/v1/catalog", json={"files": documents}))["revision"]
        service.notes["active_revision"] = ok(admin.put("/v1/catalog", json={"files": original}))["revision"]

        ok(admin.post("/v1/models", json={"name": "detector-v3", "request": {
            "framework": "pytorch", "framework_version": ">=2.3", "precision": "bf16", "gpu_count": 1}}))
        now = service.clock()
        ok(admin.post("/v1/flows", json={"id": RUN_ID, "flow": FLOW_SPEC["name"], "backend": "local",
                                        "spec": FLOW_SPEC, "tasks": _flow_tasks(now)}))


class ConsolePage:
    """A browser tab on the console that records console errors and failed requests."""

    def __init__(self, page: Any, service: LiveService) -> None:
        self.page = page
        self.service = service
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"requestfailed: {r.url} {r.failure}"))

    def sign_in(self, role: str = "reader") -> None:
        self.page.goto(f"{self.service.url}/ui/")
        self.page.fill("#token", self.service.tokens[role])
        self.page.click("#token-save")
        self.page.wait_for_selector(f"#who[data-role='{role}']")
        self.page.wait_for_selector("#page[data-ready='true']")

    def open(self, fragment: str) -> None:
        """Go to `#/<fragment>` and wait until the page says it has rendered."""
        self.page.evaluate(
            """h => {
                document.getElementById('page').dataset.ready = 'false';
                if (location.hash === h) window.dispatchEvent(new HashChangeEvent('hashchange'));
                else location.hash = h;
            }""",
            f"#/{fragment}",
        )
        self.page.wait_for_selector("#page[data-ready='true']")


