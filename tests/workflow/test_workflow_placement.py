"""Whole-flow placement: model tasks placed together before the flow starts.

The solver side (`solver.plan_flow`) on the bundled catalog and hand-made fleets: stages that pass
artifacts share a node (else a cluster), stages that run at the same time share a node's free
GPUs, a stage no node can run is explained before anything runs. The engine side: the plan is
made before the first launch, each task's record carries its planned node and reason (what the
console and `flow status` show), and each task is launched where the plan put it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from catalog import load_catalog
from workflow.backends.local import LocalBackend
from workflow.engine import Engine
from workflow.flow import Task, parse_flow
from workflow.placement import FlowPlacement, Placement, SolverPlacer, model_stages
from workflow.state import SqliteStateStore
from workflow.store import RuntimeStore

PY = sys.executable
DRIVER = "550.90.07"


def node(name: str, cluster: str, product: str | None = None, count: int = 1, free: int | None = None,
         arch: str = "x86_64") -> dict[str, Any]:
    gpus = [{"product": product, "count": count, "free": count if free is None else free}] if product else []
    return {"name": name, "cluster": cluster, "arch": arch, "driver_version": DRIVER if product else None,
            "gpus": gpus}


FLEET = {"nodes": [node("dgx-1", "c1", "NVIDIA H100 80GB HBM3", 8), node("l4-1", "c1", "NVIDIA L4", 2),
                   node("l4-2", "c2", "NVIDIA L4", 2)]}
PIPELINE = """
name: pipeline
tasks:
  - name: train
    model: {framework: pytorch, gpu_count: 8, min_gpu_memory_gib: 40}
    command: ["true"]
  - name: export
    depends: train
    model: {framework: pytorch, gpu_count: 0}
    command: ["true"]
  - name: notify
    depends: export
    command: ["true"]
  - name: quantize
    depends: notify
    model: {framework: onnxruntime, format: {kind: onnx, opset: 17}}
    command: ["true"]
  - name: serve
    depends: quantize
    model: {framework: onnxruntime, gpu_count: 2, min_gpu_memory_gib: 100, format: {kind: onnx, opset: 17}}
    command: ["true"]
"""


@pytest.fixture(scope="module")
def cat() -> Any:
    return load_catalog()


def plan(cat: Any, text: str, inventory: dict[str, Any]) -> FlowPlacement:
    result = SolverPlacer(inventory=inventory, catalog=cat).plan_flow(parse_flow(text))
    assert result is not None
    return result


def test_model_stages_follow_dependencies_through_tasks_without_a_model() -> None:
    flow = parse_flow(PIPELINE)
    assert [(t.name, after) for t, after in model_stages(flow.tasks)] == [
        ("train", ()), ("export", ("train",)), ("quantize", ("export",)), ("serve", ("quantize",))]


def test_stages_that_pass_artifacts_share_a_node_and_an_unplaceable_one_is_explained(cat: Any) -> None:
    p = plan(cat, PIPELINE, FLEET)
    where = {n: x.node for n, x in p.placements.items()}
    # quantize alone would take an L4 (tightest memory fit); with the flow it stays with export
    assert where == {"train": "dgx-1", "export": "dgx-1", "quantize": "dgx-1", "serve": None}
    assert (p.co_located, p.edges, p.feasible) == (2, 3, False)
    assert "100 GiB" in (p.placements["serve"].error or "")
    assert p.placements["quantize"].why == "same node as export (its input comes from export: artifacts stay on dgx-1)"
    alone = SolverPlacer(inventory=FLEET, catalog=cat).place([parse_flow(PIPELINE).task("quantize")])
    assert alone["quantize"].node in ("l4-1", "l4-2")
    text = "\n".join(p.lines())
    assert "serve: CANNOT BE PLACED" in text and "connected by NVLINK" in text


def test_a_stage_that_cannot_share_the_node_keeps_the_cluster(cat: Any) -> None:
    # the edge stage needs an aarch64 host: not the DGX; of the two GH200 nodes it takes the one in
    # the DGX's cluster, though the other one sorts first by name
    flow = """
name: edge
tasks:
  - {name: train, model: {framework: pytorch, gpu_count: 8}, command: ["true"]}
  - {name: edge, depends: train, model: {framework: pytorch, arch: [aarch64]}, command: ["true"]}
"""
    inv = {"nodes": [node("dgx-1", "c1", "NVIDIA H100 80GB HBM3", 8),
                     node("a-gh200", "c2", "NVIDIA GH200 480GB", arch="aarch64"),
                     node("b-gh200", "c1", "NVIDIA GH200 480GB", arch="aarch64")]}
    p = plan(cat, flow, inv)
    assert p.placements["edge"].node == "b-gh200" and (p.co_located, p.same_cluster) == (0, 1)
    assert "same cluster as train (c1)" in (p.placements["edge"].why or "")
    alone = plan(cat, flow.replace("depends: train, ", ""), inv)
    assert alone.placements["edge"].node == "a-gh200"


def test_stages_running_at_the_same_time_share_the_free_gpus(cat: Any) -> None:
    parallel = """
name: evals
tasks:
  - {name: prep, model: {framework: pytorch, gpu_count: 0}, command: ["true"]}
  - {name: eval-a, depends: prep, model: {framework: pytorch, gpu_count: 4}, command: ["true"]}
  - {name: eval-b, depends: prep, model: {framework: pytorch, gpu_count: 4}, command: ["true"]}
"""
    inv = {"nodes": [node("dgx-1", "c1", "NVIDIA H100 80GB HBM3", 8, free=6), node("l40s-1", "c1", "NVIDIA L40S", 4)]}
    p = plan(cat, parallel, inv)
    nodes = sorted(p.placements[n].node or "" for n in ("eval-a", "eval-b"))
    assert nodes == ["dgx-1", "l40s-1"]          # 4 + 4 > the DGX's 6 free GPUs
    sequential = parallel.replace("{name: eval-b, depends: prep", "{name: eval-b, depends: eval-a")
    p = plan(cat, sequential, inv)
    # one after the other: both on the 4-GPU L40S node (the tighter memory fit), 4 + 4 GPUs in turn
    assert p.placements["eval-a"].node == p.placements["eval-b"].node == "l40s-1"


class PlanPlacer:
    """A placer with a plan: `where` per task, `error` for the unplaceable ones."""

    def __init__(self, where: dict[str, str], error: dict[str, str]) -> None:
        self.where, self.error = where, error
        self.placed: list[str] = []
        self.planned_before_launch = False

    def plan_flow(self, flow: Any) -> FlowPlacement:
        out = {t.name: Placement(t.name, error=self.error[t.name]) if t.name in self.error else
               Placement(t.name, node=self.where[t.name], explanation=(f"{t.name} -> {self.where[t.name]}",),
                         why=f"same node as its input ({self.where[t.name]})")
               for t in flow.tasks if t.model is not None}
        return FlowPlacement(out, co_located=1, edges=1)

    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        self.placed += [t.name for t in tasks]
        return {t.name: Placement(t.name, error=self.error[t.name]) if t.name in self.error else
                Placement(t.name, node=self.where.get(t.name, "local"), why=f"same node as its input "
                          f"({self.where.get(t.name)})" if t.model is not None else None) for t in tasks}


def test_engine_records_the_plan_before_the_first_launch_and_explains_the_unplaceable(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    flow = parse_flow(json.dumps({"name": "f", "tasks": [
        {"name": "train", "model": {"framework": "none", "gpu_count": 0},
         "command": [PY, "-c", f"open({str(trace)!r}, 'a').write('train\\n')"]},
        {"name": "serve", "depends": "train", "model": {"framework": "none", "gpu_count": 0}, "command": ["true"]},
        {"name": "report", "depends": "serve.Failed", "command": ["true"]}]}))
    state = SqliteStateStore(tmp_path / "state")
    seen: list[dict[str, Any]] = []

    def on_plan(p: FlowPlacement) -> None:
        assert not trace.exists()                 # before anything ran
        seen.append({n: x.error or x.node for n, x in p.placements.items()})

    events: list[tuple[str, str, str | None, str | None]] = []
    placer = PlanPlacer({"train": "n1"}, {"serve": "no node has 100 GiB GPUs"})
    engine = Engine(backend=LocalBackend(state_dir=tmp_path / "state"), placer=placer, store=RuntimeStore(tmp_path / "s"),
                    state=state, logs_root=tmp_path / "state" / "runs", poll_interval=0.02, on_plan=on_plan,
                    on_event=lambda run, rec: events.append((rec.name, rec.state, rec.node, rec.message)))
    result = engine.run(flow)
    assert seen == [{"train": "n1", "serve": "no node has 100 GiB GPUs"}]
    # the first events are the plan: planned node and reason, or why the task cannot be placed
    assert events[:2] == [("train", "Pending", "n1", "planned: same node as its input (n1)"),
                          ("serve", "Pending", None, "cannot be placed: no node has 100 GiB GPUs")]
    assert ("train", "Running", "n1", "same node as its input (n1)") in events
    assert result.states == {"train": "Succeeded", "serve": "Failed", "report": "Succeeded"}
    assert "no node has 100 GiB GPUs" in (state.get_run(result.run_id).tasks["serve"].message or "")


def test_flow_plan_command_prints_the_plan_and_exits_3_when_a_task_cannot_be_placed(tmp_path: Path) -> None:
    import yaml

    from rtfit.cli import app

    (tmp_path / "flow.yaml").write_text(PIPELINE)
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(FLEET))
    res = CliRunner().invoke(app, ["flow", "plan", str(tmp_path / "flow.yaml"), "--inventory", str(tmp_path / "nodes.yaml"),
                                   "--json"])
    assert res.exit_code == 3, res.output
    out = json.loads(res.stdout)   # stdout only: a log line on stderr is not part of the JSON
    assert out["feasible"] is False and out["co_located"] == 2
    assert out["tasks"]["export"]["node"] == "dgx-1" and out["tasks"]["serve"]["error"]
    ok = PIPELINE.split("  - name: serve")[0]
    (tmp_path / "flow.yaml").write_text(ok)
    res = CliRunner().invoke(app, ["flow", "plan", str(tmp_path / "flow.yaml"), "--inventory", str(tmp_path / "nodes.yaml")])
    assert res.exit_code == 0 and "quantize -> node dgx-1" in res.output


def test_flow_run_console_shows_the_joint_plan_and_tasks_run_where_it_says(tmp_path: Path) -> None:
    # `rtfit flow run` (local backend, real solver): the plan is printed before the first task
    # runs - every stage on this machine, the dependency edges on one node, and why - and each task
    # records the node it was planned on, which is the machine it actually ran on.
    import socket

    from rtfit.cli import app

    trace = tmp_path / "ran"
    write = f"import socket; open({str(trace)!r}, 'a').write('{{}} {{}}\\n'.format(__import__('os').environ['RTFIT_TASK'], socket.gethostname()))"
    flow = {"name": "pipe", "tasks": [
        {"name": "train", "model": {"framework": "none", "gpu_count": 0}, "command": [PY, "-c", write]},
        {"name": "export", "depends": "train", "model": {"framework": "none", "gpu_count": 0}, "command": [PY, "-c", write]},
        {"name": "serve", "depends": "export", "model": {"framework": "none", "gpu_count": 0}, "command": [PY, "-c", write]}]}
    (tmp_path / "flow.yaml").write_text(json.dumps(flow))
    args = ["flow", "run", str(tmp_path / "flow.yaml"), "--store", str(tmp_path / "store"), "--state", str(tmp_path / "state")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = res.output
    host = socket.gethostname()
    assert "placement plan: 3 model task(s); 2 of 2 dependency edge(s) on one node" in out
    for stage in ("train", "export", "serve"):
        assert f"{stage} -> node {host}" in out
    assert "same node as train (its input comes from train: artifacts stay on " + host + ")" in out
    assert out.index("placement plan") < out.index("train: Running")       # planned before anything ran
    ran = dict(line.split() for line in trace.read_text().splitlines())
    assert ran == {"train": host, "export": host, "serve": host}
    run = SqliteStateStore(tmp_path / "state").list_runs()[0]
    assert {n: t.node for n, t in run.tasks.items()} == ran
    # an inventory would plan the tasks onto nodes the local backend never runs them on: refused
    (tmp_path / "nodes.yaml").write_text(json.dumps(FLEET))
    res = CliRunner().invoke(app, [*args, "--new", "--inventory", str(tmp_path / "nodes.yaml")])
    assert res.exit_code == 2 and "--inventory is for --backend kubernetes" in res.output
    from workflow.errors import WorkflowError
    from workflow.runner import build_engine

    with pytest.raises(WorkflowError, match="local backend runs every task on this machine"):
        build_engine(backend="local", store=RuntimeStore(tmp_path / "store"), state_dir=tmp_path / "state",
                     inventory=FLEET)


def test_flow_plan_shows_the_python_flow_run_uses(tmp_path: Path) -> None:
    """`flow plan` prints the plan `flow run` follows: locally, tasks whose model names no python run on
    this interpreter's series (the local backend asks the solver for it), on nodes on the base image's.
    A fresh-clone trial saw `flow plan examples/mnist-lite/flow.yaml` plan python 3.15 and 3.13 while
    `flow run` of the same flow planned and ran 3.11."""
    import platform

    import yaml

    from rtfit.cli import app
    from workflow.backends.kube_objects import KubeOptions

    root = Path(__file__).resolve().parents[2]
    example = str(root / "examples" / "mnist-lite" / "flow.yaml")
    res = CliRunner().invoke(app, ["flow", "plan", example, "--store", str(tmp_path / "store"), "--json"])
    assert res.exit_code == 0, res.output
    here = ".".join(platform.python_version_tuple()[:2])
    tasks = json.loads(res.stdout)["tasks"]
    assert tasks and {t["runtime"]["python"] for t in tasks.values()} == {here}, tasks
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(FLEET))
    res = CliRunner().invoke(app, ["flow", "plan", example, "--inventory", str(tmp_path / "nodes.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    tasks = json.loads(res.stdout)["tasks"]
    assert {t["runtime"]["python"] for t in tasks.values()} == {KubeOptions().base_python}, tasks


def test_status_of_a_run_kept_under_another_store_says_which(tmp_path: Path, monkeypatch) -> None:
    """`make demo` runs with --store .rtfit/demo-store; `rtfit flow status ID` (default store) said only
    "no run ID in .rtfit/store/.runs/runs.db". It now names the store whose runs hold it (fresh-clone trial)."""
    from rtfit.cli import app
    from workflow.state import SqliteStateStore

    monkeypatch.chdir(tmp_path)
    for key in ("RTFIT_STORE", "RTFIT_STATE"):
        monkeypatch.delenv(key, raising=False)
    st = SqliteStateStore(tmp_path / ".rtfit" / "demo-store" / ".runs")
    run = st.create_run(flow="demo", flow_path=None, flow_digest="x", backend="local", tasks=["a"]).id
    st.close()
    for args in (["flow", "status", run], ["flow", "logs", run, "a"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2, res.output
        assert res.stderr.strip().endswith("; it is in the runs of .rtfit/demo-store: add --store .rtfit/demo-store")
    res = CliRunner().invoke(app, ["flow", "status", "nope"])
    assert res.exit_code == 2 and "it is in" not in res.stderr
    res = CliRunner().invoke(app, ["flow", "status", run, "--store", ".rtfit/demo-store"])
    assert res.exit_code == 0 and f"run {run}" in res.stdout
