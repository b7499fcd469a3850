"""The "toolkit not recorded" gap counts only where the GPU runs the build's PTX (issue #13).

The toolkit that compiled a build matters to the driver only for PTX JIT. A GPU that runs the
build's own SASS never JITs, so `why` and `select` must not call that answer unverified, nor
must `--strict` refuse it. One definition (`compat.candidate_gaps` with the GPU's CC, and its
pair form `compat.check_ptx_verified` for strict selection) serves both.

ONNX Runtime 1.21.0 (PyPI, CUDA 12): SASS up to 9.0 and PTX 9.0, its toolkit not recorded. The
NVIDIA L4 (CC 8.9) runs its sm_86 SASS; the B200 (CC 10.0) only its compute_90 PTX.
"""

from __future__ import annotations

import json
import random

import pytest
from packaging.version import Version
from typer.testing import CliRunner

from catalog import load_catalog
from catalog.compat import (
    build_toolkit,
    candidate_gaps,
    check_ptx_verified,
    gpu_platform,
    runs_ptx,
    why_best_option,
)
from rtfit.cli import app
from solver import select

runner = CliRunner()
DRIVER = "580.65.06"
GAP = "the CUDA toolkit that compiled onnxruntime 1.21.0 is not recorded"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _why(gpu: str, strict: bool = False) -> tuple[int, dict]:
    res = runner.invoke(app, ["catalog", "why", "onnxruntime", "1.21.0", gpu, "--driver", DRIVER, "--json"]
                        + (["--strict"] if strict else []))
    return res.exit_code, json.loads(res.stdout)


def _select(cat, gpu: str, strict: bool = False) -> dict:
    model = {"framework": "onnxruntime", "framework_version": "==1.21.0", **({"strict": True} if strict else {})}
    return select(cat, model, {"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": DRIVER,
                                          "gpus": [{"product": gpu}]}]}).to_dict()


def test_the_case_is_what_the_docstring_says(cat):
    ref = next(r for r in cat.builds("onnxruntime") if str(r.version) == "1.21.0" and r.build.gpu)
    assert ref.build.ptx and not build_toolkit(cat, ref.build)[1]
    assert not runs_ptx(ref.build, cat.gpu("NVIDIA L4").cc) and runs_ptx(ref.build, cat.gpu("NVIDIA B200").cc)


def test_native_sass_is_verified_in_why_and_select(cat):
    code, why = _why("NVIDIA L4")
    ans = _select(cat, "NVIDIA L4")
    assert code == 0 and ans["feasible"]
    assert not any(GAP in g for g in why["gaps"]), why["gaps"]
    assert why["confidence"] == ans["confidence"] == "verified"
    assert why["gaps"] == ans["gaps"] == []


def test_ptx_jit_keeps_the_gap_in_why_and_select(cat):
    code, why = _why("NVIDIA B200")
    ans = _select(cat, "NVIDIA B200")
    assert code == 0 and ans["feasible"]
    assert why["confidence"] == ans["confidence"] == "unverified"
    assert why["gaps"] == ans["gaps"] and any(GAP in g for g in why["gaps"])


def test_strict_refuses_only_the_ptx_gpu(cat):
    code, why = _why("NVIDIA L4", strict=True)
    assert code == 0 and why["compatible"]
    assert _select(cat, "NVIDIA L4", strict=True)["feasible"]
    code, why = _why("NVIDIA B200", strict=True)
    assert code == 3 and not why["compatible"]
    ans = _select(cat, "NVIDIA B200", strict=True)
    assert not ans["feasible"]
    assert "unverified-ptx" in [c["rule"] for c in ans["conflicts"]]
    assert any(GAP in c["message"] for c in ans["conflicts"] if c["rule"] == "unverified-ptx")


def test_the_strict_pair_check_and_the_gap_are_one_definition(cat):
    """Over every PTX-carrying build with an unrecorded toolkit and every catalog CC:
    `check_ptx_verified` fails exactly when `candidate_gaps` names the toolkit gap."""
    refs = [r for r in cat.builds() if r.build.gpu and r.build.ptx and not build_toolkit(cat, r.build)[1]]
    assert refs
    ccs = sorted({g.cc for g in cat.gpus})
    for ref in refs:
        _checks, cuda, cudnn = why_best_option(cat, ref, cat.gpus[0])
        cuda = cuda or Version("12.0")
        for cc in ccs:
            gap = any("is not recorded" in g for g in candidate_gaps(cat, ref, cuda, cudnn, ccs=[cc]))
            assert gap is (not check_ptx_verified(cat, ref, cuda, cc).ok), (ref.label, cc)


def _triples(cat, n: int, seed: int = 29):
    """(build, GPU, driver) triples over the builds whose gap depends on the GPU."""
    rng = random.Random(seed)
    refs = [r for r in cat.builds() if r.build.gpu and r.build.ptx and not build_toolkit(cat, r.build)[1]
            and "x86_64" in r.build.platforms]
    gpus = [g for g in cat.gpus if gpu_platform(g, "x86_64") == "x86_64"]
    drivers = ["550.54.15", "570.86.10", "580.65.06"]
    return [(rng.choice(refs), rng.choice(gpus), rng.choice(drivers)) for _ in range(n)]


def test_why_and_select_agree_on_confidence_gaps_and_strict(cat):
    """Property: on sampled triples of the builds this gap concerns, `why` and `select` give the same
    verdict, the same gaps and the same strict verdict."""
    seen = {"verified": 0, "unverified": 0}
    for ref, gpu, driver in _triples(cat, 24):
        args = ["catalog", "why", ref.framework, str(ref.version), gpu.name, "--driver", driver, "--json"]
        res = runner.invoke(app, args)
        why = json.loads(res.stdout)
        if why["build"] != ref.label:  # `why` judged another build of that version: compare that one
            continue
        model = {"framework": ref.framework, "framework_version": f"==={ref.label}"}
        inv = {"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": driver, "gpus": [{"product": gpu.name}]}]}
        ans = select(cat, model, inv).to_dict()
        assert why["compatible"] == ans["feasible"], (ref.label, gpu.name, driver)
        if not ans["feasible"]:
            continue
        assert (why["confidence"], sorted(why["gaps"])) == (ans["confidence"], sorted(ans["gaps"])), \
            (ref.label, gpu.name, driver)
        seen[ans["confidence"]] += 1
        strict_why = runner.invoke(app, args + ["--strict"]).exit_code == 0
        strict_sel = select(cat, {**model, "strict": True}, inv).feasible
        assert strict_why == strict_sel, (ref.label, gpu.name, driver)
    assert seen["verified"] and seen["unverified"], seen  # both answers occur: not vacuous
