"""Selections from several threads while the catalog is swapped: every answer equals the solver's
single-threaded answer for the same catalog revision, nothing fails, and old revisions are freed."""

from __future__ import annotations

import copy
import gc
import json
import random
import threading
import time
from typing import Any

from fastapi.testclient import TestClient

import catalog
import solver
from catalog import Catalog

from .conftest import Tokens, node_entry

MODELS: list[dict[str, Any]] = [
    {"framework": "pytorch", "framework_version": ">=2.3"}, {"framework": "pytorch", "precision": "bf16"},
    {"framework": "onnxruntime"}, {"framework": "tensorflow"}, {"framework": "pytorch", "gpu_count": 16},
    {"framework": "pytorch", "min_gpu_memory_gib": 40},
]
GPUS = [("NVIDIA L4", 23034, "8.9"), ("NVIDIA H100 80GB HBM3", 81559, "9.0"), ("Tesla T4", 15360, "7.5")]


def _documents(note: str | None) -> dict[str, Any]:
    docs = json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))
    if note is not None:
        records = next(r for d in docs.values() for s, r in d.items() if isinstance(r, list) and r and s != "sources")
        records[0]["note"] = note      # same facts, another revision
    return docs


def _live_catalogs() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Catalog))


def test_threads_and_catalog_swaps_answer_like_the_solver(client: TestClient, tokens: Tokens) -> None:
    rng = random.Random(3)
    entries = []
    for i in range(24):
        product, mem, cc = rng.choice(GPUS)
        count = rng.choice([1, 2, 4])
        entries.append(node_entry(f"n{i:02d}", cluster=f"c{i % 3}", gpus=[
            {"product": product, "memory_mib": mem, "compute_capability": cc, "count": count, "free": count}]))
    for e in entries:
        r = client.put(f"/v1/nodes/{e['name']}/heartbeat", json={"node": e}, headers=tokens.h("admin"))
        assert r.status_code == 200, r.text
    revisions = {}
    for note in (None, "swap a", "swap b"):
        docs = _documents(note)
        cat = catalog.load_catalog_from_documents(copy.deepcopy(docs))
        revisions[cat.revision] = (docs, cat)
    inventory = solver.parse_inventory({"nodes": entries})
    want = {(rev, i, where): json.dumps(solver.select(cat, m, inventory if where is None else solver.parse_inventory(
        {"nodes": [e for e in entries if e["cluster"] == where]})).to_dict(), sort_keys=True)
        for rev, (_d, cat) in revisions.items() for i, m in enumerate(MODELS) for where in (None, "c1")}
    got: list[tuple[str, int, str | None, int, str]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def selector(seed: int) -> None:
        r = random.Random(seed)
        try:
            while not stop.is_set():
                i = r.randrange(len(MODELS))
                where = r.choice([None, "c1"])
                body: dict[str, Any] = {"model": MODELS[i]}
                if where is not None:
                    body["where"] = {"cluster": where}
                resp = client.post("/v1/select", json=body, headers=tokens.h("reader"))
                answer = resp.json()
                got.append((answer.get("catalog_revision", ""), i, where, resp.status_code,
                            json.dumps(answer, sort_keys=True)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=selector, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    try:
        for k in range(9):     # swap the active catalog while they select
            docs = list(revisions.values())[k % 3][0]
            r = client.put("/v1/catalog", json={"files": docs}, headers=tokens.h("admin"))
            assert r.status_code == 200, r.text
            active = r.json()["revision"]
            deadline = time.monotonic() + 30   # a loaded machine: let the selectors answer on this revision
            while not any(a[0] == active for a in list(got)) and time.monotonic() < deadline and not errors:
                time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert got and {status for *_rest, status, _a in got} == {200}
    seen = set()
    for rev, i, where, _status, answer in got:
        assert answer == want[(rev, i, where)], (rev[:12], MODELS[i], where)
        seen.add(rev)
    assert len(seen) >= 2       # answers came from more than one revision
    # each worker keeps one catalog (and its index) per active revision: not one per past revision
    assert _live_catalogs() <= len(revisions) + 3
