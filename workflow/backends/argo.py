"""Export a flow as an Argo Workflow (argoproj.io/v1alpha1): one DAG template, one template per task.

Each DAG task's `depends` is the flow's expression rendered with explicit states
(`train.Succeeded && (export.Failed || export.Skipped)`) — Argo's `depends` grammar uses the same
operators, and writing the state explicitly keeps the semantics identical (a bare name means
Succeeded here; in Argo it would also admit Skipped). Each task template carries the pod parts the
Kubernetes backend would use: image, command, composed env, read-only component mounts, GPU
limits, node choice (`nodeSelector`, or `podSpecPatch` with `nodeName`), `retryStrategy` and
`activeDeadlineSeconds`. A serving task becomes `resource` templates that apply its Deployment
(successful once a replica is ready), Service and HorizontalPodAutoscaler.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from workflow.backends.kube_objects import (
    KubeOptions,
    deployment_manifest,
    hpa_manifest,
    k8s_name,
    pod_spec,
    service_manifest,
)
from workflow.errors import FlowInvalid, FlowProblem
from workflow.flow import Flow, Task
from workflow.placement import Placement
from workflow.store.compose import ComposedRuntime, compose
from workflow.store.layout import RuntimeStore

__all__ = ["argo_workflow"]


def _env(flow: Flow, task: Task) -> dict[str, str]:
    env = {"RTFIT_RUN_ID": "{{workflow.name}}", "RTFIT_FLOW": flow.name, "RTFIT_TASK": task.name,
           "RTFIT_ARTIFACTS": "/artifacts"}
    if task.serve is not None:
        env["PORT"] = str(task.serve.port)
    return env | dict(task.env)


def _task_template(flow: Flow, task: Task, placement: Placement, composed: ComposedRuntime | None,
                   opts: KubeOptions) -> dict[str, Any]:
    env = _env(flow, task) | ({"RTFIT_NODE": placement.node} if placement.node else {})
    spec = pod_spec(task, placement, composed, image=task.image or flow.image, env=env, opts=opts)
    tpl: dict[str, Any] = {"name": "t-" + k8s_name(task.name), "container": spec["containers"][0]}
    tpl["container"]["name"] = "main"
    if "volumes" in spec:
        tpl["volumes"] = spec["volumes"]
    if "nodeSelector" in spec:
        tpl["nodeSelector"] = spec["nodeSelector"]
    if "affinity" in spec:
        tpl["affinity"] = spec["affinity"]
    if "nodeName" in spec:
        tpl["podSpecPatch"] = json.dumps({"nodeName": spec["nodeName"]})
    if task.retries:
        tpl["retryStrategy"] = {"limit": str(task.retries)}
    if task.timeout is not None:
        tpl["activeDeadlineSeconds"] = str(max(1, int(task.timeout)))
    tpl["metadata"] = {"labels": {"rtfit.io/flow": k8s_name(flow.name), "rtfit.io/task": k8s_name(task.name)}}
    return tpl


def _serve_templates(flow: Flow, task: Task, placement: Placement, composed: ComposedRuntime | None,
                     opts: KubeOptions) -> list[dict[str, Any]]:
    env = _env(flow, task) | ({"RTFIT_NODE": placement.node} if placement.node else {})
    spec = pod_spec(task, placement, composed, image=task.image or flow.image, env=env, opts=opts, restart_policy="Always")
    name = k8s_name(flow.name, task.name)
    kw: dict[str, Any] = {"flow": flow.name, "task": task, "run": "{{workflow.name}}", "opts": opts}
    objs = [("t-" + k8s_name(task.name), deployment_manifest(name, spec, **kw), "status.readyReplicas > 0"),
            ("t-" + k8s_name(task.name, "svc"), service_manifest(name, **kw), None),
            ("t-" + k8s_name(task.name, "hpa"), hpa_manifest(name, **kw), None)]
    out = []
    for tpl_name, obj, success in objs:
        obj["metadata"]["labels"]["rtfit.io/run"] = "{{workflow.name}}"
        resource: dict[str, Any] = {"action": "apply", "manifest": yaml.safe_dump(obj, sort_keys=False)}
        if success:
            resource["successCondition"] = success
        out.append({"name": tpl_name, "resource": resource})
    return out


def argo_workflow(flow: Flow, placements: Mapping[str, Placement], *, store: RuntimeStore,
                  opts: KubeOptions) -> dict[str, Any]:
    """The Workflow object for `flow` with every task placed and composed."""
    templates: list[dict[str, Any]] = []
    dag: list[dict[str, Any]] = []
    names = {k8s_name(t.name) for t in flow.tasks}
    for task in flow.topological():
        placement = placements[task.name]
        composed = None
        if task.model is not None or task.runtime:
            composed = compose(placement.runtime, store, mount_root=opts.mount_root, provided={"python": opts.base_python},
                               stage_hints=placement.stage_hints())
        entry: dict[str, Any] = {"name": k8s_name(task.name), "template": "t-" + k8s_name(task.name)}
        if task.depends is not None:
            entry["depends"] = task.depends.render()
        dag.append(entry)
        if task.serve is None:
            templates.append(_task_template(flow, task, placement, composed, opts))
            continue
        serve_tpls = _serve_templates(flow, task, placement, composed, opts)
        templates.extend(serve_tpls)
        for extra in serve_tpls[1:]:
            dag_name = extra["name"][2:]
            if dag_name in names:
                raise FlowInvalid([FlowProblem(f"the Argo export needs the name '{dag_name}' for this serving task's "
                                               "Service/HPA step, but a task has it", task=task.name, field="name")])
            dag.append({"name": dag_name, "template": extra["name"], "depends": f"{k8s_name(task.name)}.Succeeded"})
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": k8s_name(flow.name) + "-", "namespace": opts.namespace,
                     "labels": {"app.kubernetes.io/managed-by": "rtfit", "rtfit.io/flow": k8s_name(flow.name)}},
        "spec": {"entrypoint": "main", "serviceAccountName": opts.service_account,
                 "templates": [{"name": "main", "dag": {"tasks": dag}}, *templates]},
    }
