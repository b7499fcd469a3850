"""docs/catalog-format.md's coverage statement matches the bundled catalog, and README points to it.

The "Covered" list names version ranges (driver branches, CUDA, cuDNN, TensorRT, Python) and the
framework families; when a curator adds CUDA 13.6 or a new family, this fails until the statement
says so, so the documented coverage cannot silently fall behind the data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.version import Version

from catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "catalog-format.md").read_text(encoding="utf-8")
HEADING = "## Coverage: what the catalog covers, and what it deliberately does not"


def _section() -> str:
    start = DOC.index(HEADING)
    nxt = DOC.find("\n## ", start + len(HEADING))
    return DOC[start:nxt if nxt > 0 else None]


def _covered() -> str:
    sec = _section()
    return " ".join(sec[:sec.index("Deliberately not covered")].split())


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _series(v: Version) -> Version:
    return Version(f"{v.major}.{v.minor}")


def test_covered_version_ranges_match_the_catalog(cat):
    text = _covered()
    assert f"R{max(b.branch for b in cat.driver_branches)}" in re.search(r"driver branches up to (R\d+)", text).group(0)
    lo, hi = re.search(r"CUDA toolkits (\d+(?:\.\d+)*)-(\d+(?:\.\d+)*)", text).groups()
    cuda = sorted(t.version for t in cat.cuda_toolkits)
    assert (Version(lo), Version(hi)) == (_series(cuda[0]), _series(cuda[-1]))
    top = re.search(r"cuDNN 8\.x-(\d+(?:\.\d+)*)", text).group(1)
    assert Version(top) == _series(max(c.version for c in cat.cudnn))
    lo, hi = re.search(r"TensorRT (\d+(?:\.\d+)*)-(\d+(?:\.\d+)*)", text).groups()
    trt = [Version(r.series) for r in cat.frameworks if r.framework == "tensorrt"]
    assert (Version(lo), Version(hi)) == (min(trt), max(trt))
    lo, hi = re.search(r"Python (\d+(?:\.\d+)*)-(\d+(?:\.\d+)*)", text).groups()
    py = sorted(p.version for p in cat.python)
    assert (Version(lo), Version(hi)) == (py[0], py[-1])


def test_cpu_onnxruntime_range_matches_the_catalog(cat):
    """The CPU package's releases are their own family on the registry (freshness: onnxruntime-cpu)."""
    lo, hi = re.search(r"CPU package onnxruntime (\d+\.\d+)-(\d+\.\d+)", _covered()).groups()
    cpu = [Version(r.series) for r in cat.releases("onnxruntime") if not any(b.gpu for b in r.builds)]
    assert (Version(lo), Version(hi)) == (min(cpu), max(cpu))


def test_every_framework_family_is_named_as_covered(cat):
    text = _covered()
    names = {"pytorch": "PyTorch", "tensorflow": "TensorFlow", "onnxruntime": "ONNX Runtime",
             "tensorrt": "TensorRT", "jax": "JAX", "vllm": "vLLM", "sglang": "SGLang",
             "tensorrt-llm": "TensorRT-LLM"}
    families = {r.framework for r in cat.frameworks}
    assert families <= set(names), f"name the new family in the coverage list: {families - set(names)}"
    for fam in families:
        assert names[fam] in text, fam


def test_deliberate_exclusions_are_listed_and_readme_points_to_them():
    sec = _section()
    for excluded in ("ROCm", "Intel", "Apple MPS", "TPU", "Windows", "macOS", "Conda", "Nightly"):
        assert excluded in sec, excluded
    slug = re.sub(r"[^a-z0-9 -]", "", HEADING[3:].lower()).replace(" ", "-")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"docs/catalog-format.md#{slug}" in readme
