"""Hypothesis strategies for small, random but *valid* catalogs, inventories and requests.

The property tests (test_props_*.py) import these strategies. Catalogs are built as YAML-shaped
documents and loaded through `catalog.load_catalog_from_documents`, so every generated catalog
passes the same validation as the bundled one; the tests at the bottom prove that.

The universe is deliberately small (a handful of CUDA toolkits, architectures, drivers) so the
brute-force reference can enumerate every (runtime, node) pair, yet it contains every rule's
interesting edge: MVC vs native driver floors, SASS vs PTX, architectures removed in CUDA 13,
Jetson/aarch64 platforms, cuDNN builds with CC lists, ONNX opsets, TensorRT engines, CPU builds.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog import Catalog, load_catalog_from_documents

__all__ = [
    "ARCHS",
    "TOOLKITS",
    "catalog_documents",
    "catalogs",
    "inventory_data",
    "request_data",
    "scenarios",
]

SRC = ["t_src"]
# version, min_driver (native), driver branch that ships it
TOOLKITS = [("11.8.0", "520.61.05"), ("12.1.1", "530.30.02"), ("12.4.1", "550.54.15"),
            ("12.8.0", "570.26"), ("13.0.0", "580.65.06")]
BRANCHES = [(470, "11.4"), (520, "11.8"), (525, "12.0"), (530, "12.1"), (535, "12.2"),
            (550, "12.4"), (570, "12.8"), (580, "13.0")]
MVC = [(11, "450.80.02"), (12, "525.60.13"), (13, "580.65.06")]
# cc, name, first_cuda, removed_in
ARCHS = [("6.1", "Pascal", None, "13.0"), ("7.0", "Volta", None, "13.0"), ("7.5", "Turing", None, None),
         ("8.0", "Ampere", "11.0", None), ("8.6", "Ampere", "11.1", None), ("8.7", "Ampere", "11.4", None),
         ("8.9", "Ada", "11.8", None), ("9.0", "Hopper", "11.8", None), ("12.0", "Blackwell", "12.8", None)]
DRIVERS = [None, "450.80.02", "470.82.01", "520.61.05", "525.60.13", "530.30.02", "535.104.05",
           "550.54.15", "550.127.05", "570.26", "570.124.06", "580.65.06"]
PYTHONS = ["3.9", "3.10", "3.11", "3.12"]
PRECISIONS = ["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4"]


def _buildable(cc: str, cuda: str) -> bool:
    from packaging.version import Version

    _, _, first, removed = next(a for a in ARCHS if a[0] == cc)
    v = Version(cuda)
    return (first is None or v >= Version(first)) and (removed is None or v < Version(removed))


def _series(v: str) -> str:
    return ".".join(v.split(".")[:2])


@st.composite
def _gpu_records(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 5))
    out = []
    for i in range(n):
        cc = draw(st.sampled_from([a[0] for a in ARCHS]))
        platform = draw(st.sampled_from(["x86_64", None, "aarch64", "jetson"])) if cc == "8.7" else \
            draw(st.sampled_from(["x86_64", None, "aarch64"]))
        out.append({"id": f"gpu.g{i}", "name": f"GPU G{i}", "aliases": [f"G{i}"], "cc": cc,
                    "architecture": next(a[1] for a in ARCHS if a[0] == cc),
                    "memory_mib": draw(st.sampled_from([8192, 16384, 24576, 40960, 81920])),
                    "segment": "jetson" if platform == "jetson" else "datacenter",
                    "platform": platform, "source": SRC})
    return out


def _cudnn_records(draw: st.DrawFn, toolkits: list[str]) -> list[dict[str, Any]]:
    """cuDNN releases whose builds only name CUDA majors the catalog has (the loader insists)."""
    majors = {t.split(".")[0] for t in toolkits}
    cc_list = draw(st.none() | st.lists(st.sampled_from([a[0] for a in ARCHS]), min_size=1, unique=True))
    b12: dict[str, Any] = {"cuda": ">=12.0,<13", "min_driver": "525.60.13"}
    if cc_list is not None:
        b12["cc"] = sorted(cc_list, key=lambda c: tuple(map(int, c.split("."))))
    wanted = [("8.9.7", [{"cuda": ">=11.0,<12"}, {"cuda": ">=12.0,<13"}]),
              ("9.1.0", [b12, {"cuda": ">=11.0,<12"}]),
              ("9.10.0", [{"cuda": ">=12.0,<13"}, {"cuda": ">=13.0,<14"}])]
    recs = []
    for version, builds in wanted:
        kept = [b for b in builds if b["cuda"].split(",")[0][2:].split(".")[0] in majors]
        if kept:
            recs.append({"id": f"cudnn.{version}", "version": version, "builds": kept, "source": SRC})
    return recs


def _cudnn_for(draw: st.DrawFn, cudnn: list[dict[str, Any]], major: str) -> str | None:
    fits = [r["version"] for r in cudnn
            if any(b["cuda"].split(",")[0][2:].split(".")[0] == major for b in r["builds"])]
    return draw(st.sampled_from(fits)) + ".1" if fits else None


def _kernel_lists(draw: st.DrawFn, cuda: str) -> tuple[list[str], list[str]]:
    ok = [a[0] for a in ARCHS if _buildable(a[0], cuda) and a[0] != "8.7"]
    sass = draw(st.lists(st.sampled_from(ok), unique=True, max_size=4)) if ok else []
    ptx = draw(st.lists(st.sampled_from(ok), unique=True, max_size=1)) if ok else []
    if not sass and not ptx and ok:
        sass = [ok[-1]]
    return sorted(sass, key=lambda c: tuple(map(int, c.split(".")))), ptx


def _python_spec(draw: st.DrawFn) -> str:
    lo = draw(st.integers(0, len(PYTHONS) - 1))
    hi = draw(st.integers(lo, len(PYTHONS) - 1))
    return f">={PYTHONS[lo]},<3.{int(PYTHONS[hi].split('.')[1]) + 1}"


def _pytorch_releases(draw: st.DrawFn, toolkits: list[str], cudnn: list[dict[str, Any]]) -> list[dict]:
    out = []
    for minor in sorted(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3, unique=True))):
        builds = []
        for cuda in draw(st.lists(st.sampled_from(toolkits), min_size=1, max_size=2, unique=True)):
            sass, ptx = _kernel_lists(draw, cuda)
            if not sass and not ptx:
                continue
            major = cuda.split(".")[0]
            bundled = {"cuda": _series(cuda)}
            cudnn_v = _cudnn_for(draw, cudnn, major)
            if cudnn_v is not None:
                bundled["cudnn"] = cudnn_v
            builds.append({"variant": "cu" + _series(cuda).replace(".", ""),
                           "platforms": draw(st.sampled_from([["x86_64"], ["x86_64", "aarch64"], ["aarch64"]])),
                           "bundled": bundled, "sass": sass, "ptx": ptx})
        if draw(st.booleans()) or not builds:
            builds.append({"variant": "cpu", "platforms": ["x86_64", "aarch64"], "gpu": False})
        if draw(st.booleans()):
            sass, ptx = _kernel_lists(draw, "12.4.1" if "12.4.1" in toolkits else toolkits[0])
            cuda = "12.4.1" if "12.4.1" in toolkits else toolkits[0]
            if sass or ptx:
                builds.append({"variant": None, "platforms": ["jetson"],
                               "bundled": {"cuda": _series(cuda)}, "sass": sass, "ptx": ptx})
        out.append({"id": f"pytorch.2.{minor}", "framework": "pytorch", "series": f"2.{minor}",
                    "versions": [f"2.{minor}.0", f"2.{minor}.1"][: draw(st.integers(1, 2))],
                    "python": _python_spec(draw), "builds": builds, "source": SRC})
    return out


def _onnx_and_trt(draw: st.DrawFn, toolkits: list[str]) -> list[dict]:
    out = []
    majors = sorted({t.split(".")[0] for t in toolkits})
    for i, major in enumerate(draw(st.lists(st.sampled_from(majors), min_size=0, max_size=2, unique=True))):
        needs: dict[str, str] = {"cuda": f">={major}.0,<{int(major) + 1}"}
        if draw(st.booleans()):
            needs["cudnn"] = ">=9" if major != "11" else ">=8,<9"
        out.append({"id": f"onnxruntime.1.{17 + i}", "framework": "onnxruntime", "series": f"1.{17 + i}",
                    "versions": [f"1.{17 + i}.0"], "python": _python_spec(draw),
                    "max_opset": draw(st.sampled_from([17, 19, 21])),
                    "builds": [{"variant": None, "platforms": ["x86_64"], "needs": needs,
                                "cc_range": draw(st.sampled_from([">=6.0", ">=7.5", ">=8.0"]))},
                               {"variant": "cpu", "platforms": ["x86_64", "aarch64"], "gpu": False}],
                    "source": SRC})
    if draw(st.booleans()):
        major = draw(st.sampled_from(majors))
        out.append({"id": "tensorrt.10.3", "framework": "tensorrt", "series": "10.3",
                    "versions": ["10.3.0"], "python": _python_spec(draw),
                    "builds": [{"variant": None, "platforms": ["x86_64", "aarch64"],
                                "needs": {"cuda": f">={major}.0,<{int(major) + 1}"},
                                "cc_range": draw(st.sampled_from([">=7.5", ">=8.0"]))}],
                    "source": SRC})
    return out


@st.composite
def catalog_documents(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """A random valid catalog as {file name: document}."""
    toolkits = sorted(draw(st.lists(st.sampled_from([t[0] for t in TOOLKITS]), min_size=1, max_size=4,
                                    unique=True)), key=lambda v: tuple(map(int, v.split("."))))
    cudnn = _cudnn_records(draw, toolkits)
    fmts = [{"id": "num.bf16", "precision": "bf16", "min_cc": "8.0", "source": SRC},
            {"id": "num.fp16", "precision": "fp16", "min_cc": draw(st.sampled_from(["5.3", "7.0"])), "source": SRC},
            {"id": "num.tf32", "precision": "tf32", "min_cc": "8.0", "source": SRC},
            {"id": "num.fp8", "precision": "fp8", "min_cc": "8.9", "source": SRC},
            {"id": "num.int8", "precision": "int8", "min_cc": "7.5", "source": SRC},
            {"id": "num.fp4", "precision": "fp4", "cc_allowed": ["12.0"], "source": SRC}]
    return {
        "sources.yaml": {"sources": [{"id": "t_src", "doc": "generated", "url": "https://example.invalid",
                                      "quality": "primary"}]},
        "drivers.yaml": {"driver_branches": [{"id": f"branch.r{b}", "branch": b, "max_cuda": m, "source": SRC}
                                             for b, m in BRANCHES]},
        "cuda.yaml": {
            "cuda_toolkits": [{"id": f"cuda.{v}", "version": v, "label": v, "min_driver": d,
                               "size_bytes": 3_000_000_000 + 100_000_000 * i, "size_source": SRC, "source": SRC}
                              for i, (v, d) in enumerate(TOOLKITS) if v in toolkits],
            "mvc_floors": [{"id": f"mvc.{m}", "cuda_major": m, "min_driver": d, "source": SRC} for m, d in MVC],
        },
        "architectures.yaml": {"architectures": [
            {"id": f"arch.sm_{cc.replace('.', '')}", "cc": cc, "name": name, "first_cuda": first,
             "removed_in": removed, "source": SRC} for cc, name, first, removed in ARCHS]},
        "gpus.yaml": {"gpus": draw(_gpu_records())},
        "cudnn.yaml": {"cudnn": cudnn},
        "python.yaml": {"python": [{"id": f"python.{p}", "version": p, "source": SRC} for p in PYTHONS]},
        "frameworks.yaml": {"framework_releases": _pytorch_releases(draw, toolkits, cudnn)
                            + _onnx_and_trt(draw, toolkits)},
        "numeric_formats.yaml": {"numeric_formats": fmts},
    }


def catalogs() -> st.SearchStrategy[Catalog]:
    return catalog_documents().map(load_catalog_from_documents)


@st.composite
def inventory_data(draw: st.DrawFn, cat: Catalog, *, max_nodes: int = 4) -> dict[str, Any]:
    """A Contract-2 inventory over the catalog's GPU products (plus GPU-less nodes)."""
    nodes = []
    for i in range(draw(st.integers(1, max_nodes))):
        gpus = []
        cpu_only = draw(st.integers(0, 7)) == 0
        for gpu in [] if cpu_only else draw(st.lists(st.sampled_from(cat.gpus), min_size=1, max_size=2,
                                                     unique_by=lambda g: g.id)):
            count = draw(st.integers(1, 4))
            free = count if draw(st.booleans()) else draw(st.integers(0, count))
            entry: dict[str, Any] = {"product": gpu.name, "count": count, "free": free}
            if draw(st.integers(0, 5)) == 0:    # MIG devices of the product (one per replica)
                entry["mig_profile"] = draw(st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "1g.5gb+me"]))
                if draw(st.booleans()):
                    entry["memory_mib"] = draw(st.sampled_from([4864, 9856, 19968, 40192]))
            gpus.append(entry)
        arch = draw(st.sampled_from(["x86_64", "aarch64"]))
        cached = draw(st.lists(st.sampled_from(_cache_candidates(cat)), max_size=3, unique=True))
        node: dict[str, Any] = {"name": f"n{i}", "arch": arch, "driver_version": draw(st.sampled_from(DRIVERS)),
                                "gpus": gpus, "cached_components": cached}
        if draw(st.booleans()):
            node["cluster"] = draw(st.sampled_from(["c1", "c2"]))
        nodes.append(node)
    return {"nodes": nodes}


def _cache_candidates(cat: Catalog) -> list[str]:
    out = [f"cuda/{t.version}" for t in cat.cuda_toolkits]
    out += [f"python/{p.version}" for p in cat.python]
    out += [f"{ref.framework}/{ref.label}" for ref in cat.builds()][:6]
    return out or ["python/3.11"]


@st.composite
def request_data(draw: st.DrawFn, cat: Catalog) -> dict[str, Any]:
    """A Contract-1 model request that mentions things the catalog knows (and sometimes doesn't)."""
    frameworks = sorted({r.framework for r in cat.frameworks}) + ["none"]
    fw = draw(st.sampled_from(frameworks))
    req: dict[str, Any] = {"framework": fw}
    gpu_count = draw(st.sampled_from([1, 1, 1, 2, 0]))
    req["gpu_count"] = gpu_count
    if fw != "none" and draw(st.booleans()):
        versions = sorted({str(v) for r in cat.releases(fw) for v in r.versions})
        pivot = draw(st.sampled_from(versions))
        req["framework_version"] = draw(st.sampled_from([f">={pivot}", f"<{pivot}", f"=={pivot}"]))
    if draw(st.integers(0, 2)) == 0:
        req["python"] = draw(st.sampled_from([">=3.10", "<3.11", "==3.12", ">=3.9"]))
    if draw(st.booleans()):
        req["precision"] = draw(st.sampled_from(PRECISIONS))
    if draw(st.booleans()):
        req["min_gpu_memory_gib"] = draw(st.sampled_from([4, 16, 30, 60]))
    if draw(st.integers(0, 3)) == 0:
        req["arch"] = [draw(st.sampled_from(["x86_64", "aarch64"]))]
    kinds = [None, None, "onnx", "safetensors"] + (["tensorrt-engine"] * 2 if fw == "tensorrt" else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "onnx":
        req["format"] = {"kind": "onnx", "opset": draw(st.sampled_from([13, 17, 19, 21]))}
    elif kind == "tensorrt-engine":
        req["format"] = {"kind": "tensorrt-engine", "tensorrt_version": "10.3.0",
                         "compute_capability": draw(st.sampled_from([a[0] for a in ARCHS]))}
    elif kind is not None:
        req["format"] = {"kind": kind}
    if draw(st.integers(0, 5)) == 0:
        req["requires"] = draw(st.sampled_from([{"cudnn": ">=9"}, {"cuda": "<12.4"}, {"cuda": ">=12"}]))
    return req


@st.composite
def scenarios(draw: st.DrawFn, *, max_nodes: int = 4) -> tuple[Catalog, dict[str, Any], dict[str, Any]]:
    """(catalog, request data, inventory data) for one single-selection property check."""
    cat = draw(catalogs())
    return cat, draw(request_data(cat)), draw(inventory_data(cat, max_nodes=max_nodes))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_documents())
def test_generated_catalogs_are_valid(docs: dict[str, dict[str, Any]]) -> None:
    cat = load_catalog_from_documents(docs)  # raises CatalogInvalid with every problem otherwise
    assert cat.gpus and cat.cuda_toolkits and cat.frameworks
    assert any(ref.build.gpu for ref in cat.builds("pytorch"))
    assert load_catalog_from_documents(cat.to_documents()).revision == cat.revision
