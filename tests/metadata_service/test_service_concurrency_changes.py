"""Selections from several threads, and from both workers of `rtfit serve --workers 2`, while the
catalog is swapped AND the inventory changes: every answer equals the single-threaded solver's
answer for the revisions it was computed against, no 5xx, and worker memory stays bounded.

Every selection writes an audit row naming its catalog and inventory revisions and its answer
(by hash). One changer thread makes every write (catalog uploads cycling through three revisions,
heartbeats changing nodes) and, after each, reads the inventory revision and records the entries
at that revision; so each audit row can be checked against `solver.select` on exactly the catalog
and the nodes of its revisions, and the answers the clients received against the audit rows.

`RTFIT_SOAK_S` sets how long the two-worker run selects (default 20 s); its worker RSS after the
warm-up, half-way and at the end is printed (`-s`) and, with `RTFIT_SOAK_REPORT=<file>`, written as
JSON; the growth over the second half is bounded.
"""

from __future__ import annotations

import copy
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

import catalog
import solver
from metadata_service.storage.revisions import read_revisions
from metadata_service.storage.selections import answer_digest, audit_answer
from metadata_service.tables import SelectionAudit

from .conftest import Tokens, node_entry
from .test_service_concurrency import _documents

MODELS: list[dict[str, Any]] = [
    {"framework": "pytorch", "framework_version": ">=2.3"}, {"framework": "pytorch", "precision": "bf16"},
    {"framework": "onnxruntime"}, {"framework": "tensorflow"}, {"framework": "pytorch", "gpu_count": 4},
    {"framework": "pytorch", "min_gpu_memory_gib": 40},
]
GPUS = [("NVIDIA L4", 23034, "8.9"), ("NVIDIA H100 80GB HBM3", 81559, "9.0"), ("Tesla T4", 15360, "7.5")]
RTFIT = Path(sys.executable).with_name("rtfit")


def _entry(rng: random.Random, i: int) -> dict[str, Any]:
    product, mem, cc = rng.choice(GPUS)
    count = rng.choice([1, 2, 4])
    return node_entry(f"n{i:02d}", cluster=f"c{i % 3}", gpus=[
        {"product": product, "memory_mib": mem, "compute_capability": cc, "count": count, "free": count}])


class Run:
    """The changer's record (revision -> catalog / entries) and the checks against the audit."""

    def __init__(self) -> None:
        self.catalogs: dict[str, tuple[dict[str, Any], catalog.Catalog]] = {}
        for note in (None, "swap a", "swap b"):
            docs = _documents(note)
            cat = catalog.load_catalog_from_documents(copy.deepcopy(docs))
            self.catalogs[cat.revision] = (docs, cat)
        self.inventories: dict[int, list[dict[str, Any]]] = {}
        self.received: list[str] = []     # answer hashes the clients got
        self.statuses: dict[int, int] = {}
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def selector(self, post: Callable[[dict[str, Any]], tuple[int, Any]], seed: int, stop: threading.Event) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                body: dict[str, Any] = {"model": rng.choice(MODELS), "top": rng.choice([1, 3])}
                if rng.random() < 0.5:
                    body["where"] = {"cluster": rng.choice(["c0", "c1", "c2"])}
                status, answer = post(body)
                with self.lock:
                    self.statuses[status] = self.statuses.get(status, 0) + 1
                    if status == 200:
                        self.received.append(answer_digest(answer))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)

    def check(self, session: Session) -> int:
        """Every audit row's answer is the solver's for its revisions; the clients got exactly those."""
        rows = list(session.execute(select(SelectionAudit)).scalars())
        want: dict[tuple[str, int, str], str] = {}
        indexes: dict[str, Any] = {}
        fleets: dict[tuple[str, int, str | None], Any] = {}
        for row in rows:
            request = row.request
            key = (row.catalog_revision, row.inventory_revision, json.dumps(request, sort_keys=True))
            if key not in want:   # one thread, indexes built here per revision (answers.py: same answers)
                cat = self.catalogs[row.catalog_revision][1]
                cluster = (request.get("where") or {}).get("cluster")
                fleet_key = (row.catalog_revision, row.inventory_revision, cluster)
                if fleet_key not in fleets:
                    entries = [e for e in self.inventories[row.inventory_revision]
                               if cluster is None or e["cluster"] == cluster]
                    index = indexes.setdefault(row.catalog_revision, solver.CatalogIndex(cat))
                    fleets[fleet_key] = solver.FleetIndex(index, solver.parse_inventory({"nodes": entries}))
                fleet = fleets[fleet_key]
                answer = solver.select(cat, solver.parse_request(request["model"]), fleet.inventory,
                                       top=request["top"], index=fleet).to_dict()
                want[key] = json.dumps(answer, sort_keys=True)
            got = json.dumps(audit_answer(session, row), sort_keys=True)
            assert got == want[key], (row.catalog_revision[:12], row.inventory_revision, request)
        assert sorted(self.received) == sorted(r.answer_hash for r in rows)
        return len(rows)


def _change(run: Run, put: Callable[[str, dict[str, Any]], int], revision: Callable[[], int],
            stop: threading.Event, *, entries: list[dict[str, Any]], pause: float) -> tuple[int, int]:
    """Swap catalogs and change nodes until `stop`; returns (catalog swaps, inventory changes)."""
    rng = random.Random(11)
    docs = [d for d, _c in run.catalogs.values()]
    swaps = changes = 0
    k = 0
    while not stop.is_set():
        k += 1
        if k % 3 == 0:
            assert put("/v1/catalog", {"files": docs[swaps % len(docs)]}) == 200
            swaps += 1
        else:
            i = rng.randrange(len(entries))
            entries[i] = _entry(rng, i)
            assert put(f"/v1/nodes/{entries[i]['name']}/heartbeat", {"node": entries[i]}) == 200
            changes += 1
            run.inventories[revision()] = copy.deepcopy(entries)
        time.sleep(pause)
    return swaps, changes


def test_threads_select_while_the_catalog_and_the_inventory_change(client: TestClient, tokens: Tokens) -> None:
    run = Run()
    rng = random.Random(3)
    entries = [_entry(rng, i) for i in range(24)]
    db = client.app.state.rtfit.db

    def revision() -> int:
        with db.read_session() as session:
            return read_revisions(session, stale_before=0).inventory

    def put(path: str, body: dict[str, Any]) -> int:
        return client.put(path, json=body, headers=tokens.h("admin")).status_code

    for e in entries:
        assert put(f"/v1/nodes/{e['name']}/heartbeat", {"node": e}) == 200
    run.inventories[revision()] = copy.deepcopy(entries)

    def post(body: dict[str, Any]) -> tuple[int, Any]:
        r = client.post("/v1/select", json=body, headers=tokens.h("reader"))
        return r.status_code, r.json() if r.status_code == 200 else r.text

    stop = threading.Event()
    threads = [threading.Thread(target=run.selector, args=(post, s, stop)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 8
        changer_stop = threading.Event()
        result: list[tuple[int, int]] = []
        changer = threading.Thread(target=lambda: result.append(
            _change(run, put, revision, changer_stop, entries=entries, pause=0.05)))
        changer.start()
        while time.monotonic() < deadline and changer.is_alive():
            time.sleep(0.1)
        changer_stop.set()
        changer.join()
        swaps, changes = result[0] if result else (0, 0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not run.errors, run.errors
    assert set(run.statuses) == {200}, run.statuses
    assert swaps >= 2 and changes >= 4
    assert client.app.state.rtfit.selection.flush_audits()
    with db.read_session() as session:
        assert run.check(session) > 0


# -- both workers of a real `rtfit serve --workers 2` -------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _workers(parent: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"resource_tracker" in f.read():   # multiprocessing's helper, not a worker
                        continue
                out.append(int(entry))
    return sorted(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_both_workers_select_while_the_catalog_and_the_inventory_change(db_url: str, tokens: Tokens,
                                                                       tmp_path: Path) -> None:
    soak_s = float(os.environ.get("RTFIT_SOAK_S", "20"))
    run = Run()
    rng = random.Random(5)
    entries = [_entry(rng, i) for i in range(24)]
    env = {**os.environ, "RTFIT_DATABASE_URL": db_url, "RTFIT_DATA_DIR": str(tmp_path / "data"),
           "RTFIT_TOKENS_FILE": str(tokens.path), "RTFIT_NODE_TTL_S": "3600", "RTFIT_LOG_LEVEL": "warning"}
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(RTFIT), "serve", "--port", str(port), "--workers", "2"], env=env, cwd=tmp_path,
                            stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    engine = create_engine(db_url)
    report: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.3)
        admin = httpx.Client(base_url=url, headers=tokens.h("admin"), timeout=60)

        def revision() -> int:
            with Session(engine) as session:
                return read_revisions(session, stale_before=0).inventory

        def put(path: str, body: dict[str, Any]) -> int:
            return admin.put(path, json=body).status_code

        for e in entries:
            assert put(f"/v1/nodes/{e['name']}/heartbeat", {"node": e}) == 200
        run.inventories[revision()] = copy.deepcopy(entries)
        local = threading.local()

        def post(body: dict[str, Any]) -> tuple[int, Any]:
            if not hasattr(local, "client"):   # one keep-alive connection per thread: both workers get some
                local.client = httpx.Client(base_url=url, headers=tokens.h("reader"), timeout=120)
            r = local.client.post("/v1/select", json=body)
            return r.status_code, r.json() if r.status_code == 200 else r.text

        for docs, _cat in list(run.catalogs.values()) * 2:   # warm-up: every catalog revision, each framework
            assert put("/v1/catalog", {"files": docs}) == 200
            for _ in range(4):
                for m in MODELS:
                    status, answer = post({"model": m, "top": 1})
                    assert status == 200
                    run.received.append(answer_digest(answer))
        workers = _workers(proc.pid)
        assert len(workers) == 2, workers
        report["rss_after_warmup_mib"] = {pid: round(_rss_mib(pid), 1) for pid in workers}
        stop, changer_stop = threading.Event(), threading.Event()
        threads = [threading.Thread(target=run.selector, args=(post, s, stop)) for s in range(6)]
        for t in threads:
            t.start()
        result: list[tuple[int, int]] = []
        changer = threading.Thread(target=lambda: result.append(
            _change(run, put, revision, changer_stop, entries=entries, pause=0.3)))
        changer.start()
        started = time.monotonic()
        while time.monotonic() - started < soak_s and changer.is_alive():
            time.sleep(0.2)
            if "rss_mid_mib" not in report and time.monotonic() - started >= soak_s / 2:
                # by now both workers have served every catalog revision (the warm-up above may have
                # reached only one of them: a keep-alive connection stays with one worker)
                report["rss_mid_mib"] = {pid: round(_rss_mib(pid), 1) for pid in workers}
        changer_stop.set()
        changer.join()
        stop.set()
        for t in threads:
            t.join()
        report["rss_at_end_mib"] = {pid: round(_rss_mib(pid), 1) for pid in workers}
        report["seconds"] = soak_s
        report["selections"] = sum(run.statuses.values())
        report["catalog_swaps"], report["inventory_changes"] = result[0] if result else (0, 0)
        assert not run.errors, run.errors
        assert set(run.statuses) == {200}, run.statuses
        assert report["catalog_swaps"] >= 2 and report["inventory_changes"] >= 4, report
    finally:
        proc.send_signal(signal.SIGINT)      # the workers write their queued audit rows, then exit
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    with Session(engine) as session:
        report["audited"] = run.check(session)
    engine.dispose()
    print(f"\nworkers under change ({db_url.split(':')[0]}): {json.dumps(report)}")
    if os.environ.get("RTFIT_SOAK_REPORT"):
        Path(os.environ["RTFIT_SOAK_REPORT"]).write_text(json.dumps(report, indent=2))
    growth = max(report["rss_at_end_mib"][pid] - report["rss_mid_mib"][pid] for pid in workers)
    assert growth < 80, report   # the second half: before the per-revision indexes, ~15 MiB per catalog revision
