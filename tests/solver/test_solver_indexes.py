"""Owned per-revision indexes: no module-level state, old revisions freed, threads agree.

The solver's derived state lives in a `CatalogIndex` (per catalog revision) and a `FleetIndex`
(per inventory revision) that the caller passes and drops. These tests hold that contract:
- selections leave every module-level container of `solver.*` as it was (nothing hidden grows);
- after many catalog revisions, only the live ones are reachable and traced memory stays within
  a fixed margin of what one revision costs;
- selections from several threads, with eviction forced (a one-entry request LRU) and the shared
  index replaced mid-run, equal the single-threaded answers byte for byte.
"""

from __future__ import annotations

import copy
import gc
import importlib
import json
import pkgutil
import random
import sys
import threading
import tracemalloc
from typing import Any

import catalog
import solver
from catalog import Catalog
from solver import CatalogIndex, FleetIndex
from solver.testing import mini_catalog, mini_catalog_documents, random_inventory

REQUESTS: list[dict[str, Any]] = [
    {"framework": "pytorch"}, {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 20},
    {"framework": "pytorch", "framework_version": ">=2.6,<2.6"}, {"framework": "tensorflow", "gpu_count": 2},
    {"framework": "onnxruntime", "format": {"kind": "onnx", "opset": 17}}, {"framework": "tensorrt"},
    {"framework": "none", "requires": {"cuda": ">=12"}}, {"framework": "pytorch", "gpu_count": 0},
    {"framework": "pytorch", "gpu_count": 16}, {"framework": "pytorch", "precision": "fp8", "python": "==3.9"},
]


def _containers() -> dict[str, int]:
    """Size of every module-level dict/list/set of the solver package (constants included)."""
    sizes: dict[str, int] = {}
    for m in pkgutil.walk_packages(solver.__path__, "solver."):
        mod = importlib.import_module(m.name)
        for name, value in vars(mod).items():
            if isinstance(value, dict | list | set) and not name.startswith("__"):
                sizes[f"{m.name}.{name}"] = len(value)
    return sizes


def _answers(cat: Catalog, index: CatalogIndex | None, inventories: list[Any]) -> list[str]:
    out = []
    for inv in inventories:
        fleet = FleetIndex(index, inv) if index is not None else None
        for i, data in enumerate(REQUESTS):
            kw: dict[str, Any] = {"index": fleet} if fleet is not None else {}
            sel = solver.select(cat, data, inv, top=1 + i % 3, **kw)
            out.append(json.dumps(sel.to_dict(), sort_keys=True))
    return out


PRODUCTS = ["T4", "V100", "A100", "L4", "H100", "RTX 5090", "Jetson AGX Orin 64GB"]
DRIVERS = ["470.82.01", "525.60.13", "535.104.05", "550.54.15", "570.124.04", "580.65.06", None]
ENTRIES = ["cuda/12.4.1", "cuda/12.1.0", "cuda/11.8.0", "pytorch/2.4.1+cu124", "python/3.11.9", "cudnn/9.1.0"]


def _inventories(cat: Catalog, n: int = 3) -> list[Any]:
    return [solver.parse_inventory(random_inventory(seed, 40, PRODUCTS, DRIVERS, ENTRIES), catalog=cat)
            for seed in range(n)]


def test_selections_leave_no_module_level_state() -> None:
    cat = mini_catalog()
    invs = _inventories(cat)
    _answers(cat, CatalogIndex(cat), invs[:1])     # imports and any one-time constants settle
    before = _containers()
    ix = CatalogIndex(cat)
    _answers(cat, ix, invs)
    _answers(cat, None, invs[:1])
    solver.select_batch(cat, REQUESTS[:4], invs[0], index=FleetIndex(ix, invs[0]))
    after = _containers()
    grown = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert not grown, f"module-level state changed during selections: {grown}"
    assert ix.size() > 0      # the state went to the index instead


def _revision(i: int) -> Catalog:
    docs = copy.deepcopy(mini_catalog_documents())
    records = next(r for doc in docs.values() for s, r in doc.items() if isinstance(r, list) and r and s != "sources")
    records[0]["note"] = f"revision {i}"      # a content change: a new revision, same facts
    return catalog.load_catalog_from_documents(docs)


def _live_catalogs() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Catalog))


def test_old_catalog_revisions_are_freed() -> None:
    """Issue #15 item 4: memory after N catalog revisions stays within a margin of after one."""
    baseline = _live_catalogs()
    tracemalloc.start()
    try:
        def one_revision(i: int) -> None:
            cat = _revision(i)
            ix = CatalogIndex(cat)           # a service holds this while the revision is active
            _answers(cat, ix, _inventories(cat, 2))

        one_revision(0)
        gc.collect()
        after_one, _ = tracemalloc.get_traced_memory()
        for i in range(1, 12):
            one_revision(i)
        gc.collect()
        after_many, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _live_catalogs() <= baseline, "a dropped catalog revision is still reachable"
    assert after_many - after_one < 512 * 1024, (after_one, after_many)


def test_threads_with_forced_eviction_equal_single_threaded() -> None:
    """Issue #15 item 12: several threads, a one-entry request LRU, the shared index replaced mid-run."""
    cat = mini_catalog()
    invs = _inventories(cat)
    want = _answers(cat, CatalogIndex(cat), invs)
    holder: dict[str, Any] = {"index": CatalogIndex(cat, request_facts_size=1)}
    fleets_of: dict[int, dict[int, FleetIndex]] = {}
    lock = threading.Lock()
    got: list[tuple[int, list[str]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def fleets(ix: CatalogIndex) -> dict[int, FleetIndex]:
        with lock:
            found = fleets_of.get(id(ix))
            if found is None:
                found = fleets_of[id(ix)] = {k: FleetIndex(ix, inv) for k, inv in enumerate(invs)}
            return found

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(3):
                order = list(range(len(invs) * len(REQUESTS)))
                rng.shuffle(order)
                answers = [""] * len(order)
                for k in order:
                    ix = holder["index"]
                    inv_i, i = divmod(k, len(REQUESTS))
                    sel = solver.select(cat, REQUESTS[i], invs[inv_i], top=1 + i % 3, index=fleets(ix)[inv_i])
                    answers[k] = json.dumps(sel.to_dict(), sort_keys=True)
                got.append((seed, answers))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def swapper() -> None:   # eviction of everything: a fresh index replaces the shared one
        while not stop.wait(0.02):
            holder["index"] = CatalogIndex(cat, request_facts_size=1)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
        swap = threading.Thread(target=swapper)
        swap.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        swap.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert len(got) == 18
    for seed, answers in got:
        diff = [k for k, (a, b) in enumerate(zip(answers, want, strict=True)) if a != b]
        assert not diff, (seed, diff[:5])
