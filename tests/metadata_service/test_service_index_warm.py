"""The index builder warms the catalog index off the request path (`selection._IndexBuilder`).

- A service started with nodes in its database warms the catalog index (every framework family,
  every target of the live fleet) before any selection asks, and builds no fleet index for it;
  the first selection of each framework then adds nothing to the candidate, pair-rule and
  verdict tables.
- A registration that brings a new target (GPU product, platform, driver) is warmed by the
  builder, with no selection asking; the next selection on it fills nothing either.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from .conftest import Tokens, node_entry

# catalog-level tables, and those keyed by target (their entries for the fleet's targets are
# counted: an infeasible answer's suggestions judge other GPU products of the catalog, on demand)
TABLES = ("candidates", "columns", "table_signatures")
BY_TARGET = ("needs", "many", "split")     # keys (..., platform, compute capability)
MODELS = [
    {"framework": "pytorch", "framework_version": ">=2.3"}, {"framework": "onnxruntime"},
    {"framework": "tensorflow"}, {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 40},
    {"framework": "jax"}, {"framework": "vllm"},
]
H100 = [{"product": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0", "count": 8, "free": 0}]
T4 = [{"product": "Tesla T4", "memory_mib": 15360, "compute_capability": "7.5", "count": 1, "free": 1}]
A100 = [{"product": "NVIDIA A100-SXM4-80GB", "memory_mib": 81920, "compute_capability": "8.0", "count": 4, "free": 4}]


def _register(client: TestClient, tokens: Tokens, name: str, **over: Any) -> None:
    r = client.put(f"/v1/nodes/{name}/heartbeat", json={"node": node_entry(name, **over)}, headers=tokens.h("admin"))
    assert r.status_code == 200, r.text


def _select(client: TestClient, tokens: Tokens, model: dict[str, Any], **body: Any) -> dict[str, Any]:
    r = client.post("/v1/select", json={"model": model, "top": 3, **body}, headers=tokens.h("reader"))
    assert r.status_code == 200, r.text
    return r.json()


def _revisions(client: TestClient) -> tuple[str | None, int]:
    from metadata_service.storage.revisions import read_revisions

    with client.app.state.rtfit.db.read_session() as session:
        r = read_revisions(session, stale_before=0)
    return r.catalog, r.inventory


def _sizes(index: Any) -> dict[str, int]:
    targets = index.warm_targets[("pytorch", False)]    # the fleet's (another driver: a suggestion's)
    fleet = {(t.platform, t.cc) for t in targets}
    out = {name: len(getattr(index, name)) for name in TABLES}
    out.update({name: sum((k[1], k[2]) in fleet for k in getattr(index, name)) for name in BY_TARGET})
    out["many_done"] = sum((k[1], k[2], k[3]) in {(t.platform, t.cc, t.driver) for t in targets}
                           for k in index.many_done)
    out["verdicts per target"] = sum(t in targets for v in index.verdicts.values() for t in v)
    return out


def _wait_warm(client: TestClient) -> Any:
    builder = client.app.state.rtfit.selection._builder
    want = _revisions(client)
    deadline = time.monotonic() + 120
    while builder.warmed != want:
        assert time.monotonic() < deadline, "the builder did not warm the catalog index by itself"
        time.sleep(0.05)
    return builder


def test_a_started_service_is_warm_before_the_first_selection(make_client: Any, tokens: Tokens) -> None:
    client = make_client()
    _register(client, tokens, "n0")
    _register(client, tokens, "n1", gpus=H100, driver_version="535.104.05")   # busy: still warmed
    _register(client, tokens, "n2", gpus=T4, driver_version="470.256.02", cluster="other")
    builder = _wait_warm(client)
    assert builder.active is None                  # no fleet index built: nobody asked
    index = builder.catalog_index
    assert index is not None and builder.warm_cpu_s > 0
    before = _sizes(index)
    assert before["verdicts per target"] > 0
    for model in MODELS:
        _select(client, tokens, model)
        _select(client, tokens, model, where={"cluster": "other"})
    assert builder.active.index is index           # the selections ran on the warm index ...
    assert _sizes(index) == before                 # ... and filled none of its tables


def test_new_targets_are_warmed_by_the_builder_with_no_selection_asking(make_client: Any, tokens: Tokens) -> None:
    client = make_client()
    _register(client, tokens, "n0")
    builder = _wait_warm(client)
    index = builder.catalog_index
    _select(client, tokens, MODELS[0])
    first = _sizes(index)
    _register(client, tokens, "n1", gpus=A100, driver_version="560.35.03")     # a new target
    builder = _wait_warm(client)
    assert builder.catalog_index is index
    warmed = _sizes(index)
    assert warmed["verdicts per target"] > first["verdicts per target"]      # warmed for it, unasked
    for model in MODELS:
        _select(client, tokens, model)
    assert _sizes(index) == warmed
