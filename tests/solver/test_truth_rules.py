"""Regression tests for the rule errors a review of the catalog found (issue: catalog truth).

Each test names the item it pins; each failed on the code before the fix. `why` (catalog) and
`select` (solver) are checked together where both answer, since one rule definition serves both.
"""

from __future__ import annotations

import copy

import pytest
from packaging.version import Version

from catalog import load_catalog, load_catalog_from_documents
from catalog.compat import check_cudnn_gpu, check_driver_window, cudnn_supports, why
from solver import select
from tests.catalog.conftest import mini_documents


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _node(product: str, driver: str, arch: str = "x86_64", name: str = "n1") -> dict:
    return {"name": name, "arch": arch, "driver_version": driver, "gpus": [{"product": product}]}


def _select(catalog, model: dict, *nodes: dict):
    return select(catalog, model, {"nodes": list(nodes)}).to_dict()


# -- item 1: cuDNN lists one CC per architecture; binary compatibility reaches the rest ---------

def _maxwell_docs(cc_list: list[str] | None) -> dict:
    docs = copy.deepcopy(mini_documents())
    docs["architectures.yaml"]["architectures"] += [
        {"id": "arch.sm_50", "cc": "5.0", "name": "Maxwell", "source": ["rn"]},
        {"id": "arch.sm_52", "cc": "5.2", "name": "Maxwell", "source": ["rn"]}]
    docs["gpus.yaml"]["gpus"].append({"id": "gpu.m60", "name": "Tesla M60", "cc": "5.2", "architecture": "Maxwell",
                                      "memory_mib": 8129, "segment": "datacenter", "source": ["rn"]})
    build = {"cuda": ">=12.0,<13", "min_driver": "525.60.13"}
    if cc_list is not None:
        build["cc"] = cc_list
    docs["cudnn.yaml"]["cudnn"][0]["builds"] = [build]
    rel = docs["pytorch.yaml"]["framework_releases"][0]
    rel["builds"][0]["sass"] = ["5.0", "7.5", "8.0"]
    return docs


def test_cudnn_cc_list_uses_same_major_binary_compatibility():
    assert cudnn_supports((Version("5.0"), Version("6.0")), Version("5.2"))
    assert not cudnn_supports((Version("5.2"),), Version("5.0"))       # lower minor: no
    assert not cudnn_supports((Version("8.0"),), Version("9.0"))       # other major: no
    cat = load_catalog_from_documents(_maxwell_docs(["5.0", "7.5", "8.0"]))
    assert check_cudnn_gpu(cat, Version("9.1.0.70"), Version("12.4"), Version("5.2")).ok
    out = _select(cat, {"framework": "pytorch"}, _node("Tesla M60", "550.54.15"))
    assert out["feasible"], out
    gpu = cat.gpu("Tesla M60")
    ref = cat.find_build("pytorch", "2.4.1+cu124")
    assert all(c.ok for c in why(cat, ref, gpu, Version("550.54.15")))


# -- item 2: missing data never passes; answers carry a confidence, strict refuses ------------------

def test_cudnn_without_cc_list_is_unverified_and_strict_refuses():
    cat = load_catalog_from_documents(_maxwell_docs(None))
    out = _select(cat, {"framework": "pytorch"}, _node("NVIDIA L4", "550.54.15"))
    assert out["feasible"] and out["confidence"] == "unverified"
    assert any("no GPU support list" in g for g in out["gaps"]), out["gaps"]
    strict = _select(cat, {"framework": "pytorch", "strict": True}, _node("NVIDIA L4", "550.54.15"))
    assert not strict["feasible"]
    assert [c["rule"] for c in strict["conflicts"] if c["rule"] != "node-rejections"] == ["unverified"]
    assert "no GPU support list" in strict["conflicts"][0]["message"]


def test_cudnn_without_record_fails_its_check(cat):
    assert not check_cudnn_gpu(cat, Version("1.2.3"), Version("12.4"), Version("8.9")).ok


def test_verified_answer_says_so():
    cat = load_catalog_from_documents(_maxwell_docs(["5.0", "7.5", "8.0", "8.9"]))
    out = _select(cat, {"framework": "pytorch"}, _node("NVIDIA L4", "550.54.15"))
    assert out["feasible"] and out["confidence"] == "verified" and out["gaps"] == []


def test_cudnn_9_refuses_kepler(cat):
    """cuDNN 9.1.0 (matrix: CC >= 5.0) no longer passes a Kepler GPU for lack of a CC list."""
    check = check_cudnn_gpu(cat, Version("9.1.0.70"), Version("11.8"), Version("3.7"))
    assert not check.ok and check.rule == "cudnn-no-gpu-support"


# -- item 3: TensorFlow 2.16 / 2.17 are selectable (cuDNN 8.9.7 with CUDA 12.3) ---------------------

@pytest.mark.parametrize("version", ["2.16.1", "2.17.0"])
def test_tensorflow_216_217_selectable_and_why_agrees(cat, version):
    out = _select(cat, {"framework": "tensorflow", "framework_version": f"=={version}"},
                  _node("NVIDIA L4", "550.54.15"))
    assert out["feasible"], out
    rt = out["choice"]["runtime"]
    assert rt["tensorflow"] == version and rt["cuda"] == "12.3" and rt["cudnn"].startswith("8.9")
    ref = cat.find_build("tensorflow", version)
    assert all(c.ok for c in why(cat, ref, cat.gpu("NVIDIA L4"), Version("550.54.15")))


# -- item 4: PTX JIT needs a driver that natively supports the toolkit that built the framework ------

def test_ptx_jit_needs_the_build_toolkits_driver(cat):
    """ONNX Runtime 1.18 (CUDA 12 build, SASS up to 8.0, PTX 8.0) on an H100 runs only through PTX:
    a CUDA 12.0 runtime's MVC floor (525) is not enough; the 12.x toolkit that compiled it counts."""
    out = _select(cat, {"framework": "onnxruntime", "framework_version": "==1.18.1", "requires": {"cuda": ">=12"}},
                  _node("NVIDIA H100 80GB HBM3", "525.85.12"))
    assert not out["feasible"], out
    assert "driver-too-old" in {c["rule"] for c in out["conflicts"]}, out["conflicts"]
    ref = next(r for r in cat.builds("onnxruntime") if str(r.version) == "1.18.1" and r.build.variant == "cu12")
    checks = why(cat, ref, cat.gpu("NVIDIA H100 80GB HBM3"), Version("525.85.12"), cuda=Version("12.0"))
    assert [c.rule for c in checks if not c.ok] == ["driver-too-old"]


# -- item 5: driver-branch windows of GPU architectures are enforced -------------------------------

def test_volta_on_r590_and_blackwell_on_r550_are_refused(cat):
    assert check_driver_window(cat, Version("7.0"), Version("590.44.01")).rule == "driver-too-new-for-gpu"
    assert check_driver_window(cat, Version("12.0"), Version("550.54.15")).rule == "driver-too-old-for-gpu"
    assert check_driver_window(cat, Version("7.0"), Version("580.65.06")).ok
    v100 = _select(cat, {"framework": "pytorch"}, _node("Tesla V100-SXM2-16GB", "590.44.01"))
    assert not v100["feasible"]
    assert {c["rule"] for c in v100["conflicts"]} - {"node-rejections"} == {"driver-too-new-for-gpu"}, v100["conflicts"]
    rtx = _select(cat, {"framework": "pytorch"}, _node("NVIDIA GeForce RTX 5090", "550.54.15"))
    assert not rtx["feasible"]
    assert "driver-too-old-for-gpu" in {c["rule"] for c in rtx["conflicts"]}, rtx["conflicts"]


def test_planning_mode_gives_old_gpus_a_driver_of_their_last_branch(cat):
    out = select(cat, {"framework": "pytorch", "framework_version": "==2.8.0"}, None, top=50).to_dict()
    assert out["feasible"]
    products = {a["gpu"]["product"] for a in [out["choice"], *out["alternatives"]] if a["gpu"]}
    assert any("V100" in p for p in products) or len(products) >= 50, products


# -- item 6: Jetson Thor (JetPack 7) is SBSA aarch64 and takes the aarch64 wheels -------------------

def test_thor_is_aarch64_and_runs_the_cu130_aarch64_wheel(cat):
    thor = cat.gpu("NVIDIA Thor")
    assert thor.platform is None
    out = _select(cat, {"framework": "pytorch", "framework_version": ">=2.11"},
                  _node("NVIDIA Thor", "580.65.06", arch="aarch64"))
    assert out["feasible"], out
    assert out["choice"]["runtime"]["cuda"].startswith("13.")


# -- item 7: a refusal names the missing build or component, not "outside the requested range" ----

def test_requested_version_without_a_build_for_the_platform_names_the_platform(cat):
    out = _select(cat, {"framework": "pytorch", "framework_version": "==2.3.1"},
                  _node("NVIDIA GH200 480GB", "550.54.15", arch="aarch64"))
    assert not out["feasible"]
    rules = [c["rule"] for c in out["conflicts"]]
    assert "framework-version" not in rules and rules[0] == "platform-mismatch", out["conflicts"]
    assert "pytorch 2.3.1" in out["conflicts"][0]["message"] and "aarch64" in out["conflicts"][0]["message"]


def test_requested_version_whose_needs_match_no_component_says_so(cat):
    docs = copy.deepcopy(dict(cat.documents))
    docs["cudnn.yaml"] = {"cudnn": [c for c in docs["cudnn.yaml"]["cudnn"] if c["id"] != "cudnn.8.9.7"]}
    without = load_catalog_from_documents(docs)
    out = _select(without, {"framework": "tensorflow", "framework_version": "==2.16.1"},
                  _node("NVIDIA L4", "550.54.15"))
    assert not out["feasible"]
    first = out["conflicts"][0]
    assert first["rule"] == "no-component", out["conflicts"]
    assert "cuDNN ==8.9.*" in first["message"] and "CUDA 12.3" in first["message"]
    assert "framework-version" not in [c["rule"] for c in out["conflicts"]]


def test_a_version_missing_from_the_catalog_still_blames_the_range(cat):
    out = _select(cat, {"framework": "pytorch", "framework_version": "==1.0.0"}, _node("NVIDIA L4", "550.54.15"))
    assert not out["feasible"] and out["conflicts"][0]["rule"] == "framework-version"
