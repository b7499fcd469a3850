"""Structured refusals: every conflict names component, need, have, all its nodes and records."""

from __future__ import annotations

import pytest

import solver
from catalog import load_catalog


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


OLD_DRIVERS = ["450.51.05", "450.80.02", "460.32.03", "470.57.02", "470.82.01", "510.47.03"]


def test_conflict_fields_are_complete_when_the_message_is_truncated(cat):
    inv = {"nodes": [{"name": f"t4-{i}", "driver_version": d, "gpus": [{"product": "T4"}]}
                     for i, d in enumerate(OLD_DRIVERS)]}
    sel = solver.select(cat, {"framework": "pytorch", "framework_version": ">=2.8"}, inv)
    assert not sel.feasible
    out = sel.to_dict()
    drv = next(c for c in out["conflicts"] if c["rule"] == "driver-too-old")
    assert "similar)" in drv["message"]   # the sentence keeps three examples ...
    assert sorted(drv["nodes"]) == sorted(f"t4-{i}" for i in range(len(OLD_DRIVERS)))  # ... the fields all
    assert len(drv["details"]) > 3            # every distinct refusal found, not the three of the text
    assert {d["have"] for d in drv["details"]} <= set(OLD_DRIVERS)
    assert {n for d in drv["details"] for n in d["nodes"]} <= set(drv["nodes"])
    assert drv["component"] == "driver" and drv["need"].startswith(">= ")
    assert drv["records"] and all(isinstance(r, str) and r for r in drv["records"])
    for d in drv["details"]:
        assert d["need"].startswith(">= ") and d["nodes"]
        assert all(cat.record(r) is not None for r in d["records"]), d["records"]
    rej = next(c for c in out["conflicts"] if c["rule"] == "node-rejections")
    assert sorted(rej["nodes"]) == sorted(f"t4-{i}" for i in range(len(OLD_DRIVERS)))


def test_precision_refusal_names_gpu_need_have_and_record(cat):
    inv = {"nodes": [{"name": "t4-1", "driver_version": "550.54.15", "gpus": [{"product": "T4"}]}]}
    sel = solver.select(cat, {"framework": "pytorch", "precision": "fp8"}, inv).to_dict()
    assert not sel["feasible"]
    c = next(c for c in sel["conflicts"] if c["rule"] == "precision-unsupported")
    assert c["component"] == "gpu" and c["have"] == "CC 7.5" and "8.9" in c["need"]
    assert c["nodes"] == ["t4-1"]
    assert c["records"] and all(cat.record(r) is not None for r in c["records"])


def test_four_gpus_with_two_free_asks_to_free_two_more(cat):
    inv = {"nodes": [{"name": "big-1", "driver_version": "550.54.15",
                      "gpus": [{"product": "A100", "count": 8, "free": 2}]}]}
    sel = solver.select(cat, {"framework": "pytorch", "gpu_count": 4}, inv).to_dict()
    assert not sel["feasible"]
    c = next(c for c in sel["conflicts"] if c["rule"] == "no-free-gpu")
    assert (c["component"], c["need"], c["have"], c["nodes"]) == ("gpu", "4 free GPU(s)", "2 free", ["big-1"])
    assert any(s.startswith("free 2 more GPU(s) on big-1") for s in sel["suggestions"]), sel["suggestions"]
    assert not any("free 4" in s for s in sel["suggestions"])


def test_a_feasible_answer_names_the_nodes_it_could_not_use(cat):
    inv = {"nodes": [
        {"name": "l4-1", "driver_version": "550.54.15", "gpus": [{"product": "L4"}]},
        {"name": "old-1", "driver_version": "450.51.05", "gpus": [{"product": "T4"}]},
        {"name": "cpu-1", "driver_version": "550.54.15", "gpus": []},
    ]}
    sel = solver.select(cat, {"framework": "pytorch", "precision": "fp16"}, inv).to_dict()
    assert sel["feasible"] and sel["choice"]["node"] == "l4-1"
    rejected = {r["rule"]: r["nodes"] for r in sel["rejected"]}
    assert rejected == {"no-gpu": ["cpu-1"], "driver-too-old": ["old-1"]}
    line = next(x for x in sel["explanation"] if x.startswith("not usable"))
    assert "(cpu-1)" in line and "(old-1)" in line


def test_why_not_judges_the_runtime_the_answer_chose_not_the_newest_in_the_catalog(cat):
    """Asked "why not old-t4?" after the answer chose edge-01, the verdicts are those of the chosen
    runtime (CUDA 12.x: the driver needs 525.60.13), not of the newest runtime the catalog has,
    whose CUDA 13 floor (580) overstated the upgrade the node needs."""
    from solver.explain.whynot import why_not

    inv = {"nodes": [
        {"name": "edge-01", "driver_version": "550.54.15", "gpus": [{"product": "L4"}]},
        {"name": "old-t4", "driver_version": "470.82.01", "gpus": [{"product": "T4"}]},
    ]}
    req = {"framework": "pytorch", "min_gpu_memory_gib": 16, "requires": {"cuda": ">=12.1,<13"}}
    chosen = solver.select(cat, req, inv).to_dict()["choice"]
    out = why_not(cat, req, inv, "old-t4")
    assert out["usable"] is False and out["runtime"] == chosen["runtime"]
    assert out["runtime_judged"] == "the runtime the answer chose (on edge-01)"
    failed = {v["rule"]: v for v in out["verdicts"] if not v["ok"]}
    assert set(failed) == {"gpu-memory", "driver-too-old"}
    assert failed["driver-too-old"]["need"] == ">= 525.60.13" and failed["driver-too-old"]["have"] == "470.82.01"
    alone = why_not(cat, req, {"nodes": inv["nodes"][1:]}, "old-t4")   # nothing chosen elsewhere
    assert alone["runtime_judged"].startswith("the newest runtime the request accepts")


def test_why_not_a_misspelt_node_suggests_the_close_names(cat):
    from solver.errors import InvalidInventory
    from solver.explain.whynot import why_not

    inv = {"nodes": [{"name": f"n{i}", "gpus": []} for i in range(12)] + [{"name": "old-t4", "gpus": []}]}
    with pytest.raises(InvalidInventory, match="did you mean old-t4"):
        why_not(cat, {"framework": "pytorch"}, inv, "old_t4")


def test_node_rejection_entries_carry_the_fields_of_their_rules_conflict(cat):
    """The node-rejections tally names, per rule, what the rule's own conflict names: a program
    reading only the tally learns the component, and the need and have when they are uniform
    (they were empty strings)."""
    inv = {"nodes": [{"name": "l4-busy", "driver_version": "550.54.15",
                      "gpus": [{"product": "NVIDIA L4", "count": 8, "free": 2}]},
                     {"name": "l4-old", "driver_version": "390.10", "gpus": [{"product": "NVIDIA L4", "count": 8}]}]}
    sel = solver.select(cat, {"framework": "pytorch", "gpu_count": 4}, inv).to_dict()
    assert not sel["feasible"]
    rej = next(c for c in sel["conflicts"] if c["rule"] == "node-rejections")
    by_rule = {d["rule"]: d for d in rej["details"]}
    assert (by_rule["no-free-gpu"]["component"], by_rule["no-free-gpu"]["need"],
            by_rule["no-free-gpu"]["have"], by_rule["no-free-gpu"]["nodes"]) == ("gpu", "4 free GPU(s)", "2 free",
                                                                              ["l4-busy"])
    old = by_rule["driver-too-old-for-gpu"]
    assert (old["component"], old["have"], old["nodes"]) == ("driver", "390.10", ["l4-old"])
    assert old["need"].startswith(">= ") and old["records"]
    for d in rej["details"]:   # every tally entry whose rule is a conflict of its own
        own = next((c for c in sel["conflicts"] if c["rule"] == d["rule"]), None)
        if own is not None:
            assert d["component"] == own["component"] and d["component"]


def test_gpu_memory_tally_says_when_the_size_is_not_recorded(cat):
    """An A40 has no memory size in the catalog: its refusal of a 20 GiB request is "not recorded",
    not "not enough GPU memory" (a fresh-clone trial's plan named the A40, B300 and GB300 as short
    of 20 GiB). A T4 (15 GiB, recorded) still is short of it."""
    assert next(g for g in cat.gpus if g.name == "NVIDIA A40").memory_mib is None  # the premise
    req = {"framework": "pytorch", "min_gpu_memory_gib": 20}
    a40 = {"name": "a40box", "driver_version": "570.124.06", "gpus": [{"product": "A40"}]}
    t4 = {"name": "t4box", "driver_version": "570.124.06", "gpus": [{"product": "T4"}]}
    only = solver.select(cat, req, {"nodes": [a40]}).to_dict()
    rej = next(c for c in only["conflicts"] if c["rule"] == "node-rejections")
    assert rej["message"] == "1 node: GPU memory not recorded"
    both = solver.select(cat, req, {"nodes": [a40, t4]}).to_dict()
    rej = next(c for c in both["conflicts"] if c["rule"] == "node-rejections")
    assert rej["message"] == "2 nodes: not enough GPU memory, or its size not recorded"
    short = solver.select(cat, req, {"nodes": [t4]}).to_dict()
    rej = next(c for c in short["conflicts"] if c["rule"] == "node-rejections")
    assert rej["message"] == "1 node: not enough GPU memory"
    plan = solver.select(cat, req, None, top=1).to_dict()   # planning: products, in the choice's explanation
    line = next(x for x in plan["explanation"] if x.startswith("not usable:"))
    assert "not enough GPU memory, or its size not recorded (" in line and "NVIDIA A40" in line
