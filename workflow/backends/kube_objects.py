"""Kubernetes objects for a task: pod spec, Job, and for serving tasks Deployment/Service/HPA.

Pure functions from (task, placement, composed runtime, options) to plain dicts, shared by the
Kubernetes backend and the Argo export. Components are mounted read-only at
`<mount_root>/<kind>/<version>` either as `subPath` mounts of one PVC holding the shared store
(NFS), or — with `store_image_prefix` — as OCI image volumes (`volumes[].image`, Kubernetes
ImageVolume; tags are `<prefix>/<kind>:<version with '+' as '_'>`). The node choice becomes a
`nodeSelector` on `kubernetes.io/hostname` (the scheduler still checks resources) or `nodeName`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow.flow import Task
from workflow.placement import Placement
from workflow.store.compose import ComposedRuntime
from workflow.store.oci import component_image_ref

__all__ = [
    "GPU_RESOURCE",
    "KubeOptions",
    "container_env",
    "deployment_manifest",
    "hpa_manifest",
    "job_manifest",
    "k8s_name",
    "pod_spec",
    "service_manifest",
]

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
_BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class KubeOptions:
    namespace: str = "default"
    service_account: str = "rtfit-runner"
    store_pvc: str = "rtfit-runtime-store"
    store_image_prefix: str | None = None
    mount_root: str = "/opt/rtfit"
    node_binding: str = "nodeSelector"   # nodeSelector | nodeName
    base_python: str = "3.11"             # what the default base image provides
    artifacts_pvc: str | None = None


def k8s_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from parts; long names keep a hash suffix so they stay unique."""
    raw = "-".join(parts).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    if len(name) > limit:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
        name = name[: limit - 9].rstrip("-") + "-" + digest
    return name or "task"


def container_env(composed: ComposedRuntime | None, extra: Mapping[str, str]) -> list[dict[str, str]]:
    env = dict(composed.env) if composed is not None else {}
    env["PATH"] = ":".join(p for p in (env.get("PATH", ""), _BASE_PATH) if p)
    env.update(extra)
    return [{"name": k, "value": str(v)} for k, v in sorted(env.items())]


def _store_volumes(composed: ComposedRuntime | None, opts: KubeOptions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if composed is None or not composed.mounts:
        return [], []
    mounts = []
    volumes: list[dict[str, Any]] = []
    if opts.store_image_prefix is None:
        volumes.append({"name": "runtime-store", "persistentVolumeClaim": {"claimName": opts.store_pvc, "readOnly": True}})
        for m in composed.mounts:
            mounts.append({"name": "runtime-store", "mountPath": m.target, "subPath": m.sub_path, "readOnly": True})
    else:
        for i, m in enumerate(composed.mounts):
            vol = k8s_name(f"rt{i}", m.kind)
            ref = component_image_ref(opts.store_image_prefix, m.kind, m.version)
            volumes.append({"name": vol, "image": {"reference": ref, "pullPolicy": "IfNotPresent"}})
            mounts.append({"name": vol, "mountPath": m.target, "readOnly": True})
    return volumes, mounts


def pod_spec(
    task: Task,
    placement: Placement,
    composed: ComposedRuntime | None,
    *,
    image: str,
    env: Mapping[str, str],
    opts: KubeOptions,
    restart_policy: str = "Never",
) -> dict[str, Any]:
    """The pod spec of one task: container, env, read-only component mounts, node and GPUs."""
    volumes, mounts = _store_volumes(composed, opts)
    if opts.artifacts_pvc:
        volumes.append({"name": "artifacts", "persistentVolumeClaim": {"claimName": opts.artifacts_pvc}})
        mounts.append({"name": "artifacts", "mountPath": "/artifacts"})
    container: dict[str, Any] = {
        "name": "task",
        "image": image,
        "command": list(task.command),
        "env": container_env(composed, env),
    }
    if task.workdir:
        container["workingDir"] = task.workdir
    if mounts:
        container["volumeMounts"] = mounts
    if placement.gpu_count:
        container["resources"] = {"limits": {GPU_RESOURCE: str(placement.gpu_count)}}
    if task.serve is not None:
        container["ports"] = [{"containerPort": task.serve.port, "name": "http"}]
        container["readinessProbe"] = {"httpGet": {"path": task.serve.health, "port": task.serve.port}, "periodSeconds": 5}
        container["resources"] = container.get("resources", {}) | {"requests": {"cpu": "250m"}}
    spec: dict[str, Any] = {"restartPolicy": restart_policy, "serviceAccountName": opts.service_account, "containers": [container]}
    if volumes:
        spec["volumes"] = volumes
    if placement.node and opts.node_binding == "nodeName":
        spec["nodeName"] = placement.node
    elif placement.node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": placement.node}
    elif placement.gpu and placement.gpu.get("product"):
        spec.update(_gpu_scheduling(placement))
    return spec


def _gpu_scheduling(placement: Placement) -> dict[str, Any]:
    """No node chosen: GPU Feature Discovery node selector (product, compute capability) and the
    driver-major affinity of the answer's install recipe."""
    sched = (placement.install or {}).get("kubernetes")
    if not sched:
        from solver.install.kube import gpu_scheduling

        gpu = placement.gpu or {}
        sched = gpu_scheduling(product=gpu.get("product"), compute_capability=gpu.get("compute_capability"),
                               count=placement.gpu_count or 1, min_driver_major=None)
    out: dict[str, Any] = {"nodeSelector": dict(sched["nodeSelector"])}
    if sched.get("affinity"):
        out["affinity"] = sched["affinity"]
    return out


def _labels(flow: str, task: str, run: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "rtfit", "rtfit.io/flow": k8s_name(flow), "rtfit.io/task": k8s_name(task),
            "rtfit.io/run": k8s_name(run)}


def job_manifest(name: str, spec: dict[str, Any], *, flow: str, task: Task, run: str, opts: KubeOptions) -> dict[str, Any]:
    """One attempt of one task as a batch/v1 Job (retries are new Jobs made by the runner)."""
    job_spec: dict[str, Any] = {"backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
                                "template": {"metadata": {"labels": _labels(flow, task.name, run)}, "spec": spec}}
    if task.timeout is not None:
        job_spec["activeDeadlineSeconds"] = max(1, int(task.timeout))
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(flow, task.name, run)},
            "spec": job_spec}


def deployment_manifest(name: str, spec: dict[str, Any], *, flow: str, task: Task, run: str, opts: KubeOptions) -> dict[str, Any]:
    serve = task.serve
    assert serve is not None
    selector = {"rtfit.io/flow": k8s_name(flow), "rtfit.io/task": k8s_name(task.name)}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(flow, task.name, run)},
            "spec": {"replicas": serve.replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": _labels(flow, task.name, run)}, "spec": spec}}}


def service_manifest(name: str, *, flow: str, task: Task, run: str, opts: KubeOptions) -> dict[str, Any]:
    serve = task.serve
    assert serve is not None
    selector = {"rtfit.io/flow": k8s_name(flow), "rtfit.io/task": k8s_name(task.name)}
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(flow, task.name, run)},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": serve.port}]}}


def hpa_manifest(name: str, *, flow: str, task: Task, run: str, opts: KubeOptions) -> dict[str, Any]:
    serve = task.serve
    assert serve is not None
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": opts.namespace, "labels": _labels(flow, task.name, run)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                     "minReplicas": serve.replicas, "maxReplicas": max(serve.replicas, serve.max_replicas),
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": serve.target_cpu_percent}}}]}}
