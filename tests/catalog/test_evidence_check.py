"""Evidence against the catalog: `check_evidence`, `rtfit catalog evidence --check`, `validate`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from catalog import load_catalog
from catalog.evidence import (
    EVIDENCE_DIR,
    Evidence,
    EvidenceInvalid,
    check_evidence,
    evidence_problems,
    load_evidence,
    load_evidence_dir,
)
from catalog.evidence.pins import Pin
from rtfit.cli import app
from tests.catalog.conftest import write_catalog

runner = CliRunner()


def _ev(**over) -> Evidence:
    base = dict(project="torch", version="2.4.1", platform="x86_64", file="torch-2.4.1-cp310-cp310-x.whl",
                read="wheel", tags=("cp310-cp310-manylinux1_x86_64",),
                pins=(Pin("nvidia-cuda-runtime-cu12", "==12.4.99"), Pin("nvidia-cudnn-cu12", "==9.1.0.70")),
                components={"cuda": "12.4", "cudnn": "9.1.0.70"},
                device_code={"primary": "torch/lib/libtorch_cuda.so", "sass": ["7.5", "8.0"], "ptx": ["9.0"],
                             "partial": [], "libraries": {}})
    base.update(over)
    return Evidence(**base)


def _mini(tmp_path, mini_docs, variant="cu124"):
    mini_docs["pytorch.yaml"]["framework_releases"][0]["builds"][0]["variant"] = variant
    return load_catalog(write_catalog(tmp_path / "c", mini_docs))


def test_agreeing_evidence_has_no_mismatch(tmp_path, mini_docs):
    cat = _mini(tmp_path, mini_docs)
    assert check_evidence(cat, _ev(version="2.4.1+cu124")) == []


def test_default_wheel_matches_the_variant_with_its_cuda(tmp_path, mini_docs):
    cat = _mini(tmp_path, mini_docs)  # no variant-null build: the default wheel is the cu124 one
    assert check_evidence(cat, _ev()) == []


def test_cublas_and_nccl_ranges_the_catalog_does_not_model_are_not_disagreements(tmp_path, mini_docs):
    # torch 2.12.1 pins nvidia-cublas as a range (<=13.1.1.3,>=13.1.0.3); the catalog models no cuBLAS need
    cat = _mini(tmp_path, mini_docs)
    ev = _ev(version="2.4.1+cu124", components={"cuda": "12.4", "cudnn": "9.1.0.70",
                                                "cublas": "<=13.1.1.3,>=13.1.0.3", "nccl": ">=2.21"})
    assert check_evidence(cat, ev) == []


def test_each_disagreement_names_field_catalog_and_artifact(tmp_path, mini_docs):
    cat = _mini(tmp_path, mini_docs)
    ev = _ev(components={"cuda": "12.4", "cudnn": "9.1.0.77"},
             device_code={"primary": "x", "sass": ["7.5", "8.0", "8.6"], "ptx": [], "partial": [], "libraries": {}},
             tags=("cp313-cp313-manylinux1_x86_64",))
    got = {m.field: (m.catalog, m.artifact) for m in check_evidence(cat, ev)}
    assert got["bundled.cudnn"] == ("9.1.0.70", "9.1.0.77")
    assert got["sass"] == ("[7.5, 8.0]", "[7.5, 8.0, 8.6]")
    assert got["ptx"] == ("[9.0]", "[]")
    assert got["python"][0] == "<3.13,>=3.8" and "3.13" in got["python"][1]


def test_python_files_from_the_registry_compare_as_a_set(tmp_path, mini_docs):
    cat = _mini(tmp_path, mini_docs)  # python: >=3.8,<3.13; catalogued Pythons: 3.10, 3.11
    assert check_evidence(cat, _ev(python_files=("3.10", "3.11"))) == []
    (m,) = check_evidence(cat, _ev(python_files=("3.11",)))
    assert m.field == "python" and "3.10, 3.11" in m.catalog and m.artifact == "wheels for 3.11"


def test_unknown_release_and_wrong_platform(tmp_path, mini_docs):
    cat = _mini(tmp_path, mini_docs)
    (m,) = check_evidence(cat, _ev(version="2.9.0"))
    assert m.field == "build" and "torch 2.9.0" in m.artifact
    ms = check_evidence(cat, _ev(platform="aarch64"))
    assert [m.field for m in ms] == ["platforms"] and ms[0].catalog == "[x86_64]"


def test_cli_check_exits_nonzero_naming_the_field(tmp_path, mini_docs):
    folder = write_catalog(tmp_path / "c", mini_docs)
    bad = tmp_path / "torch-2.4.1+cu124-x86_64.json"
    bad.write_text(_ev(version="2.4.1+cu124", components={"cuda": "12.1", "cudnn": "9.1.0.70"}).to_json())
    res = runner.invoke(app, ["catalog", "evidence", str(bad), "--check", "--catalog", str(folder)])
    assert res.exit_code == 1, res.output
    assert "bundled.cuda" in res.output and "12.4" in res.output and "12.1" in res.output
    good = tmp_path / "torch-2.4.1+cu124-x86_64.json"
    good.write_text(_ev(version="2.4.1+cu124").to_json())
    res = runner.invoke(app, ["catalog", "evidence", str(good), "--check", "--catalog", str(folder), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)[0]["mismatches"] == []


def test_validate_reports_evidence_the_build_contradicts(tmp_path, mini_docs):
    build = mini_docs["pytorch.yaml"]["framework_releases"][0]["builds"][0]
    build["evidence"] = ["torch-2.4.1+cu124-x86_64.json"]
    folder = write_catalog(tmp_path / "c", mini_docs)
    res = runner.invoke(app, ["catalog", "validate", "--catalog", str(folder)])
    assert res.exit_code == 1 and "torch-2.4.1+cu124-x86_64.json" in res.output  # missing file
    (folder / "evidence").mkdir()
    (folder / "evidence" / "torch-2.4.1+cu124-x86_64.json").write_text(
        _ev(version="2.4.1+cu124", device_code={"primary": "x", "sass": ["8.0"], "ptx": ["9.0"], "partial": [],
                                               "libraries": {}}).to_json())
    res = runner.invoke(app, ["catalog", "validate", "--catalog", str(folder), "--json"])
    assert res.exit_code == 1
    (p,) = json.loads(res.output)["problems"]
    assert p["record"] == "pytorch.2.4" and p["field"] == "builds[0].sass" and "[7.5, 8.0]" in p["message"]
    build["sass"] = ["8.0"]
    write_catalog(folder, mini_docs)
    assert runner.invoke(app, ["catalog", "validate", "--catalog", str(folder)]).exit_code == 0


def test_evidence_file_format_is_checked(tmp_path):
    p = tmp_path / "torch-1-x86_64.json"
    p.write_text(json.dumps({"evidence": 1, "project": "torch", "version": "1", "platform": "x86_64",
                             "file": "f.whl", "read": "wheel", "device_code": {"sass": "7.5"}}))
    with pytest.raises(EvidenceInvalid, match="device_code"):
        load_evidence(p)
    p.write_text(_ev(version="1").to_json())
    renamed = tmp_path / "other.json"
    p.rename(renamed)
    with pytest.raises(EvidenceInvalid, match="file name must be torch-1-x86_64.json"):
        load_evidence(renamed)


def test_stored_evidence_agrees_with_the_bundled_catalog():
    """`rtfit catalog evidence --stored --check` passes: every stored file matches its build."""
    stored = load_evidence_dir(EVIDENCE_DIR)
    assert stored, "no evidence stored"
    cat = load_catalog()
    bad = {name: [str(m) for m in check_evidence(cat, ev)] for name, ev in stored.items()}
    assert {k: v for k, v in bad.items() if v} == {}
    assert evidence_problems(cat, EVIDENCE_DIR) == []
    from catalog.evidence import checkable

    unchecked = [n for n, ev in stored.items() if not checkable(ev)]
    assert all(n.startswith("nvidia-") for n in unchecked), unchecked  # NVIDIA runtime wheels, for reference
    cited = {n for r in cat.frameworks for b in r.builds for n in b.evidence}
    assert cited <= set(stored), cited - set(stored)


@pytest.mark.skipif(not Path("/opt/pypi-more/files").is_dir(), reason="no local wheel mirror")
def test_stored_evidence_of_local_wheels_is_reproduced():
    """Evidence stored from a wheel that is on this machine is read again and must be identical."""
    from catalog.evidence import read_wheel

    redone = 0
    for ev in load_evidence_dir(EVIDENCE_DIR).values():
        path = Path("/opt/pypi-more/files") / ev.file
        if ev.read != "wheel" or not path.exists() or path.stat().st_size > 300 << 20:
            continue
        again = read_wheel(path)
        assert again.components == ev.components and again.device_code == ev.device_code, ev.name
        redone += 1
    if redone == 0:
        pytest.skip("no stored evidence of a small local wheel")


@pytest.mark.skipif(os.environ.get("RTFIT_REGISTRY_TESTS") != "1", reason="set RTFIT_REGISTRY_TESTS=1 (network)")
def test_registry_probe_reads_a_small_nvidia_wheel_by_range():
    from catalog.evidence import probe

    ev = probe("nvidia-nvtx==13.0.85", machine="x86_64", via="range")
    assert ev.project == "nvidia-nvtx" and ev.version == "13.0.85" and ev.read == "registry-metadata"
    assert ev.python_files == ("py3",) and ev.sha256


def test_requirement_ranges_compare_at_the_catalogs_granularity():
    """TensorFlow 2.20's and-cuda extra asks for `nvidia-cuda-runtime-cu12>=12.5.82,<13.0`: the same
    CUDA series as the catalog's `>=12.5,<13`, so no mismatch; a range that drops 12.5 is one."""
    from packaging.specifiers import SpecifierSet

    from catalog.evidence.check import same_range

    cat = load_catalog()
    assert same_range(cat, "cuda", SpecifierSet(">=12.5,<13"), "<13.0,>=12.5.82")
    assert not same_range(cat, "cuda", SpecifierSet(">=12.5,<13"), ">=12.6.3,<13.0")
    assert same_range(cat, "cudnn", SpecifierSet(">=9.3.0,<10"), "<10.0,>=9.3.0.75")
    assert not same_range(cat, "cudnn", SpecifierSet(">=9.3.0,<10"), ">=9.5.0,<10")
    assert same_range(cat, "cuda", SpecifierSet("~=12.0"), "~=12.0")
    ev = _ev(project="tensorflow", version="2.20.0", tags=("cp312-cp312-manylinux_2_17_x86_64",), device_code=None,
             pins=(Pin("nvidia-cuda-runtime-cu12", "<13.0,>=12.5.82", "and-cuda"),
                   Pin("nvidia-nccl-cu12", "<3.0,>=2.25.1", "and-cuda")),
             components={"cuda": "<13.0,>=12.5.82", "nccl": "<3.0,>=2.25.1"})
    assert [m.field for m in check_evidence(cat, ev)] == []   # NCCL is not modelled for TF: no opinion


def test_a_release_without_python_range_is_a_gap_the_artifact_names(tmp_path, mini_docs):
    """Missing data is not agreement: a release with no Python range disagrees with wheels that state one
    (TensorRT 10.0/10.1/10.6/10.8/10.13 had none; their bindings wheels exist for cp38-cp312/313)."""
    mini_docs["pytorch.yaml"]["framework_releases"][0]["python"] = None
    cat = _mini(tmp_path, mini_docs)
    ev = _ev(python_files=("3.10", "3.11"))
    got = {m.field: (m.catalog, m.artifact) for m in check_evidence(cat, ev)}
    assert got["python"] == ("absent", "wheels for 3.10, 3.11")


def test_evidence_written_before_arch_specific_still_loads(tmp_path):
    """Files written before `device_code.arch_specific` existed load with it derived from their targets."""
    from catalog.evidence import summarise_device_code

    dc = summarise_device_code({"lib.so": {"targets": {"sm_80": 10, "sm_90a": 10}, "entries": 20, "compressed": 0}})
    old = {k: v for k, v in dc.items() if k != "arch_specific"}
    p = tmp_path / "torch-2.4.1-x86_64.json"
    p.write_text(json.dumps({**_ev(device_code=old).to_dict(), "device_code": old}))
    assert load_evidence(p).arch_specific == ("9.0",)
