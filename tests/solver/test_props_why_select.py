"""`rtfit catalog why` and `rtfit select` agree on every (build, GPU, driver) triple.

One definition of each rule serves both (`catalog.compat`); this property test draws triples
from the whole bundled catalog — every framework build, every GPU product, drivers from every
branch and CUDA minimum — and checks that `compat.why_best` says "compatible" exactly when
`select` finds a runtime of that build on a one-node inventory with that GPU and driver, and that
both name the same gaps (so the same confidence) when they answer.
"""

from __future__ import annotations

import random

import pytest
from packaging.version import Version

from catalog import load_catalog
from catalog.compat import candidate_gaps, gpu_platform, why_best, why_best_option
from solver import select

N = 160


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _drivers(cat) -> list[str]:
    found = {str(t.min_driver) for t in cat.cuda_toolkits}
    found |= {f"{b.branch}.00.01" for b in cat.driver_branches}
    return sorted(found, key=Version)


def _triples(cat, n: int, seed: int = 13):
    rng = random.Random(seed)
    builds = [r for r in cat.builds() if r.build.gpu]
    gpus = list(cat.gpus)
    drivers = _drivers(cat)
    out = []
    while len(out) < n:
        ref = rng.choice(builds)
        fitting = [g for g in gpus if gpu_platform(g, "aarch64" if "aarch64" in ref.build.platforms else "x86_64")
                   in ref.build.platforms]
        gpu = rng.choice(fitting if fitting and rng.random() < 0.8 else gpus)
        arch = "aarch64" if gpu.platform in ("jetson", "aarch64") or (
            gpu.platform is None and "aarch64" in ref.build.platforms and "x86_64" not in ref.build.platforms) \
            else "x86_64"
        out.append((ref, gpu, rng.choice(drivers), arch))
    return out


def test_why_and_select_agree_on_sampled_triples(cat):
    disagreements = []
    compatible = 0
    for ref, gpu, driver, arch in _triples(cat, N):
        # every build of that label (x86_64 and aarch64 builds share labels): select may take any
        same = [r for r in cat.builds(ref.framework) if r.label == ref.label]
        answers = [why_best(cat, r, gpu, Version(driver), host_arch=arch) for r in same]
        says = any(all(c.ok for c in checks) for checks in answers)
        checks = answers[same.index(ref)] if ref in same else answers[0]
        model = {"framework": ref.framework, "framework_version": f"==={ref.label}"}
        inventory = {"nodes": [{"name": "n1", "arch": arch, "driver_version": driver, "gpus": [{"product": gpu.name}]}]}
        out = select(cat, model, inventory).to_dict()
        compatible += says
        if says != out["feasible"]:
            disagreements.append((ref.label, ref.framework, gpu.name, driver, arch,
                                  [c.rule for c in checks if not c.ok],
                                  [c["rule"] for c in out.get("conflicts", [])]))
        elif says:  # both answer: the same confidence and gaps (judged on this GPU, as `why` prints them)
            fit = next(r for r, a in zip(same, answers, strict=True) if all(c.ok for c in a))
            _c, cuda, cudnn = why_best_option(cat, fit, gpu, Version(driver), host_arch=arch)
            gaps = sorted(candidate_gaps(cat, fit, cuda, cudnn, ccs=[gpu.cc]))
            if gaps != sorted(out["gaps"]):
                disagreements.append((ref.label, ref.framework, gpu.name, driver, arch, "gaps", gaps, out["gaps"]))
    assert disagreements == [], "\n".join(map(str, disagreements))
    assert 0 < compatible < N   # the sample holds both answers, so the comparison is not vacuous
