"""Readable fake builders for tests, benchmarks and examples (shipped with the code, as in
gpu-feature-discovery): a small but real-fact catalog and node/request helpers.

`mini_catalog_documents()` transcribes a slice of the team's sourced compatibility fact sheet
(Table-3 driver minimums, MVC floors, architectures, cuDNN support matrices, PyTorch wheel
arch lists, TensorFlow tested builds, ONNX Runtime and TensorRT requirements, numeric formats),
so tests do not depend on the full bundled catalog while it is being curated.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from catalog import Catalog, load_catalog_from_documents

__all__ = ["fake_gpu", "fake_node", "mini_catalog", "mini_catalog_documents", "random_inventory"]

_SRC = ["ref"]
_CC_5_90 = ["5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"]
_CUDNN_CC = ["5.0", "6.0", "6.1", "7.0", "7.5", "8.0", "8.6", "8.9", "9.0"]


def _arch(cc: str, name: str, first: str | None, removed: str | None) -> dict[str, Any]:
    return {"id": f"arch.sm_{cc.replace('.', '')}", "cc": cc, "name": name, "first_cuda": first,
            "removed_in": removed, "source": _SRC}


def _gpu(gid: str, name: str, cc: str, arch: str, mem: int, segment: str = "datacenter",
         platform: str | None = "x86_64", aliases: list[str] | None = None) -> dict[str, Any]:
    return {"id": gid, "name": name, "aliases": aliases or [], "cc": cc, "architecture": arch, "memory_mib": mem,
            "segment": segment, "platform": platform, "source": _SRC}


def _pt(series: str, versions: list[str], python: str, builds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": f"pytorch.{series}", "framework": "pytorch", "series": series, "versions": versions,
            "python": python, "builds": builds, "source": ["pt_release_md"]}


def _ptb(variant: str, cuda: str | None, cudnn: str | None, sass: list[str], ptx: list[str] | None = None,
         platforms: list[str] | None = None) -> dict[str, Any]:
    b: dict[str, Any] = {"variant": variant, "platforms": platforms or ["x86_64"], "sass": sass, "ptx": ptx or []}
    if cuda is None:
        return {"variant": variant, "platforms": platforms or ["x86_64", "aarch64"], "gpu": False}
    b["bundled"] = {"cuda": cuda, "cudnn": cudnn} if cudnn else {"cuda": cuda}
    return b


def mini_catalog_documents() -> dict[str, dict[str, Any]]:
    """Catalog documents (file name -> parsed YAML mapping) for `load_catalog_from_documents`."""
    sources = {"sources": [
        {"id": "ref", "doc": "rtfit bundled catalog (each fact with its primary source there)", "url": "catalog/data/sources.yaml",
         "quality": "secondary"},
        {"id": "cuda_rn_13_2_2", "doc": "CUDA Toolkit 13.2 Update 2 - Release Notes (Table 3)",
         "url": "https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/index.html",
         "quality": "primary"},
        {"id": "cuda_mvc", "doc": "CUDA Compatibility: minor version compatibility",
         "url": "https://docs.nvidia.com/deploy/cuda-compatibility/", "quality": "primary"},
        {"id": "pt_release_md", "doc": "pytorch/pytorch RELEASE.md (Release Compatibility Matrix)",
         "url": "https://github.com/pytorch/pytorch/blob/main/RELEASE.md", "quality": "primary"},
        {"id": "cudnn_sm", "doc": "cuDNN Support Matrix", "url": "https://docs.nvidia.com/deeplearning/cudnn/",
         "quality": "primary"},
        {"id": "te_support_matrix", "doc": "Transformer Engine support matrix",
         "url": "https://docs.nvidia.com/deeplearning/transformer-engine/", "quality": "primary"},
    ]}
    drivers = {"driver_branches": [
        {"id": f"branch.r{b}", "branch": b, "max_cuda": c, "source": ["cuda_rn_13_2_2"]}
        for b, c in [(450, "11.0"), (470, "11.4"), (520, "11.8"), (525, "12.0"), (530, "12.1"), (535, "12.2"),
                     (545, "12.3"), (550, "12.4"), (560, "12.6"), (570, "12.8"), (575, "12.9"), (580, "13.0")]]}
    cuda = {
        "cuda_toolkits": [
            {"id": f"cuda.{v}", "version": v, "label": v, "min_driver": d, "source": ["cuda_rn_13_2_2"]}
            for v, d in [("11.8.0", "520.61.05"), ("12.0.0", "525.60.13"), ("12.1.1", "530.30.02"),
                         ("12.2.2", "535.104.05"), ("12.3.0", "545.23.06"), ("12.4.1", "550.54.15"),
                         ("12.6.2", "560.35.03"), ("12.8.0", "570.26"), ("12.9.0", "575.51.03"),
                         ("13.0.0", "580.65.06")]],
        "mvc_floors": [
            {"id": "mvc.11", "cuda_major": 11, "min_driver": "450.80.02", "source": ["cuda_mvc"]},
            {"id": "mvc.12", "cuda_major": 12, "min_driver": "525.60.13", "source": ["cuda_mvc"]},
            {"id": "mvc.13", "cuda_major": 13, "min_driver": "580.65.06", "source": ["cuda_mvc"]},
        ],
    }
    archs = {"architectures": [
        _arch("3.7", "Kepler", None, "12.0"), _arch("5.0", "Maxwell", None, "13.0"),
        _arch("6.0", "Pascal", None, "13.0"), _arch("6.1", "Pascal", None, "13.0"),
        _arch("7.0", "Volta", None, "13.0"),
        _arch("7.5", "Turing", None, None), _arch("8.0", "Ampere", "11.0", None), _arch("8.6", "Ampere", "11.1", None),
        _arch("8.7", "Ampere (Jetson Orin)", "11.4", None), _arch("8.9", "Ada", "11.8", None),
        _arch("9.0", "Hopper", "11.8", None), _arch("10.0", "Blackwell", "12.8", None),
        _arch("12.0", "Blackwell", "12.8", None),
    ]}
    gpus = {"gpus": [
        _gpu("gpu.t4", "Tesla T4", "7.5", "Turing", 15360, aliases=["T4"]),
        _gpu("gpu.v100", "Tesla V100-SXM2-16GB", "7.0", "Volta", 16160, aliases=["V100"]),
        _gpu("gpu.a100", "NVIDIA A100-SXM4-80GB", "8.0", "Ampere", 81920, aliases=["A100"]),
        _gpu("gpu.l4", "NVIDIA L4", "8.9", "Ada", 23034, aliases=["L4"]),
        _gpu("gpu.h100", "NVIDIA H100 80GB HBM3", "9.0", "Hopper", 81559, aliases=["H100"]),
        _gpu("gpu.rtx_5090", "NVIDIA GeForce RTX 5090", "12.0", "Blackwell", 32607, "consumer",
             aliases=["RTX 5090"]),
        _gpu("gpu.orin", "Orin", "8.7", "Ampere", 62841, "jetson", "jetson", aliases=["Jetson AGX Orin 64GB"]),
    ]}
    cudnn = {"cudnn": [
        {"id": "cudnn.8.7.0", "version": "8.7.0", "builds": [{"cuda": ">=11.0,<12"}], "source": ["cudnn_sm"]},
        {"id": "cudnn.8.9.2", "version": "8.9.2", "builds": [
            {"cuda": ">=12.0,<13", "min_driver": "525.60.13", "cc": _CUDNN_CC},
            {"cuda": ">=11.0,<12", "min_driver": "450.80.02", "cc": _CUDNN_CC}], "source": ["cudnn_sm"]},
        {"id": "cudnn.8.9.7", "version": "8.9.7", "builds": [
            {"cuda": ">=12.0,<13", "min_driver": "525.60.13", "cc": _CUDNN_CC},
            {"cuda": ">=11.0,<12", "min_driver": "450.80.02", "cc": _CUDNN_CC}], "source": ["cudnn_sm"]},
        {"id": "cudnn.9.1.0", "version": "9.1.0", "builds": [
            {"cuda": ">=12.0,<13", "min_driver": "525.60.13", "cc": _CUDNN_CC},
            {"cuda": ">=11.8,<12", "min_driver": "450.80.02", "cc": _CUDNN_CC}], "source": ["cudnn_sm"]},
        {"id": "cudnn.9.3.0", "version": "9.3.0", "builds": [{"cuda": ">=12.0,<13"}], "source": ["cudnn_sm"]},
        {"id": "cudnn.9.5.1", "version": "9.5.1", "builds": [
            {"cuda": ">=12.0,<13", "min_driver": "525.60.13", "cc": _CUDNN_CC}], "source": ["cudnn_sm"]},
        {"id": "cudnn.9.10.2", "version": "9.10.2", "builds": [
            {"cuda": ">=12.8,<13", "min_driver": "570.26", "cc": _CUDNN_CC + ["10.0", "12.0"]},
            {"cuda": ">=12.0,<12.8", "min_driver": "525.60.13", "cc": _CUDNN_CC}], "source": ["cudnn_sm"]},
        {"id": "cudnn.9.13.0", "version": "9.13.0", "builds": [
            {"cuda": ">=13.0,<14", "min_driver": "580.65.06",
             "cc": ["7.5", "8.0", "8.6", "8.9", "9.0", "10.0", "12.0"]}], "source": ["cudnn_sm"]},
    ]}
    python = {"python": [{"id": f"python.{v}", "version": v, "source": _SRC} for v in
                         ["3.9", "3.10", "3.11", "3.12", "3.13"]]}
    cu128 = ["7.5", "8.0", "8.6", "9.0", "10.0", "12.0"]
    pytorch = {"framework_releases": [
        _pt("2.3", ["2.3.0", "2.3.1"], ">=3.8,<3.12", [
            _ptb("cu118", "11.8", "8.7.0.84", ["3.7"] + _CC_5_90), _ptb("cu121", "12.1", "8.9.2.26", _CC_5_90),
            _ptb("cpu", None, None, [])]),
        _pt("2.4", ["2.4.0", "2.4.1"], ">=3.8,<3.13", [
            _ptb("cu118", "11.8", "9.1.0.70", ["3.7"] + _CC_5_90), _ptb("cu121", "12.1", "9.1.0.70", _CC_5_90),
            _ptb("cu124", "12.4", "9.1.0.70", _CC_5_90, ["9.0"]), _ptb("cpu", None, None, [])]),
        _pt("2.5", ["2.5.0"], ">=3.9,<3.13", [
            {"variant": None, "platforms": ["jetson"], "bundled": {"cuda": "12.6", "cudnn": "9.3.0"},
             "sass": ["8.7"], "ptx": []}]),
        _pt("2.6", ["2.6.0"], ">=3.9,<3.14", [
            _ptb("cu118", "11.8", "9.1.0.70", ["3.7"] + _CC_5_90), _ptb("cu124", "12.4", "9.1.0.70", _CC_5_90, ["9.0"]),
            _ptb("cu126", "12.6", "9.5.1.17", _CC_5_90), _ptb("cpu", None, None, [])]),
        _pt("2.7", ["2.7.0", "2.7.1"], ">=3.9,<3.14", [
            _ptb("cu126", "12.6", "9.5.1.17", _CC_5_90), _ptb("cu128", "12.8", "9.10.2.21", cu128, ["12.0"])]),
        _pt("2.9", ["2.9.0"], ">=3.10,<3.15", [
            _ptb("cu126", "12.6", "9.10.2.21", _CC_5_90), _ptb("cu128", "12.8", "9.10.2.21", ["7.0"] + cu128),
            _ptb("cu130", "13.0", "9.13.0.50", cu128, ["12.0"])]),
    ]}
    tensorflow = {"framework_releases": [
        {"id": "tensorflow.2.16", "framework": "tensorflow", "series": "2.16", "versions": ["2.16.1"],
         "python": ">=3.9,<3.13", "source": _SRC, "builds": [
             {"variant": None, "platforms": ["x86_64"], "bundled": {"cuda": "12.3", "cudnn": "8.9.7"},
              "sass": ["5.0", "6.0", "7.0", "8.0"], "ptx": ["9.0"]}]},
    ]}
    ort = {"framework_releases": [
        {"id": "onnxruntime.1.17", "framework": "onnxruntime", "series": "1.17", "versions": ["1.17.3"],
         "python": ">=3.9,<3.13", "max_opset": 20, "source": _SRC, "builds": [
             {"variant": None, "platforms": ["x86_64"], "needs": {"cuda": ">=12.0,<13", "cudnn": ">=8,<9"},
              "cc_range": ">=5.0"}]},
        {"id": "onnxruntime.1.20", "framework": "onnxruntime", "series": "1.20", "versions": ["1.20.1"],
         "python": ">=3.10,<3.14", "max_opset": 21, "source": _SRC, "builds": [
             {"variant": None, "platforms": ["x86_64"], "needs": {"cuda": ">=12.0,<13", "cudnn": ">=9,<10"},
              "cc_range": ">=5.0"}]},
    ]}
    trt = {"framework_releases": [
        {"id": "tensorrt.10.3", "framework": "tensorrt", "series": "10.3", "versions": ["10.3.0"],
         "python": ">=3.9,<3.13", "source": _SRC, "builds": [
             {"variant": None, "platforms": ["x86_64"], "needs": {"cuda": ">=12.0,<12.7"}, "cc_range": ">=7.5"}]},
    ]}
    numeric = {"numeric_formats": [
        {"id": "num.fp16", "precision": "fp16", "min_cc": "5.3", "source": ["te_support_matrix"]},
        {"id": "num.tf32", "precision": "tf32", "min_cc": "8.0", "source": ["te_support_matrix"]},
        {"id": "num.bf16", "precision": "bf16", "min_cc": "8.0", "source": ["te_support_matrix"]},
        {"id": "num.fp8", "precision": "fp8", "min_cc": "8.9", "cc_allowed": ["8.9", "9.0", "10.0", "12.0"],
         "source": ["te_support_matrix"]},
        {"id": "num.int8", "precision": "int8", "min_cc": "6.1", "source": ["te_support_matrix"]},
        {"id": "num.fp4", "precision": "fp4", "cc_allowed": ["10.0", "12.0"], "source": ["te_support_matrix"]},
    ]}
    return {"sources.yaml": sources, "drivers.yaml": drivers, "cuda.yaml": cuda, "architectures.yaml": archs,
            "gpus.yaml": gpus, "cudnn.yaml": cudnn, "python.yaml": python, "pytorch.yaml": pytorch,
            "tensorflow.yaml": tensorflow, "onnxruntime.yaml": ort, "tensorrt.yaml": trt,
            "numeric_formats.yaml": numeric}


_MINI: Catalog | None = None


def mini_catalog() -> Catalog:
    """The mini catalog, loaded (and validated by the catalog loader) once per process."""
    global _MINI
    if _MINI is None:
        _MINI = load_catalog_from_documents(mini_catalog_documents())
    return _MINI


def fake_gpu(product: str, count: int = 1, free: int | None = None, **extra: Any) -> dict[str, Any]:
    return {"product": product, "count": count, "free": count if free is None else free, **extra}


def fake_node(name: str, *gpus: dict[str, Any], driver: str | None = "550.54.15", arch: str = "x86_64",
              cluster: str | None = None, cached: list[str] | None = None,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    node: dict[str, Any] = {"name": name, "arch": arch, "driver_version": driver, "gpus": list(gpus)}
    if cluster:
        node["cluster"] = cluster
    if cached:
        node["cached_components"] = cached
    if labels:
        node["labels"] = labels
    return node


def random_inventory(seed: int, n: int, products: Sequence[str], drivers: Sequence[str | None],
                     cached: Sequence[str]) -> dict[str, Any]:
    """A seeded inventory of `n` one-product nodes for property tests: 1, 2 or 4 GPUs (Jetson
    boards: one, on aarch64 with an L4T driver), some busy, a random driver and 0-4 cached entries."""
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        product = rng.choice(products)
        jetson = "Orin" in product
        count = 1 if jetson else rng.choice([1, 2, 4])
        nodes.append(fake_node(f"n{i:03d}", fake_gpu(product, count, rng.randint(0, count)),
                               driver="540.4.0" if jetson else rng.choice(drivers),
                               arch="aarch64" if jetson else "x86_64", cached=rng.sample(cached, rng.randint(0, 4))))
    return {"nodes": nodes}
