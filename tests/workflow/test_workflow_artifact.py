"""A flow task that names an artifact instead of min_gpu_memory_gib is placed on a GPU that fits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workflow.errors import FlowInvalid
from workflow.flow import parse_flow
from workflow.placement import SolverPlacer

LLAMA_8B = Path(__file__).parents[1] / "modelfile" / "data" / "llama-3.1-8b"
FLEET = {"nodes": [
    {"name": "t4-node", "arch": "x86_64", "driver_version": "550.54.15", "gpus": [{"product": "Tesla T4"}]},
    {"name": "l40s-node", "arch": "x86_64", "driver_version": "550.54.15", "gpus": [{"product": "NVIDIA L40S"}]},
]}
FLOW = """\
name: llm
tasks:
  - name: serve
    model: {framework: pytorch, artifact: ./llama, serving: {max_model_len: 4096, max_num_seqs: 2}}
    command: [python, serve.py]
  - name: small
    model: {framework: pytorch, min_gpu_memory_gib: 4}
    command: [python, small.py]
"""


def _flow(tmp_path: Path, text: str = FLOW):  # type: ignore[no-untyped-def]
    shutil.copytree(LLAMA_8B, tmp_path / "llama")
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return parse_flow(text, path=path)


def test_task_with_artifact_is_placed_on_a_gpu_that_fits(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    placed = SolverPlacer(inventory=FLEET).place(list(flow.tasks))
    # Llama-3.1-8B in bf16 is ~15 GiB of weights: the 16 GB T4 cannot hold it with its KV cache.
    assert placed["serve"].error is None and placed["serve"].node == "l40s-node"
    assert placed["small"].node is not None


def test_artifact_too_big_for_the_fleet_is_a_placement_error(tmp_path: Path) -> None:
    flow = _flow(tmp_path, FLOW.replace("max_model_len: 4096, max_num_seqs: 2", "max_model_len: 131072, "
                                        "max_num_seqs: 64"))
    placed = SolverPlacer(inventory=FLEET).place(list(flow.tasks))
    assert placed["serve"].error is not None and "memory" in placed["serve"].error


def test_missing_artifact_is_a_flow_error(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    with pytest.raises(FlowInvalid, match="artifact './llama' not found"):
        parse_flow(FLOW, path=path)


def test_joint_flow_plan_reads_the_artifact_too(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    plan = SolverPlacer(inventory=FLEET).plan_flow(flow)
    assert plan is not None and plan.placements["serve"].node == "l40s-node"
    assert plan.placements["serve"].install is not None  # the recipe travels with the plan
