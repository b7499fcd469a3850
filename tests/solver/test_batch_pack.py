"""Regression: packing CP-SAT counts must not mix CPU-only and GPU node groups.

CPU-only classes use the CPU group list and GPU classes the GPU one; both number their groups
from 0. `batch_cpsat.pack` once keyed its pools by group index alone, so a CPU-only request
could be packed onto a node of the GPU group with the same index (wrong node and cluster, found
by tests/solver/test_props_batch.py), and the better CP-SAT answer was then dropped for greedy's.
"""

from __future__ import annotations

from solver.check.validate import validate_batch
from solver.engines.batch import plan_batch
from solver.testing import fake_gpu, fake_node, mini_catalog


def test_cpu_and_gpu_groups_with_equal_indices_pack_apart() -> None:
    cat = mini_catalog()
    inv = {"nodes": [fake_node("n0", fake_gpu("T4", 1, 0), fake_gpu("L4", 1, 0), driver=None),
                     fake_node("n1", fake_gpu("T4", 1, 1), fake_gpu("L4", 1, 1), driver="550.54.15", cluster="c1"),
                     fake_node("n2", driver=None), fake_node("n3", driver="470.82.01")]}
    gpu = {"framework": "pytorch", "gpu_count": 1, "python": ">=3.10"}
    reqs = [gpu, gpu, {"framework": "none", "gpu_count": 0, "python": ">=3.10"},
            {**gpu, "min_gpu_memory_gib": 4, "arch": ["x86_64"]}]
    plan = plan_batch(cat, reqs, inv, time_limit_s=5.0)
    assert validate_batch(cat, reqs, inv, plan.selection) == []
    assert plan.engine == "cpsat" and plan.objective > plan.greedy_objective
    cpu = plan.selection.placements[2].to_dict()["choice"]
    assert cpu["gpu"] is None and cpu["cluster"] == {"n0": None, "n1": "c1", "n2": None, "n3": None}[cpu["node"]]
