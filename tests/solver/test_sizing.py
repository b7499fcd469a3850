"""Sizing in selection: `artifact:` facts set the memory a GPU needs, and an answer carries one of
three verdicts — runnable, runnable only with a (checked) change, incompatible."""

from __future__ import annotations

from pathlib import Path

import pytest

import catalog
import solver
from modelfile import inspect_artifact

DATA = Path(__file__).parents[1] / "modelfile" / "data"
L4_BOX = {"nodes": [{"name": "l4box", "arch": "x86_64", "driver_version": "550.54.15",
                     "gpus": [{"product": "NVIDIA L4", "count": 4}]}]}


@pytest.fixture(scope="module")
def cat() -> catalog.Catalog:
    return catalog.load_catalog()


@pytest.fixture(scope="module")
def llama8b() -> dict:
    return inspect_artifact(DATA / "llama-3.1-8b").to_dict()


def test_artifact_sets_min_memory_and_the_answer_says_how(cat: catalog.Catalog, llama8b: dict) -> None:
    req = solver.parse_request({"framework": "pytorch", "artifact": llama8b, "serving": {"max_model_len": 2048}})
    assert req.memory is not None and req.min_gpu_memory_gib == round(req.memory.per_gpu_gib, 2)
    answer = solver.select(cat, req, L4_BOX).to_dict()
    assert answer["feasible"] and answer["verdict"] == "runnable" and answer["changes"] == []
    assert answer["memory"]["per_gpu_gib"] == req.min_gpu_memory_gib
    assert any("KV cache" in h for h in answer["memory"]["how"])
    assert any("estimated from the artifact" in line for line in answer["explanation"])


def test_runnable_only_with_checked_changes(cat: catalog.Catalog, llama8b: dict) -> None:
    request = {"framework": "pytorch", "artifact": llama8b, "serving": {"max_model_len": 8192, "max_num_seqs": 16}}
    answer = solver.select(cat, request, L4_BOX).to_dict()
    assert not answer["feasible"] and answer["verdict"] == "runnable-with-change"
    kinds = {c["change"]: c for c in answer["changes"]}
    assert set(kinds) == {"smaller context", "fewer sequences", "more GPUs", "lower precision"}
    for change in answer["changes"]:  # each change was checked: selecting it as described fits
        changed = {**request, **{k: v for k, v in change["request"].items() if k != "min_gpu_memory_gib"}}
        again = solver.select(cat, changed, L4_BOX).to_dict()
        assert again["feasible"] and again["verdict"] == "runnable", change["description"]
        assert change["memory"]["per_gpu_gib"] <= 23034 / 1024
    assert kinds["more GPUs"]["choice"]["gpu"]["count"] == kinds["more GPUs"]["request"]["serving"]["tensor_parallel"]
    assert kinds["smaller context"]["request"]["serving"]["max_model_len"] < 8192


def test_incompatible_when_no_change_fits(cat: catalog.Catalog) -> None:
    big = inspect_artifact(DATA / "llama-3.1-70b").to_dict()
    one_l4 = {"nodes": [{"name": "n", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4"}]}]}
    answer = solver.select(cat, {"framework": "pytorch", "artifact": big, "precision": "bf16"}, one_l4).to_dict()
    assert answer["verdict"] == "incompatible" and answer["changes"] == []
    assert any(c["rule"] == "gpu-memory" for c in answer["conflicts"])


def test_explicit_min_memory_wins_and_plain_requests_are_unchanged(cat: catalog.Catalog, llama8b: dict) -> None:
    req = solver.parse_request({"framework": "pytorch", "artifact": llama8b, "min_gpu_memory_gib": 4})
    assert req.min_gpu_memory_gib == 4 and req.memory is None
    plain = solver.select(cat, {"framework": "pytorch"}, L4_BOX).to_dict()
    assert "verdict" not in plain and "memory" not in plain


def test_tensor_parallel_sets_gpu_count(llama8b: dict) -> None:
    req = solver.parse_request({"framework": "pytorch", "artifact": llama8b,
                                "serving": {"max_model_len": 4096, "tensor_parallel": 2}})
    assert req.gpu_count == 2
    with pytest.raises(solver.InvalidRequest, match="tensor_parallel"):
        solver.parse_request({"framework": "pytorch", "gpu_count": 1, "serving": {"tensor_parallel": 2}})


@pytest.mark.parametrize(("raw", "field"), [
    ({"artifact": "./weights"}, "artifact"),
    ({"artifact": {"kind": "onnx"}}, "artifact"),
    ({"artifact": 3}, "artifact"),
    ({"serving": {"max_model_len": 0}}, "serving.max_model_len"),
    ({"serving": {"context": 5}}, "serving.context"),
    ({"serving": []}, "serving"),
])
def test_bad_artifact_or_serving_names_the_field(raw: dict, field: str) -> None:
    with pytest.raises(solver.InvalidRequest) as e:
        solver.parse_request({"framework": "pytorch", **raw})
    assert e.value.field == field
