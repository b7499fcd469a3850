"""Strict parsing of Contract 1 (requests) and Contract 2 (inventories)."""

from __future__ import annotations

import pytest
from packaging.version import Version

import solver
from solver.errors import InvalidInventory, InvalidRequest
from solver.testing import fake_gpu, fake_node, mini_catalog


def test_request_defaults_and_fields() -> None:
    r = solver.parse_request({"framework": "pytorch", "framework_version": ">=2.3,<2.6", "python": ">=3.10",
                              "precision": "bf16", "min_gpu_memory_gib": 20, "arch": ["x86_64"],
                              "format": {"kind": "onnx", "opset": 17}, "requires": {"cudnn": ">=9"}})
    assert r.gpu_count == 1 and r.min_memory_mib == 20 * 1024
    assert r.format is not None and r.format.opset == 17
    assert r.required("cudnn") is not None and r.arch == ("x86_64",)
    assert hash(r) == hash(solver.parse_request({"framework": "pytorch", "framework_version": ">=2.3,<2.6",
                                                 "python": ">=3.10", "precision": "bf16",
                                                 "min_gpu_memory_gib": 20, "arch": ["x86_64"],
                                                 "format": {"kind": "onnx", "opset": 17},
                                                 "requires": {"cudnn": ">=9"}}))


@pytest.mark.parametrize(("data", "field"), [
    ({"framework": "caffe"}, "framework"),
    ({"framework": "pytorch", "framework_version": ">=2..3"}, "framework_version"),
    ({"framework": "pytorch", "python": "three"}, "python"),
    ({"framework": "pytorch", "precision": "fp64"}, "precision"),
    ({"framework": "pytorch", "gpu_count": -1}, "gpu_count"),
    ({"framework": "pytorch", "gpu_count": "two"}, "gpu_count"),
    ({"framework": "pytorch", "arch": ["sparc"]}, "arch[0]"),
    ({"framework": "pytorch", "format": {"kind": "pickle"}}, "format.kind"),
    ({"framework": "pytorch", "requires": {"cuda": "bogus!"}}, "requires.cuda"),
    ({"framework": "pytorch", "requires": {"flux": ">=1"}}, "requires.flux"),
    ({"framework": "pytorch", "framwork_version": "2.4"}, "framwork_version"),
    ({"framework": "pytorch", "min_gpu_memory_gib": -3}, "min_gpu_memory_gib"),
])
def test_request_errors_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        solver.parse_request(data)
    assert e.value.field == field
    assert isinstance(e.value, ValueError)


def test_bare_version_means_series() -> None:
    r = solver.parse_request({"framework": "pytorch", "framework_version": "2.4"})
    assert r.framework_version is not None and r.framework_version.contains("2.4.1")


def test_gpu_count_zero_is_cpu_only() -> None:
    assert not solver.parse_request({"framework": "none", "gpu_count": 0}).uses_gpu


def test_inventory_parse_and_resolve() -> None:
    cat = mini_catalog()
    inv = solver.parse_inventory({"nodes": [fake_node("a", fake_gpu("L4", 2, 1), cluster="c1",
                                                      cached=["cuda/12.4.1"], labels={"zone": "a"})]}, catalog=cat)
    node = inv.nodes[0]
    assert node.driver_version == Version("550.54.15") and node.gpus[0].free == 1
    assert node.cached_components == frozenset({"cuda/12.4.1"}) and node.label_map == {"zone": "a"}


def test_unknown_product_with_cc_is_usable() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node("x", fake_gpu("Prototype GPU", compute_capability="8.9", memory_mib=49152))]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv)
    assert sel.feasible and sel.choice is not None and sel.choice.gpu is not None
    assert sel.choice.gpu.product == "Prototype GPU" and sel.choice.gpu.compute_capability == "8.9"


def test_unknown_product_without_cc_names_the_field() -> None:
    with pytest.raises(InvalidInventory) as e:
        solver.parse_inventory({"nodes": [fake_node("x", fake_gpu("L4")), fake_node("y", fake_gpu("Mystery"))]},
                               catalog=mini_catalog())
    assert e.value.field == "nodes[1].gpus[0].product"


@pytest.mark.parametrize(("data", "field"), [
    ({"nodes": [{"name": "a", "gpus": [{"product": "L4", "count": 1, "free": 2}]}]}, "nodes[0].gpus[0].free"),
    ({"nodes": [{"name": "a", "driver_version": "x.y"}]}, "nodes[0].driver_version"),
    ({"nodes": [{"name": "a"}, {"name": "a"}]}, "nodes[1].name"),
    ({"nodes": [{"gpus": []}]}, "nodes[0].name"),
    ({"nodes": [{"name": "a", "arch": "mips"}]}, "nodes[0].arch"),
    ({"nodes": "many"}, "nodes"),
])
def test_inventory_errors(data: dict, field: str) -> None:
    with pytest.raises(InvalidInventory) as e:
        solver.parse_inventory(data)
    assert e.value.field == field


def test_planning_segments_default_to_datacenter_and_workstation():
    from catalog import load_catalog

    cat = load_catalog()
    seg = {g.name: g.segment for g in cat.gpus}
    default = solver.select(cat, {"framework": "pytorch", "precision": "fp16"}, top=50).to_dict()
    products = {a["gpu"]["product"] for a in [default["choice"], *default["alternatives"]]}
    assert products and {seg[p] for p in products} <= {"datacenter", "workstation"}
    assert "NVIDIA GeForce RTX 2080 Ti" not in products
    consumer = solver.select(cat, {"framework": "pytorch", "segments": ["consumer"]}, top=50).to_dict()
    assert {seg[a["gpu"]["product"]] for a in [consumer["choice"], *consumer["alternatives"]]} == {"consumer"}
    assert solver.parse_request({"segments": "embedded"}).segments == ("jetson",)
    with pytest.raises(solver.InvalidRequest, match="segments"):
        solver.parse_request({"segments": ["gaming"]})
