"""Golden placement scenarios on the bundled catalog: MIG devices and multi-GPU replicas.

Each tests/solver/golden_placement/*.yaml is a real hardware configuration (DGX H100, DGX A100,
A100 MIG layouts from NVIDIA mig-parted with the profiles of the NVIDIA MIG User Guide):
`model` (Contract 1), `inventory` (Contract 2, MIG devices as the node agent reports them), and
`expect`. Both engines (fast path and CP-SAT) must give the same answer, and a feasible answer
must pass the independent validator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import solver
from catalog import load_catalog
from solver.check.validate import validate_batch, validate_selection
from solver.engines.batch import plan_batch

GOLDEN = sorted((Path(__file__).parent / "golden_placement").glob("*.yaml"))


@pytest.fixture(scope="module")
def cat() -> Any:
    return load_catalog()


def _subset(expected: Any, actual: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}.{k} missing in {actual!r}"
            _subset(v, actual[k], f"{where}.{k}")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_placement(cat: Any, path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    exp = case["expect"]
    fast = solver.select(cat, case["model"], case["inventory"])
    cpsat = solver.select(cat, case["model"], case["inventory"], policy=solver.Policy(engine="cpsat"))
    out = fast.to_dict()
    assert cpsat.to_dict() == out, "CP-SAT and the fast path disagree"
    assert out["feasible"] is exp["feasible"], out
    if exp["feasible"]:
        assert validate_selection(cat, case["model"], case["inventory"], fast) == []
        _subset(exp["choice"], out["choice"], "choice")
        for key in exp.get("choice_lacks_gpu", []):
            assert key not in out["choice"]["gpu"]
        text = " ".join(out["explanation"])
    else:
        assert [c["rule"] for c in out["conflicts"]][: len(exp["conflict_rules"])] == exp["conflict_rules"], out
        text = " ".join(c["message"] for c in out["conflicts"])
        for s in exp.get("suggestions_contain", []):
            assert any(s in x for x in out["suggestions"]), out["suggestions"]
    for s in exp.get("explanation_contains", []) + exp.get("conflicts_contain", []):
        assert s in text, text


ALL_1G_10GB = {"nodes": [{"name": "a100-mig-02", "driver_version": "550.90.07",
                          "gpus": [{"product": "NVIDIA A100-SXM4-80GB", "mig_profile": "1g.10gb", "count": 7}]}]}


def test_batch_shares_out_mig_devices_one_per_replica(cat: Any) -> None:
    # 8 replicas of an 8 GiB model on an A100-80GB in "all-1g.10gb" (7 MIG devices): 7 placed, one
    # per device, the 8th told that the devices went to the others
    reqs = [{"name": f"r{i}", "framework": "pytorch", "min_gpu_memory_gib": 8} for i in range(8)]
    plan = plan_batch(cat, reqs, ALL_1G_10GB)
    assert plan.objective[0] == 7
    assert validate_batch(cat, reqs, ALL_1G_10GB, plan.selection) == []
    placed = [p.to_dict()["choice"]["gpu"] for p in plan.selection.placements if p.feasible]
    assert all(g == {"product": "NVIDIA A100-SXM4-80GB", "count": 1, "compute_capability": "8.0",
                     "mig_profile": "1g.10gb"} for g in placed)
    left = [p for p in plan.selection.placements if not p.feasible]
    assert [c.rule for c in left[0].conflicts] == ["no-capacity"]


def test_validator_counts_mig_devices_apart_from_whole_gpus(cat: Any) -> None:
    # a node with whole A100s and MIG devices of the same product: an answer that puts two
    # replicas on its one free MIG device is over capacity, though whole GPUs are free
    inv = {"nodes": [{"name": "n", "driver_version": "550.90.07", "gpus": [
        {"product": "NVIDIA A100-SXM4-80GB", "count": 2},
        {"product": "NVIDIA A100-SXM4-80GB", "mig_profile": "3g.40gb", "count": 2, "free": 1}]}]}
    req = {"framework": "pytorch", "min_gpu_memory_gib": 30}
    one = solver.select(cat, req, inv).to_dict()
    assert one["choice"]["gpu"]["mig_profile"] == "3g.40gb"          # the tighter fit
    answer = {"feasible": True, "catalog_revision": cat.revision, "placements": [one, one]}
    assert [v.rule for v in validate_batch(cat, [req, req], inv, answer)] == ["over-capacity"]
    plan = plan_batch(cat, [req, req], inv)
    gpus = sorted(str(p.to_dict()["choice"]["gpu"].get("mig_profile")) for p in plan.selection.placements)
    assert gpus == ["3g.40gb", "None"] and validate_batch(cat, [req, req], inv, plan.selection) == []


def test_a_bad_mig_profile_is_a_clear_inventory_error_and_an_odd_one_is_kept() -> None:
    with pytest.raises(solver.InvalidInventory, match=r"nodes\[0\]\.gpus\[0\]\.mig_profile"):
        solver.parse_inventory({"nodes": [{"name": "n", "gpus": [{"product": "A100", "mig_profile": "x" * 65}]}]})
    inv = solver.parse_inventory({"nodes": [{"name": "n", "gpus": [{"product": "A100", "mig_profile": "1g.24gb+gfx"},
                                                                   {"product": "A100", "mig_profile": "odd"}]}]})
    assert [g.unit_memory_mib for g in inv.nodes[0].gpus] == [22888, None]
