"""One GPU-name resolver everywhere: catalog why, catalog matrix --gpu, the console's matrix, inventories."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import solver
from catalog import load_catalog
from catalog.gpunames import GpuNameError, find_gpus, label, resolve_gpu
from catalog.matrix import build_gpu_matrix
from rtfit.cli import app


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.mark.parametrize(("name", "gpu_id"), [
    ("T4", "gpu.t4"), ("Tesla T4", "gpu.t4"), ("NVIDIA T4", "gpu.t4"), ("gpu.t4", "gpu.t4"), ("t4", "gpu.t4"),
    ("A10", "gpu.a10"), ("a10g", "gpu.a10g"), ("RTX 4090", "gpu.rtx_4090"), ("rtx  4090", "gpu.rtx_4090"),
    ("4090", "gpu.rtx_4090"), ("NVIDIA GeForce RTX 4090", "gpu.rtx_4090"), ("Orin", "gpu.jetson_agx_orin_64gb"),
    ("orin nano", "gpu.jetson_orin_nano_8gb"), ("L40S", "gpu.l40s"),
])
def test_names_people_type_resolve(cat, name, gpu_id):
    assert resolve_gpu(cat, name).id == gpu_id


def test_a_shared_nvml_name_resolves_when_the_rules_cannot_tell_them_apart(cat):
    orins = find_gpus(cat, "Orin (nvgpu)")
    assert len(orins) == 4
    assert resolve_gpu(cat, "Orin (nvgpu)").cc == orins[0].cc


@pytest.mark.parametrize("name", ["RTX", "jetson"])
def test_ambiguous_names_are_errors_listing_the_options(cat, name):
    with pytest.raises(GpuNameError) as e:
        resolve_gpu(cat, name)
    assert "ambiguous" in str(e.value) and len(e.value.suggestions) > 1


def test_unknown_names_are_errors_with_suggestions(cat):
    with pytest.raises(GpuNameError) as e:
        resolve_gpu(cat, "X100")
    assert "unknown GPU 'X100'" in str(e.value)
    assert {"V100", "A100", "H100"} & set(e.value.suggestions)


def test_matrix_columns_are_distinct(cat):
    m = build_gpu_matrix(cat, latest=1)
    assert len(m.columns) == len(set(m.columns)), [c for c in m.columns if m.columns.count(c) > 1]
    assert sum("Orin" in c for c in m.columns) == 4
    assert len({label(cat, g) for g in cat.gpus}) == len(cat.gpus)


def test_cli_matrix_gpu_takes_short_names_and_refuses_unknown_ones():
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "matrix", "--gpu", "T4", "--gpu", "RTX 4090", "--latest", "1", "--json"])
    assert res.exit_code == 0, res.output
    cols = json.loads(res.stdout)["columns"]
    assert cols == ["Tesla T4 (7.5)", "NVIDIA GeForce RTX 4090 (8.9)"]
    bad = runner.invoke(app, ["catalog", "matrix", "--gpu", "X100"])
    assert bad.exit_code == 2 and "did you mean" in bad.stderr


def test_cli_why_uses_the_same_resolver():
    runner = CliRunner()
    ok = runner.invoke(app, ["catalog", "why", "pytorch", "2.6.0", "4090", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["gpu_id"] == "gpu.rtx_4090"
    amb = runner.invoke(app, ["catalog", "why", "pytorch", "2.6.0", "RTX"])
    assert amb.exit_code == 2 and "ambiguous" in amb.stderr


def test_why_for_a_framework_not_in_the_catalog_points_nowhere_broken():
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "why", "nosuchframework", "0.8.0", "T4"])
    assert res.exit_code == 2
    assert "unknown framework 'nosuchframework'" in res.stderr and "pytorch" in res.stderr
    assert "catalog list nosuchframework" not in res.stderr
    res = runner.invoke(app, ["catalog", "why", "pytorch", "9.9", "T4"])
    assert res.exit_code == 2 and "catalog list pytorch" in res.stderr
    assert runner.invoke(app, ["catalog", "list", "pytorch", "--json"]).exit_code == 0


def test_inventories_accept_short_names(cat):
    inv = solver.parse_inventory({"nodes": [{"name": "n", "driver_version": "550.54.15",
                                             "gpus": [{"product": "4090"}]}]}, catalog=cat)
    sel = solver.select(cat, {"framework": "pytorch"}, inv)
    assert sel.feasible and sel.choice.gpu.product == "NVIDIA GeForce RTX 4090"


@pytest.mark.parametrize("product, words", [("RTX", ["ambiguous", "GeForce RTX 4090"]),
                                            ("Tesla T5", ["unknown GPU", "did you mean", "Tesla T4"])])
def test_an_inventory_with_an_ambiguous_or_unknown_name_lists_the_options(product, words):
    inv = {"nodes": [{"name": "a", "driver_version": "550.54.15", "gpus": [{"product": product}]}]}
    with pytest.raises(solver.InvalidInventory) as e:
        solver.parse_inventory(inv, catalog=load_catalog())
    assert e.value.field == "nodes[0].gpus[0].product"
    for w in words:
        assert w in str(e.value), str(e.value)
    assert "compute_capability" in str(e.value)   # the way out for a GPU the catalog lacks
    with_cc = {"nodes": [{"name": "a", "gpus": [{"product": product, "compute_capability": "8.9"}]}]}
    solver.parse_inventory(with_cc, catalog=load_catalog())


def test_jetson_t4000_is_its_own_record_not_the_thor_t5000(cat):
    """The T4000 module has 64 GB (NVIDIA's announcement, quoted); as an alias of the Thor record it
    was planned with the T5000's 125,748 MiB. Same CC 11.0, its own memory."""
    t4000, t5000 = resolve_gpu(cat, "Jetson T4000"), resolve_gpu(cat, "Jetson T5000")
    assert (t4000.id, t5000.id) == ("gpu.jetson_t4000", "gpu.jetson_thor")
    assert (t4000.cc, t4000.memory_mib) == (t5000.cc, 65536) and t5000.memory_mib == 125748
    assert t4000.platform == t5000.platform is None   # JetPack 7 is SBSA: the ordinary aarch64 wheels
    assert resolve_gpu(cat, "NVIDIA Thor").id == "gpu.jetson_thor"   # the T5000's NVML name stays its own


def test_jetson_thor_on_its_observed_jetpack_7_driver_is_placed(cat):
    """An AGX Thor on JetPack 7.0 reports 'Driver Version: 580.00, CUDA Version: 13.0' (observed) and
    runs CUDA 13.0 builds; the rules compare 580.00 with CUDA 13.0's desktop minimum 580.65.06."""
    import solver
    assert "thor_nvsmi_obs" in cat.record("jet.tegra_driver_numbers").sources
    inv = {"nodes": [{"name": "thor", "arch": "aarch64", "driver_version": "580.00",
                      "gpus": [{"product": "NVIDIA Thor"}]}]}
    out = solver.select(cat, {"framework": "pytorch", "framework_version": "==2.15.0"}, inv).to_dict()
    assert out["feasible"], out["conflicts"][0]["message"]


def test_a_shared_nvml_name_is_planned_as_its_smallest_module(cat):
    """'Orin (nvgpu)' is what every Orin module reports (AGX 64 GB, AGX 32 GB, NX, Nano 8 GB); it
    resolved to the first record, so a 32 GB or 8 GB module was planned with 64 GB. Now: the
    smallest recorded module, unless the entry gives memory_mib or names the module; the answer
    says why and how to name it."""
    from solver.check.validate import validate_selection

    shared = resolve_gpu(cat, "Orin (nvgpu)")
    assert shared.id == "gpu.jetson_orin_nano_8gb" and shared.memory_mib == min(
        g.memory_mib for g in find_gpus(cat, "Orin (nvgpu)") if g.memory_mib is not None)

    def inv(**gpu):
        return {"nodes": [{"name": "orin", "arch": "aarch64", "driver_version": "540.4.0", "cuda_driver_version": "12.6",
                           "gpus": [{"product": "Orin (nvgpu)", **gpu}]}]}

    big = {"framework": "pytorch", "min_gpu_memory_gib": 16}
    out = solver.select(cat, big, inv()).to_dict()
    assert not out["feasible"]
    msg = out["conflicts"][0]["message"]
    assert "8192 MiB" in msg and "shared by 4 modules" in msg and "memory_mib" in msg and "Jetson AGX Orin 64GB" in msg
    for given in (inv(memory_mib=65536), {"nodes": [{**inv()["nodes"][0], "gpus": [{"product": "Jetson AGX Orin 64GB"}]}]}):
        sel = solver.select(cat, big, given)
        assert sel.feasible, sel.to_dict()
        assert not any("shared by" in line for line in sel.explanation)
        assert validate_selection(cat, big, given, sel) == []
    small = solver.select(cat, {"framework": "pytorch", "min_gpu_memory_gib": 4}, inv())
    assert small.feasible and any("shared by 4 modules" in line for line in small.explanation)


def test_why_on_a_shared_name_says_which_module_it_judged():
    runner = CliRunner()
    res = runner.invoke(app, ["catalog", "why", "pytorch", "2.5.0", "Orin (nvgpu)", "--json"])
    out = json.loads(res.stdout)
    assert out["gpu_id"] == "gpu.jetson_orin_nano_8gb" and "shared by 4 modules" in out["note"]
    named = json.loads(runner.invoke(app, ["catalog", "why", "pytorch", "2.5.0", "Jetson AGX Orin 64GB", "--json"]).stdout)
    assert named["gpu_id"] == "gpu.jetson_agx_orin_64gb" and "note" not in named
