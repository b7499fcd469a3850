"""Engine releases (vLLM, SGLang) pin an exact PyTorch: the pin must be a catalogued build."""

from __future__ import annotations

import pytest

from catalog import CatalogInvalid, load_catalog
from tests.catalog.conftest import write_catalog


def _vllm(torch: str, cuda: str = "12.4", platforms: list[str] | None = None) -> dict:
    return {"id": "vllm.0.9", "framework": "vllm", "series": "0.9", "versions": ["0.9.0"], "python": ">=3.10",
            "source": ["rn"], "builds": [{"variant": None, "platforms": platforms or ["x86_64"],
                                           "bundled": {"pytorch": torch, "cuda": cuda}, "sass": ["8.0"]}]}


def test_engine_pinning_a_catalogued_torch_loads(tmp_path, mini_docs):
    mini_docs["vllm.yaml"] = {"framework_releases": [_vllm("2.4.1")]}
    cat = load_catalog(write_catalog(tmp_path / "c", mini_docs))
    ref = next(iter(cat.builds("vllm")))
    assert str(ref.build.bundled["pytorch"]) == "2.4.1" and ref.label == "0.9.0"


@pytest.mark.parametrize(("torch", "cuda", "platforms", "message"), [
    ("2.9.0", "12.4", None, "pins torch 2.9.0, which has no catalogued PyTorch build for x86_64"),
    ("2.4.1", "12.4", ["aarch64"], "has no catalogued PyTorch build for aarch64"),
    ("2.4.1", "12.2", None, "bundles CUDA 12.2 but the catalogued torch 2.4.1 builds ship CUDA 12.4"),
])
def test_engine_pin_must_match_a_torch_build(tmp_path, mini_docs, torch, cuda, platforms, message):
    mini_docs["vllm.yaml"] = {"framework_releases": [_vllm(torch, cuda, platforms)]}
    with pytest.raises(CatalogInvalid) as e:
        load_catalog(write_catalog(tmp_path / "c", mini_docs))
    found = [p for p in e.value.problems if p.field == "builds[0].bundled.pytorch"]
    assert found and message in found[0].message, e.value.problems


def test_unknown_bundled_kind_is_refused(tmp_path, mini_docs):
    rel = _vllm("2.4.1")
    rel["builds"][0]["bundled"]["tensorflow"] = "2.18"
    mini_docs["vllm.yaml"] = {"framework_releases": [rel]}
    with pytest.raises(CatalogInvalid) as e:
        load_catalog(write_catalog(tmp_path / "c", mini_docs))
    assert any(p.field == "builds[0].bundled.tensorflow" for p in e.value.problems)


def test_bundled_catalog_engines_and_jax():
    cat = load_catalog()
    vllm = {r.label: r for r in cat.builds("vllm") if "x86_64" in r.build.platforms}
    assert str(vllm["0.33.0"].build.bundled["pytorch"]) == "2.14.0"
    assert str(min(vllm["0.33.0"].build.sass)) == "7.5"
    jax = {r.label for r in cat.builds("jax")}
    assert {"0.12.0.1+cuda12", "0.12.0.1+cuda13"} <= jax


def test_evidence_of_a_jax_plugin_finds_its_extra_variant():
    from types import SimpleNamespace

    from catalog.evidence.check import find_build

    cat = load_catalog()
    for project, variant in (("jax-cuda13-plugin", "cuda13"), ("jax-cuda12-plugin", "cuda12")):
        ev = SimpleNamespace(project=project, version="0.12.0.1", platform="x86_64", components={"cuda": ">=12.1"},
                             device_code=None)
        ref = find_build(cat, ev)
        assert ref is not None and ref.build.variant == variant and "x86_64" in ref.build.platforms
