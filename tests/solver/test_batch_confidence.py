"""Batch placement is as honest about missing facts as single selection (issue #13, item 4).

Each placed request of a batch carries the `confidence` and `gaps` a single selection of that
runtime on that node's GPU reports (one definition: `solver.select.choice_gaps`, i.e.
`compat.candidate_gaps` with the GPU's CC), and a strict request refuses unverified runtimes in a
batch as it does alone.

The case (as in test_ptx_toolkit_gap.py): ONNX Runtime 1.21.0 (CUDA 12) carries SASS up to 9.0
and PTX 9.0, and the toolkit that compiled it is not recorded. The NVIDIA L4 (CC 8.9) runs its
SASS; the B200 (CC 10.0) only its PTX, so there the answer rests on an unrecorded toolkit.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from catalog import load_catalog
from catalog.compat import build_toolkit, gpu_platform
from solver import select, select_batch

DRIVER = "580.65.06"
GAP = "the CUDA toolkit that compiled onnxruntime 1.21.0 is not recorded"
ORT = {"framework": "onnxruntime", "framework_version": "==1.21.0"}


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _node(name: str, gpu: str, driver: str = DRIVER, count: int = 1) -> dict[str, Any]:
    return {"name": name, "arch": "x86_64", "driver_version": driver, "gpus": [{"product": gpu, "count": count}]}


def _batch(cat, models: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    got = select_batch(cat, [{**m, "name": f"r{i}"} for i, m in enumerate(models)], {"nodes": nodes})
    return got.to_dict()["placements"]


def test_a_batch_item_on_a_gpu_that_jits_the_ptx_names_the_gap(cat):
    placements = _batch(cat, [ORT, ORT], [_node("b200", "NVIDIA B200"), _node("l4", "NVIDIA L4")])
    by_node = {p["choice"]["node"]: p for p in placements if p["feasible"]}
    assert set(by_node) == {"b200", "l4"}, placements
    jit, native = by_node["b200"], by_node["l4"]
    assert jit["confidence"] == "unverified"
    assert any(GAP in g for g in jit["gaps"]), jit["gaps"]
    assert [f"unverified: {g}" for g in jit["gaps"]] == [e for e in jit["explanation"] if e.startswith("unverified: ")]
    assert native["confidence"] == "verified" and native["gaps"] == []
    assert not any(e.startswith("unverified: ") for e in native["explanation"])


def test_strict_batch_refuses_the_ptx_gpu(cat):
    strict = {**ORT, "strict": True}
    # the B200 alone: no node can run the strict request; it is explained as a single selection is
    alone = _batch(cat, [strict], [_node("b200", "NVIDIA B200")])
    assert not alone[0]["feasible"]
    rules = {c["rule"]: c["message"] for c in alone[0]["conflicts"]}
    assert "unverified-ptx" in rules and GAP in rules["unverified-ptx"], rules
    assert alone == [select(cat, strict, {"nodes": [_node("b200", "NVIDIA B200")]}).to_dict()]
    # next to an L4: one request gets the L4 (verified), the other is not put on the B200
    mixed = _batch(cat, [strict, strict], [_node("b200", "NVIDIA B200"), _node("l4", "NVIDIA L4")])
    placed = [p for p in mixed if p["feasible"]]
    assert [p["choice"]["node"] for p in placed] == ["l4"], mixed
    assert placed[0]["confidence"] == "verified" and placed[0]["gaps"] == []
    left = next(p for p in mixed if not p["feasible"])
    assert [c["rule"] for c in left["conflicts"]] == ["no-capacity"]
    # without strict the same batch uses the B200 and says it is unverified
    loose = _batch(cat, [ORT, ORT], [_node("b200", "NVIDIA B200"), _node("l4", "NVIDIA L4")])
    assert sorted(p["confidence"] for p in loose if p["feasible"]) == ["unverified", "verified"]


def _sample(cat, n: int, seed: int = 13) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Requests pinned to builds whose gap depends on the GPU (PTX, toolkit not recorded) plus
    plain requests, and a fleet of x86_64 GPUs of several architectures."""
    rng = random.Random(seed)
    refs = sorted((r for r in cat.builds() if r.build.gpu and r.build.ptx and not build_toolkit(cat, r.build)[1]
                   and "x86_64" in r.build.platforms), key=lambda r: (r.framework, str(r.version), r.label))
    models = [{"framework": r.framework, "framework_version": f"==={r.label}"} for r in rng.sample(refs, n)]
    models += [{"framework": "pytorch"}, {"framework": "tensorflow"}, ORT]
    gpus = sorted(g.name for g in cat.gpus if gpu_platform(g, "x86_64") == "x86_64" and g.segment == "datacenter")
    chosen = ["NVIDIA B200", "NVIDIA L4"] + rng.sample([g for g in gpus if g not in ("NVIDIA B200", "NVIDIA L4")], 4)
    nodes = [_node(f"n{i}", gpu, rng.choice(["570.86.10", DRIVER]), count=2) for i, gpu in enumerate(chosen)]
    return models, nodes


def test_each_batch_item_reports_what_a_single_selection_of_it_there_reports(cat):
    """Property: for every placed request, a single selection of the same request on the node the
    batch chose gives the same runtime and GPU, and the same confidence and gaps."""
    models, nodes = _sample(cat, 8)
    placements = _batch(cat, models, nodes)
    seen = {"verified": 0, "unverified": 0}
    for model, p in zip(models, placements, strict=True):
        if not p["feasible"]:
            continue
        node = next(n for n in nodes if n["name"] == p["choice"]["node"])
        alone = select(cat, model, {"nodes": [node]}).to_dict()
        assert alone["feasible"], (model, node)
        assert (alone["choice"]["runtime"], alone["choice"]["gpu"]) == (p["choice"]["runtime"], p["choice"]["gpu"])
        assert (alone["confidence"], alone["gaps"]) == (p["confidence"], p["gaps"]), (model, node["gpus"])
        assert [e for e in alone["explanation"] if e.startswith("unverified: ")] == \
            [e for e in p["explanation"] if e.startswith("unverified: ")]
        seen[p["confidence"]] += 1
    assert seen["verified"] and seen["unverified"], seen  # both answers occur: not vacuous


def test_a_batch_item_on_a_jetson_driver_of_unknown_cuda_names_that_gap(cat):
    """The gap of the node's driver (a Jetson driver number no record names, as in
    test_catalog_jetson_driver.py) is part of the same definition: batch and single agree."""
    orin = {"name": "orin", "arch": "aarch64", "driver_version": "540.4.0", "gpus": [{"product": "Orin (nvgpu)"}]}
    model = {"framework": "pytorch"}
    alone = select(cat, model, {"nodes": [orin]}).to_dict()
    item = _batch(cat, [model], [orin])[0]
    assert alone["feasible"] and item["feasible"]
    assert any("CUDA version of Jetson driver 540.4.0 is unknown" in g for g in item["gaps"]), item["gaps"]
    assert (item["confidence"], item["gaps"]) == (alone["confidence"], alone["gaps"]) and item["confidence"] == "unverified"
