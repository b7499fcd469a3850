"""Which catalog builds rest on artifact evidence (issue #13: "evidence --check passes on the
evidence of every framework build whose artifact is on the registry").

Offline: reads the bundled catalog and the stored evidence JSON files.
"""

from __future__ import annotations

import pytest

from catalog import load_catalog
from catalog.evidence import EVIDENCE_DIR, checkable, find_build, load_evidence_dir

# framework releases whose registry (PyPI) wheel was read; each must cite its evidence
READ_FROM_THE_REGISTRY = {
    "pytorch.1.13", "pytorch.2.0", "pytorch.2.1", "pytorch.2.2", "pytorch.2.3", "pytorch.2.4", "pytorch.2.5",
    "pytorch.2.6", "pytorch.2.7", "pytorch.2.8", "pytorch.2.9", "pytorch.2.10.pypi", "pytorch.2.11",
    "pytorch.2.12.pypi", "pytorch.2.13", "pytorch.2.14", "pytorch.2.15",
    "tensorflow.2.10", "tensorflow.2.11", "tensorflow.2.12", "tensorflow.2.13", "tensorflow.2.14", "tensorflow.2.15",
    "tensorflow.2.16", "tensorflow.2.17", "tensorflow.2.18", "tensorflow.2.19", "tensorflow.2.20", "tensorflow.2.21",
    "onnxruntime.1.13", "onnxruntime.1.14", "onnxruntime.1.15", "onnxruntime.1.16", "onnxruntime.1.17",
    "onnxruntime.1.18", "onnxruntime.1.19", "onnxruntime.1.20", "onnxruntime.1.21", "onnxruntime.1.22",
    "onnxruntime.1.23", "onnxruntime.1.24", "onnxruntime.1.25", "onnxruntime.1.26", "onnxruntime.1.27",
    "onnxruntime.1.28", "onnxruntime.1.29", "onnxruntime.1.30", "onnxruntime.1.31",
    "jax.0.12", "tensorrt.8.5", "tensorrt.8.6", "tensorrt.10.0", "tensorrt.10.1", "tensorrt.10.2", "tensorrt.10.3",
    "tensorrt.10.4", "tensorrt.10.5", "tensorrt.10.6", "tensorrt.10.7", "tensorrt.10.8", "tensorrt.10.9",
    "tensorrt.10.10", "tensorrt.10.11", "tensorrt.10.12", "tensorrt.10.13", "tensorrt.10.14", "tensorrt.10.15",
    "tensorrt.10.13.0", "tensorrt.10.16", "tensorrt.11.0", "tensorrt.11.1", "tensorrt.11.2", "tensorrt.11.3", "tensorrt.11.4",
    "vllm.0.27", "vllm.0.28", "vllm.0.29", "vllm.0.30", "vllm.0.31", "vllm.0.32", "vllm.0.33", "sglang.0.5.23",
}


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def stored():
    return load_evidence_dir(EVIDENCE_DIR)


def test_releases_read_from_the_registry_cite_their_evidence(cat):
    citing = {r.release.id for r in cat.builds() if r.build.evidence}
    assert READ_FROM_THE_REGISTRY - citing == set()


def test_tensorrt_builds_cite_the_bindings_wheel_of_their_cuda_major(cat):
    """Every TensorRT 10.x/11.x build has a Python bindings wheel on PyPI for its CUDA major."""
    missing = [f"{r.release.id} [{r.build.variant}]" for r in cat.builds("tensorrt")
               if r.release.id.startswith(("tensorrt.10.", "tensorrt.11.")) and not r.build.evidence]
    assert missing == []


def test_every_stored_framework_evidence_is_cited_by_its_build(cat, stored):
    """A stored file nobody cites is never checked by `validate`: each must be cited."""
    orphans = []
    for name, ev in stored.items():
        if not checkable(ev) or ev.project.startswith("nvidia-"):
            continue
        ref = find_build(cat, ev)
        if ref is None or not any(name in b.evidence for b in ref.release.builds):
            orphans.append(name)
    assert orphans == []


def test_tensorflow_2_15_arch_list_is_the_wheels(cat, stored):
    """The record held SASS 5.0-8.0 without 7.5 and PTX 9.0 (a later TF config); both 2.15 wheels
    carry SASS sm_50/60/70/75/80 and PTX compute_80."""
    build = next(r.build for r in cat.builds("tensorflow") if r.release.id == "tensorflow.2.15")
    for name in ("tensorflow-2.15.0-x86_64.json", "tensorflow-2.15.1-x86_64.json"):
        dc = stored[name].device_code
        assert [f"{v.major}.{v.minor}" for v in build.sass] == dc["sass"] == ["5.0", "6.0", "7.0", "7.5", "8.0"]
        assert [f"{v.major}.{v.minor}" for v in build.ptx] == dc["ptx"] == ["8.0"]
        assert stored[name].components["cudnn"] == "8.9.4.25"     # the and-cuda extra's pin


def test_onnxruntime_gpu_builds_state_their_python_range(cat, stored):
    """ONNX Runtime 1.13-1.16 and 1.20 had no Python range, so an answer could pick Python 3.14;
    the range is the registry's wheel files (the wheels name no Requires-Python)."""
    for rid, name in [("onnxruntime.1.13", "onnxruntime-gpu-1.13.1-x86_64.json"),
                      ("onnxruntime.1.16", "onnxruntime-gpu-1.16.3-x86_64.json"),
                      ("onnxruntime.1.20", "onnxruntime-gpu-1.20.2-x86_64.json")]:
        release = next(r for r in cat.releases("onnxruntime") if r.id == rid)
        assert release.python is not None, rid
        allowed = [p for p in ("3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
                   if release.python.contains(p)]
        assert allowed == list(stored[name].python_files), rid
    for r in cat.releases("onnxruntime"):
        assert r.python is not None, r.id


def test_tensorflow_2_15_installs_cudnn_8_9_4_and_the_answer_says_so(cat):
    """and-cuda pins nvidia-cudnn-cu12==8.9.4.25; the runtime named must be that cuDNN, not 8.9.7."""
    from solver import select

    ans = select(cat, {"framework": "tensorflow", "framework_version": "==2.15.1"},
                 {"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": "535.54.03",
                             "gpus": [{"product": "NVIDIA L4"}]}]}).to_dict()
    assert ans["feasible"] and ans["choice"]["runtime"]["cudnn"] == "8.9.4"


def test_jax_cuda12_needs_the_cuda_of_its_ptxas(stored):
    """jax-cuda12-plugin asks for the CUDA runtime >=12.1.105 but nvcc (ptxas) >=12.6.85: the CUDA
    range an artifact states joins every CUDA-versioned requirement, so it reads >=12.6."""
    from packaging.specifiers import SpecifierSet

    from catalog.evidence.check import _coarse

    spec = _coarse(stored["jax-cuda12-plugin-0.12.0-x86_64.json"].components["cuda"], 2)
    assert not spec.contains("12.5") and spec.contains("12.6") and not spec.contains("13.0")
    assert SpecifierSet(">=12.6,<13").contains("12.9")


def test_pjrt_and_aarch64_jax_wheels_map_to_their_builds(cat, stored):
    for name, variant, platform in [("jax-cuda12-pjrt-0.12.0-x86_64.json", "cuda12", "x86_64"),
                                    ("jax-cuda13-plugin-0.12.0.1-aarch64.json", "cuda13", "aarch64")]:
        ref = find_build(cat, stored[name])
        assert ref is not None and ref.build.variant == variant and platform in ref.build.platforms


def test_every_gpu_release_states_a_python_range(cat):
    """TensorRT 8.5/8.6/10.0/10.1/10.6/10.8/10.13 and ONNX Runtime 1.13-1.16/1.20 had none: an answer
    could pick any Python. Each range now comes from the registry's wheel files (evidence)."""
    missing = sorted({r.release.id for r in cat.builds() if r.build.gpu and r.release.python is None})
    assert missing == [], missing


def test_no_pytorch_cu13x_build_claims_ptx_no_cu13_wheel_carries(cat, stored):
    """The release matrix says 12.0+PTX for cu130/cu132; every CUDA 13 wheel read has no PTX in
    libtorch_cuda.so, so no unread cu13x build claims it (item 8 of issue #13, marked honestly)."""
    cu13_wheels = [ev for n, ev in stored.items() if n.startswith("torch-2.1") and ev.components.get("cuda", "")
                   .startswith("13.")]
    assert len(cu13_wheels) >= 8 and all(ev.device_code["ptx"] == [] for ev in cu13_wheels)
    claims = [r.label for r in cat.builds("pytorch") if r.build.variant in ("cu130", "cu132") and r.build.ptx]
    assert claims == []
