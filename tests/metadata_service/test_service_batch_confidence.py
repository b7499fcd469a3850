"""POST /v1/select/batch is honest about missing facts (issue #13, item 4), as POST /v1/select is.

ONNX Runtime 1.21.0 runs on a B200 (CC 10.0) only through its PTX, compiled by a toolkit the
catalog does not record (see tests/solver/test_ptx_toolkit_gap.py). Without strict, the batch
item placed there says `confidence: unverified` and names the gap; with the service setting
`strict_selection` (RTFIT_STRICT_SELECTION) the batch refuses it, as single selection does.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

import catalog
import solver

from .conftest import Tokens, node_entry

ORT = {"framework": "onnxruntime", "framework_version": "==1.21.0"}
GAP = "the CUDA toolkit that compiled onnxruntime 1.21.0 is not recorded"
B200 = {"product": "NVIDIA B200", "memory_mib": 183359, "compute_capability": "10.0", "count": 1, "free": 1}


def _b200() -> dict[str, Any]:
    return node_entry("node-a", driver_version="580.65.06", gpus=[dict(B200)], cached_components=[])


def _batch(client: TestClient, tokens: Tokens, models: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.put("/v1/nodes/node-a/heartbeat", json={"node": _b200()}, headers=tokens.h("admin"))
    assert r.status_code == 200, r.text
    r = client.post("/v1/select/batch", json={"models": models}, headers=tokens.h("reader"))
    assert r.status_code == 200, r.text
    return r.json()


def test_batch_item_carries_confidence_and_gaps(make_client: Any, tokens: Tokens) -> None:
    answer = _batch(make_client(), tokens, [ORT])
    item = answer["placements"][0]
    assert item["feasible"] and item["choice"]["node"] == "node-a"
    assert item["confidence"] == "unverified" and any(GAP in g for g in item["gaps"]), item
    assert answer == solver.select_batch(catalog.load_catalog(), [ORT], {"nodes": [_b200()]}).to_dict()


def test_strict_selection_setting_refuses_unverified_in_batch(make_client: Any, tokens: Tokens) -> None:
    answer = _batch(make_client(strict_selection=True), tokens, [ORT])
    item = answer["placements"][0]
    assert answer["feasible"] is False and item["feasible"] is False
    rules = {c["rule"]: c["message"] for c in item["conflicts"]}
    assert "unverified-ptx" in rules and GAP in rules["unverified-ptx"], rules
