"""The validator catches each rule on a small fixed catalog (one legal answer, then mutations).

`tiny_catalog()` and `FLEET` are also used by test_batch_placement.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from catalog import Catalog, load_catalog_from_documents
from solver.check.validate import validate_batch, validate_choice, validate_selection

S = ["t"]


def tiny_catalog() -> Catalog:
    def arch(cc: str, name: str, first: str | None, removed: str | None) -> dict[str, Any]:
        return {"id": f"arch.{cc}", "cc": cc, "name": name, "first_cuda": first, "removed_in": removed, "source": S}

    def gpu(i: str, name: str, cc: str, mem: int) -> dict[str, Any]:
        return {"id": f"gpu.{i}", "name": name, "cc": cc, "architecture": "x", "memory_mib": mem,
                "segment": "datacenter", "platform": "x86_64", "source": S}

    def torch(series: str, version: str, variant: str, cuda: str, sass: list[str], ptx: list[str]) -> dict:
        return {"variant": variant, "platforms": ["x86_64"], "bundled": {"cuda": cuda, "cudnn": "9.1.0.70"},
                "sass": sass, "ptx": ptx}

    return load_catalog_from_documents({
        "sources.yaml": {"sources": [{"id": "t", "doc": "test", "url": "https://example.invalid", "quality": "primary"}]},
        "drivers.yaml": {"driver_branches": [{"id": f"branch.r{b}", "branch": b, "max_cuda": m, "source": S}
                                             for b, m in ((525, "12.0"), (530, "12.1"), (535, "12.2"), (550, "12.4"),
                                                          (580, "13.0"))]},
        "cuda.yaml": {"cuda_toolkits": [{"id": f"cuda.{v}", "version": v, "label": v, "min_driver": d, "source": S}
                                        for v, d in (("12.1.1", "530.30.02"), ("12.4.1", "550.54.15"),
                                                     ("13.0.0", "580.65.06"))],
                      "mvc_floors": [{"id": "mvc.12", "cuda_major": 12, "min_driver": "525.60.13", "source": S},
                                     {"id": "mvc.13", "cuda_major": 13, "min_driver": "580.65.06", "source": S}]},
        "architectures.yaml": {"architectures": [arch("7.0", "Volta", None, "13.0"), arch("7.5", "Turing", None, None),
                                                 arch("8.0", "Ampere", "11.0", None), arch("8.9", "Ada", "11.8", None),
                                                 arch("9.0", "Hopper", "11.8", None)]},
        "gpus.yaml": {"gpus": [gpu("t4", "Tesla T4", "7.5", 15360), gpu("l4", "NVIDIA L4", "8.9", 23034),
                               gpu("v100", "Tesla V100-SXM2-16GB", "7.0", 16160),
                               gpu("a100", "NVIDIA A100-SXM4-80GB", "8.0", 81920),
                               gpu("h100", "NVIDIA H100 80GB HBM3", "9.0", 81559)]},
        "cudnn.yaml": {"cudnn": [{"id": "cudnn.9.1.0", "version": "9.1.0", "source": S,
                                  "builds": [{"cuda": ">=12.0,<13", "cc": ["7.0", "7.5", "8.0", "8.9", "9.0"]},
                                             {"cuda": ">=13.0,<14"}]}]},
        "python.yaml": {"python": [{"id": f"python.{p}", "version": p, "source": S} for p in ("3.10", "3.11", "3.12")]},
        "pytorch.yaml": {"framework_releases": [
            {"id": "pytorch.2.4", "framework": "pytorch", "series": "2.4", "versions": ["2.4.1"], "python": ">=3.10",
             "source": S, "builds": [torch("2.4", "2.4.1", "cu121", "12.1", ["7.0", "7.5", "8.0"], ["8.0"]),
                                     torch("2.4", "2.4.1", "cu124", "12.4", ["7.0", "7.5", "8.0", "8.9"], ["8.0"]),
                                     {"variant": "cpu", "platforms": ["x86_64"], "gpu": False}]},
            {"id": "pytorch.2.9", "framework": "pytorch", "series": "2.9", "versions": ["2.9.0"], "python": ">=3.10",
             "source": S, "builds": [torch("2.9", "2.9.0", "cu130", "13.0", ["7.5", "8.0", "8.9", "9.0"], [])]}]},
        "numeric_formats.yaml": {"numeric_formats": [{"id": "num.bf16", "precision": "bf16", "min_cc": "8.0",
                                                      "source": S}]},
    })


FLEET: dict[str, Any] = {"nodes": [
    {"name": "l4-new", "cluster": "c1", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L4", "count": 2}]},
    {"name": "l4-535", "driver_version": "535.104.05", "gpus": [{"product": "NVIDIA L4"}, {"product": "NVIDIA L4"}]},
    {"name": "h100-535", "driver_version": "535.104.05", "gpus": [{"product": "NVIDIA H100 80GB HBM3"}]},
    {"name": "v100", "driver_version": "580.65.06", "gpus": [{"product": "Tesla V100-SXM2-16GB"}]},
    {"name": "t4", "driver_version": "580.65.06", "gpus": [{"product": "Tesla T4", "count": 2, "free": 1}]},
    {"name": "cpu", "driver_version": None, "gpus": []},
]}
CU124 = {"cuda": "12.4", "cudnn": "9.1.0.70", "python": "3.11", "pytorch": "2.4.1+cu124"}
CU130 = {"cuda": "13.0", "cudnn": "9.1.0.70", "python": "3.11", "pytorch": "2.9.0+cu130"}


def choice(node: str, product: str | None, cc: str | None, runtime: dict[str, str], count: int = 1,
           cluster: str | None = None) -> dict[str, Any]:
    gpu = {"product": product, "count": count, "compute_capability": cc} if product else None
    return {"node": node, "cluster": cluster, "gpu": gpu, "runtime": dict(runtime)}


L4 = ("NVIDIA L4", "8.9")
LEGAL = [
    ("native driver", {"framework": "pytorch"}, choice("l4-new", *L4, CU124, cluster="c1")),
    ("cu124 on driver 535 through MVC (SASS for 8.9)", {"framework": "pytorch"}, choice("l4-535", *L4, CU124)),
    ("one entry per device: two L4 entries make two GPUs", {"framework": "pytorch", "gpu_count": 2},
     choice("l4-535", *L4, CU124, count=2)),
    ("bf16 on Ada", {"framework": "pytorch", "precision": "bf16"}, choice("l4-new", *L4, CU124, cluster="c1")),
    ("CPU-only", {"framework": "pytorch", "gpu_count": 0},
     choice("cpu", None, None, {"python": "3.12", "pytorch": "2.4.1+cpu"})),
]
ILLEGAL = [
    ("PTX path needs the native driver", {"framework": "pytorch"},
     choice("h100-535", "NVIDIA H100 80GB HBM3", "9.0", CU124), "driver-too-old"),
    ("CUDA 13 on Volta", {"framework": "pytorch"},
     choice("v100", "Tesla V100-SXM2-16GB", "7.0", CU130), "toolkit-drops-arch"),
    ("bf16 on a T4", {"framework": "pytorch", "precision": "bf16"},
     choice("t4", "Tesla T4", "7.5", CU124), "precision-unsupported"),
    ("memory", {"framework": "pytorch", "min_gpu_memory_gib": 40}, choice("l4-new", *L4, CU124, cluster="c1"),
     "gpu-memory"),
    ("free GPUs", {"framework": "pytorch", "gpu_count": 2}, choice("t4", "Tesla T4", "7.5", CU124, count=2),
     "no-free-gpu"),
    ("CUDA not the bundled one", {"framework": "pytorch"},
     choice("l4-new", *L4, {**CU124, "cuda": "12.1"}, cluster="c1"), "cuda-mismatch"),
    ("unknown build", {"framework": "pytorch"},
     choice("l4-new", *L4, {**CU124, "pytorch": "2.4.1+cu999"}, cluster="c1"), "unknown-build"),
    ("no python", {"framework": "pytorch"},
     choice("l4-new", *L4, {k: v for k, v in CU124.items() if k != "python"}, cluster="c1"), "runtime-shape"),
    ("python outside the request", {"framework": "pytorch", "python": ">=3.12"},
     choice("l4-new", *L4, CU124, cluster="c1"), "python-version"),
    ("framework version", {"framework": "pytorch", "framework_version": ">=2.5"},
     choice("l4-new", *L4, CU124, cluster="c1"), "framework-version"),
    ("requires", {"framework": "pytorch", "requires": {"cudnn": ">=9.2"}},
     choice("l4-new", *L4, CU124, cluster="c1"), "requires"),
    ("unknown node", {"framework": "pytorch"}, choice("nope", *L4, CU124), "no-such-node"),
    ("cluster", {"framework": "pytorch"}, choice("l4-new", *L4, CU124, cluster="c9"), "cluster-mismatch"),
    ("GPU count in the answer", {"framework": "pytorch", "gpu_count": 2},
     choice("l4-new", *L4, CU124, count=1, cluster="c1"), "gpu-count"),
    ("GPU the node does not have", {"framework": "pytorch"},
     choice("l4-new", "Tesla T4", "7.5", CU124, cluster="c1"), "no-such-gpu"),
    ("CPU request given a GPU", {"framework": "pytorch", "gpu_count": 0},
     choice("l4-new", *L4, {"python": "3.12", "pytorch": "2.4.1+cpu"}, cluster="c1"), "gpu-for-cpu-request"),
    ("GPU build for a CPU request", {"framework": "pytorch", "gpu_count": 0},
     choice("cpu", None, None, {"python": "3.12", "pytorch": "2.4.1+cu124"}), "build-kind"),
    ("arch not allowed", {"framework": "pytorch", "arch": ["aarch64"]},
     choice("l4-new", *L4, CU124, cluster="c1"), "arch-not-allowed"),
    ("GPU request on a node without driver", {"framework": "none"}, choice("cpu", *L4, {"cuda": "12.4"}), "no-such-gpu"),
]


@pytest.mark.parametrize(("why", "request_", "answer"), LEGAL, ids=[c[0] for c in LEGAL])
def test_legal_answers_pass(why: str, request_: dict, answer: dict) -> None:
    assert validate_choice(tiny_catalog(), request_, FLEET, answer) == []


@pytest.mark.parametrize(("why", "request_", "answer", "rule"), ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_each_rule_is_caught(why: str, request_: dict, answer: dict, rule: str) -> None:
    rules = {v.rule for v in validate_choice(tiny_catalog(), request_, FLEET, answer)}
    assert rule in rules, rules


def test_selection_shape_revision_and_distinct_alternatives() -> None:
    cat = tiny_catalog()
    good = {"feasible": True, "catalog_revision": cat.revision, "choice": choice("l4-new", *L4, CU124, cluster="c1"),
            "alternatives": [choice("l4-535", *L4, CU124)], "explanation": []}
    assert validate_selection(cat, {"framework": "pytorch"}, FLEET, good) == []
    twice = copy.deepcopy(good)
    twice["alternatives"] = [good["choice"]]
    assert {v.rule for v in validate_selection(cat, {"framework": "pytorch"}, FLEET, twice)} == {"alternatives-distinct"}
    stale = {**good, "catalog_revision": "0" * 64}
    assert {v.rule for v in validate_selection(cat, {"framework": "pytorch"}, FLEET, stale)} == {"catalog-revision"}
    bare = {"feasible": False, "catalog_revision": cat.revision, "conflicts": [], "suggestions": []}
    assert {v.rule for v in validate_selection(cat, {"framework": "pytorch"}, FLEET, bare)} == {"shape"}


def test_planning_mode_answers() -> None:
    cat = tiny_catalog()
    ok = choice(None, "NVIDIA H100 80GB HBM3", "9.0", CU130)
    assert validate_choice(cat, {"framework": "pytorch"}, None, ok) == []
    named = {**ok, "node": "l4-new"}
    assert {v.rule for v in validate_choice(cat, {"framework": "pytorch"}, None, named)} == {"no-such-node"}


def test_batch_capacity_is_checked() -> None:
    cat = tiny_catalog()
    placed = {"feasible": True, "catalog_revision": cat.revision, "choice": choice("t4", "Tesla T4", "7.5", CU124),
              "alternatives": [], "explanation": []}
    reqs = [{"framework": "pytorch"}, {"framework": "pytorch"}]
    answer = {"feasible": True, "catalog_revision": cat.revision, "placements": [placed, placed]}
    assert {v.rule for v in validate_batch(cat, reqs, FLEET, answer)} == {"over-capacity"}
    answer["placements"] = [placed]
    assert {v.rule for v in validate_batch(cat, reqs, FLEET, answer)} == {"shape"}
