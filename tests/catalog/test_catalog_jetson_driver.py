"""Jetson (Tegra) drivers are judged by the CUDA version they support, not as desktop driver numbers.

A Jetson's driver comes with JetPack/L4T and is numbered apart from the desktop drivers of CUDA's
Table 3 (fact jet.tegra_driver_numbers): an AGX Thor on JetPack 7.0 reports 580.00 with CUDA 13.0.
One definition (`compat.rules_driver`) serves select, `catalog why` and validate.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import solver
from catalog import load_catalog
from catalog.compat import gpu_host_arch, rules_driver, tegra_cuda
from catalog.gpunames import resolve_gpu
from catalog.versions import DriverVersion, TegraDriver, Version
from rtfit.cli import app
from solver.check.validate import validate_selection

TORCH_215 = {"framework": "pytorch", "framework_version": "==2.15.0"}


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _thor(**node):
    return {"nodes": [{"name": "thor", "arch": "aarch64", "gpus": [{"product": "NVIDIA Thor"}], **node}]}


def _orin(**node):
    return {"nodes": [{"name": "orin", "arch": "aarch64", "gpus": [{"product": "Orin (nvgpu)"}], **node}]}


@pytest.mark.parametrize("node", [
    {"driver_version": "580.01", "cuda_driver_version": "13.0"},   # a number the catalog does not record
    {"driver_version": "580.01", "l4t_version": "38.2.1"},          # JetPack 7.0 by its L4T release
    {"driver_version": "580.00"},                                   # the number jet.jp7.0 records
])
def test_a_thor_whose_driver_supports_cuda_13_is_placed_and_validates(cat, node):
    inv = _thor(**node)
    sel = solver.select(cat, TORCH_215, inv)
    assert sel.feasible and sel.confidence == "verified", sel.to_dict()
    assert validate_selection(cat, TORCH_215, inv, sel) == []
    assert any("Jetson driver for CUDA 13.0" in line for line in sel.explanation)


def test_a_thor_driver_of_an_older_cuda_is_still_refused(cat):
    """Not permissive: a Jetson driver that supports CUDA 12.8 predates Blackwell's CUDA 13 (SM 11.0)."""
    out = solver.select(cat, TORCH_215, _thor(driver_version="580.00", cuda_driver_version="12.8")).to_dict()
    assert not out["feasible"]
    assert "predates Blackwell" in out["conflicts"][0]["message"]


def test_an_unknown_tegra_number_is_compared_as_a_desktop_one_and_says_so(cat):
    """Neither fact and an unrecorded number: the desktop tables (refusing 580.01 < 580.65.06 for
    Thor) and the refusal says the CUDA version is unknown and how to report it."""
    out = solver.select(cat, TORCH_215, _thor(driver_version="580.01")).to_dict()
    assert not out["feasible"]
    text = json.dumps(out["conflicts"])
    assert "CUDA version unknown" in text and "cuda_driver_version" in text


def test_an_unknown_tegra_number_that_passes_is_unverified_with_the_gap(cat):
    """An Orin reporting 540.4.0 without its CUDA version (540.4.0 has been seen with CUDA 12.6 and
    12.4, so no record names it): placed as before, but the answer is unverified and names the gap."""
    sel = solver.select(cat, {"framework": "pytorch"}, _orin(driver_version="540.4.0"))
    assert sel.feasible and sel.confidence == "unverified"
    assert any("CUDA version of Jetson driver 540.4.0 is unknown" in g for g in sel.gaps)
    known = solver.select(cat, {"framework": "pytorch"}, _orin(driver_version="540.4.0", cuda_driver_version="12.6"))
    assert known.feasible and not any("Jetson driver" in g for g in known.gaps)


def test_a_jetpack_5_node_without_nvml_is_placed_by_its_l4t_release(cat):
    """JetPack 5 has no NVML (no driver number): its L4T release (35.x = JetPack 5.1, CUDA 11.4) says
    what its driver runs; without it the node has no known driver."""
    sel = solver.select(cat, {"framework": "pytorch"}, _orin(l4t_version="R35.4.1"))
    assert sel.feasible and sel.choice.runtime_map["cuda"] == "11.4", sel.to_dict()
    assert not solver.select(cat, {"framework": "pytorch"}, _orin()).feasible


def test_cuda_driver_version_does_not_change_a_desktop_verdict(cat):
    """On a desktop GPU only driver_version counts (an R470 driver stays too old for CUDA 12)."""
    req = {"framework": "pytorch", "framework_version": "==2.15.0"}
    inv = {"nodes": [{"name": "t4", "driver_version": "470.82.01", "cuda_driver_version": "13.0",
                      "gpus": [{"product": "T4"}]}]}
    assert not solver.select(cat, req, inv).feasible
    t4 = resolve_gpu(cat, "T4")
    assert rules_driver(cat, t4, DriverVersion("470.82.01"), cuda_driver=Version("13.0")) == DriverVersion("470.82.01")


def test_tegra_driver_compares_as_its_cuda_minimum_but_never_equals_a_desktop_driver(cat):
    thor = resolve_gpu(cat, "Thor")
    d = rules_driver(cat, thor, DriverVersion("580.00"), cuda_driver=Version("13.0"))
    desktop = DriverVersion(str(cat.native_min_driver(Version("13.0"))[0]))
    assert isinstance(d, TegraDriver) and not d < desktop and not desktop < d
    assert d != desktop and desktop != d and hash(d) != hash(desktop)   # memo tables keep them apart
    assert str(d).startswith("580.00 (Jetson driver for CUDA 13.0")


@pytest.mark.parametrize(("l4t", "cuda"), [("36.4.3", "12.6"), ("35.4.1", "11.4"), ("38.2.1", "13.0"),
                                           ("38.4.0", "13.0"), ("99.1", None)])
def test_l4t_releases_map_to_their_jetpack_cuda(cat, l4t, cuda):
    found = tegra_cuda(cat, l4t=l4t)
    assert (str(found[0]) if found else None) == cuda


def test_inventory_refuses_malformed_jetson_fields(cat):
    with pytest.raises(solver.InvalidInventory) as e:
        solver.parse_inventory(_thor(driver_version="580.00", cuda_driver_version="13"))
    assert e.value.field == "nodes[0].cuda_driver_version"
    with pytest.raises(solver.InvalidInventory) as e:
        solver.parse_inventory(_thor(l4t_version="jetpack 7"))
    assert e.value.field == "nodes[0].l4t_version"


# -- rtfit catalog why ---------------------------------------------------------------------

@pytest.mark.parametrize("gpu", ["Thor", "Jetson T4000"])
def test_why_defaults_the_arch_of_a_gpu_that_exists_on_aarch64_only(gpu):
    """Thor and T4000 run the ordinary aarch64 wheels; `why` judged them on x86_64 unless --arch."""
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "why", "pytorch", "2.15.0", gpu, "--json"])
    assert res.exit_code == 0, res.output
    checks = json.loads(res.stdout)["checks"]
    assert checks[0]["rule"] == "platform" and "aarch64" in checks[0]["message"]
    x86 = runner.invoke(app, ["catalog", "why", "pytorch", "2.15.0", gpu, "--arch", "x86_64", "--json"])
    assert x86.exit_code == 3   # asked for explicitly, still judged as asked


def test_gpu_host_arch(cat):
    assert {g.id: gpu_host_arch(g) for g in cat.gpus if g.segment == "jetson"} == {
        g.id: "aarch64" for g in cat.gpus if g.segment == "jetson"}
    assert gpu_host_arch(resolve_gpu(cat, "GB200")) == "aarch64"
    assert gpu_host_arch(resolve_gpu(cat, "H100 SXM")) == "x86_64"
    assert gpu_host_arch(resolve_gpu(cat, "gpu.b300")) is None   # not tied to one arch in the catalog


def test_why_judges_a_jetson_driver_by_its_cuda():
    runner = CliRunner()
    base = ["catalog", "why", "pytorch", "2.15.0", "Thor", "--json", "--driver"]
    ok = runner.invoke(app, [*base, "580.00"])
    assert ok.exit_code == 0, ok.output
    unknown = runner.invoke(app, [*base, "580.01"])
    assert unknown.exit_code == 3 and json.loads(unknown.stdout)["confidence"] == "unverified"
    told = runner.invoke(app, [*base, "580.01", "--cuda-driver", "13.0"])
    assert told.exit_code == 0, told.output
    desktop = runner.invoke(app, ["catalog", "why", "pytorch", "2.15.0", "T4", "--cuda-driver", "13.0"])
    assert desktop.exit_code == 2 and "Jetson" in desktop.stderr


def test_planning_places_thor_on_aarch64_only(cat):
    """Hardware planning (no inventory) judged Thor as an x86_64 host's GPU (the default host), where
    no pytorch 2.15 wheel has SM 11.0 code; Thor runs the aarch64 wheel."""
    req = {"framework": "pytorch", "framework_version": "==2.15.0", "segments": ["jetson"]}

    def products(sel):
        return {a.gpu.product for a in (sel.choice, *sel.alternatives)} if sel.feasible else set()

    assert "NVIDIA Thor" in products(solver.select(cat, req, None, top=20))
    assert "NVIDIA Thor" not in products(solver.select(cat, {**req, "arch": ["x86_64"]}, None, top=20))


def test_strict_refuses_a_jetson_driver_of_unknown_cuda(cat):
    """strict: unverified counts as not compatible; a Jetson driver judged by desktop numbers is
    unverified, so strict refuses the node (rule unverified-driver), naming how to give the fact."""
    req = {"framework": "pytorch", "strict": True}
    out = solver.select(cat, req, _orin(driver_version="540.4.0")).to_dict()
    assert not out["feasible"]
    assert any(c["rule"] == "unverified-driver" and "cuda_driver_version" in json.dumps(c) for c in out["conflicts"])
    known = solver.select(cat, req, _orin(driver_version="540.4.0", l4t_version="36.4.3")).to_dict()
    assert not any(c.get("rule") == "unverified-driver" for c in known.get("conflicts") or [])
