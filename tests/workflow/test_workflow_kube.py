"""Kubernetes backend against a local HTTP double of the API server, and generated objects
validated against the Kubernetes schema (kubernetes-validate, strict)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from wf_kube_double import KubeDouble

from workflow.backends.kube_objects import KubeOptions
from workflow.backends.kubernetes import KubernetesBackend
from workflow.engine import Engine
from workflow.flow import Task, parse_flow
from workflow.placement import Placement
from workflow.state import SqliteStateStore
from workflow.store import RuntimeStore, stage_folder

K8S_VERSION = "1.33"


def validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


class GpuPlacer:
    def place(self, tasks: Sequence[Task]) -> dict[str, Placement]:
        return {t.name: Placement(t.name, node="gpu-node-1", gpu={"product": "NVIDIA L4", "count": 1},
                                  runtime={"cuda": "12.4", "python": "3.11", "pytorch": "2.4.1+cu124"} | dict(t.runtime))
                for t in tasks}


@pytest.fixture
def store(tmp_path: Path) -> RuntimeStore:
    st = RuntimeStore(tmp_path / "store")
    for kind, version, rel in [("cuda", "12.4.1", "lib64/libcudart.so"), ("pytorch", "2.4.1+cu124", "site-packages/torch/x.py")]:
        src = tmp_path / f"src-{kind}"
        (src / rel).parent.mkdir(parents=True)
        (src / rel).write_text(kind)
        (src / "bin").mkdir()
        stage_folder(st, kind, version, src)
    return st


FLOW = """\
name: gpu-pipeline
tasks:
  - name: train
    model: {framework: pytorch, gpu_count: 1}
    command: [python, train.py]
    timeout: 10m
  - name: broken
    depends: train
    model: {framework: pytorch, gpu_count: 1}
    command: [python, fail.py]
  - name: after-broken
    depends: "broken.Failed && train.Succeeded"
    model: {framework: pytorch, gpu_count: 1}
    command: [python, report.py]
  - name: never
    depends: broken
    model: {framework: pytorch, gpu_count: 1}
    command: [python, x.py]
  - name: serve
    depends: train
    model: {framework: pytorch, gpu_count: 1}
    command: [python, serve.py]
    serve: {port: 8080, replicas: 1, max_replicas: 4}
"""


@pytest.mark.parametrize("image_prefix", [None, "registry.example/rtfit-store"])
def test_flow_runs_as_jobs_against_api_double(tmp_path: Path, store: RuntimeStore, image_prefix: str | None) -> None:
    flow = parse_flow(FLOW)
    opts = KubeOptions(namespace="ml", store_image_prefix=image_prefix)
    with KubeDouble() as api:
        backend = KubernetesBackend(opts, api_client=api.api_client(), poll_seconds=0.01)
        engine = Engine(backend=backend, placer=GpuPlacer(), store=store, state=SqliteStateStore(tmp_path / "state"),
                        logs_root=tmp_path / "state" / "runs", poll_interval=0.01)
        result = engine.run(flow)
    assert result.states == {"train": "Succeeded", "broken": "Failed", "after-broken": "Succeeded",
                             "never": "Skipped", "serve": "Succeeded"}
    kinds = sorted(res for res, _ in api.objects)
    assert kinds == ["deployments", "horizontalpodautoscalers", "jobs", "jobs", "jobs", "services"]
    for obj in backend.created:
        validate(obj)
    job = next(o for (res, _), o in api.objects.items() if res == "jobs" and o["metadata"]["labels"]["rtfit.io/task"] == "train")
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": "gpu-node-1"}
    assert c["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert job["spec"]["activeDeadlineSeconds"] == 600 and job["spec"]["backoffLimit"] == 0
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["PYTHONPATH"] == "/opt/rtfit/pytorch/2.4.1+cu124/site-packages"
    assert env["LD_LIBRARY_PATH"] == "/opt/rtfit/cuda/12.4.1/lib64" and env["CUDA_HOME"] == "/opt/rtfit/cuda/12.4.1"
    assert env["RTFIT_TASK"] == "train" and env["RTFIT_NODE"] == "gpu-node-1"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert set(mounts) == {"/opt/rtfit/pytorch/2.4.1+cu124", "/opt/rtfit/cuda/12.4.1"}
    assert all(m["readOnly"] for m in mounts.values())
    if image_prefix is None:
        assert mounts["/opt/rtfit/cuda/12.4.1"]["subPath"] == "cuda/12.4.1"
        assert pod["volumes"] == [{"name": "runtime-store", "persistentVolumeClaim": {"claimName": "rtfit-runtime-store", "readOnly": True}}]
    else:
        refs = sorted(v["image"]["reference"] for v in pod["volumes"])
        assert refs == ["registry.example/rtfit-store/cuda:12.4.1", "registry.example/rtfit-store/pytorch:2.4.1_cu124"]
    hpa = next(o for (res, _), o in api.objects.items() if res == "horizontalpodautoscalers")
    assert hpa["spec"]["maxReplicas"] == 4 and hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    log = Path(SqliteStateStore(tmp_path / "state").get_run(result.run_id).tasks["train"].log_path).read_text()
    assert "log of gpu-pipeline-train" in log


def test_node_name_binding_and_invalid_object_is_caught(store: RuntimeStore) -> None:
    from workflow.backends.kube_objects import pod_spec

    task = parse_flow(FLOW).tasks[0]
    placement = GpuPlacer().place([task])["train"]
    from workflow.store import compose

    composed = compose(placement.runtime, store, mount_root="/opt/rtfit", provided={"python": "3.11"})
    spec = pod_spec(task, placement, composed, image="python:3.11-slim", env={}, opts=KubeOptions(node_binding="nodeName"))
    assert spec["nodeName"] == "gpu-node-1" and "nodeSelector" not in spec
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": spec}
    validate(pod)
    broken = json.loads(json.dumps(pod))
    broken["spec"]["containers"][0]["volumeMounts"][0]["readonly"] = True  # a typo the schema must reject
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


def test_api_errors_become_backend_errors(tmp_path: Path, store: RuntimeStore) -> None:
    flow = parse_flow("name: f\ntasks:\n  - {name: a, model: {framework: pytorch}, command: [python, a.py]}\n")
    with KubeDouble() as api:
        client = api.api_client()
    backend = KubernetesBackend(KubeOptions(), api_client=client, poll_seconds=0.01)  # server is gone
    engine = Engine(backend=backend, placer=GpuPlacer(), store=store, state=SqliteStateStore(tmp_path / "s"),
                    logs_root=tmp_path / "s" / "runs", poll_interval=0.01)
    result = engine.run(flow)
    rec = SqliteStateStore(tmp_path / "s").get_run(result.run_id)
    assert result.states == {"a": "Failed"} and "kubernetes: creating Job" in rec.tasks["a"].message
