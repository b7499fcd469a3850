"""Argo export: validated against Argo's own API models (hera's generated pydantic models, with a
round-trip check so unknown fields are caught), pod parts against the Kubernetes schema, and the
DAG's `depends` mirroring the flow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hera.workflows.models import Workflow
from test_workflow_kube import FLOW, GpuPlacer, store  # noqa: F401  (fixture)
from typer.testing import CliRunner

from workflow.errors import FlowInvalid
from workflow.expr import parse_expression
from workflow.flow import parse_flow
from workflow.runner import export_flow
from workflow.store import RuntimeStore


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def validate_argo(doc: dict[str, Any]) -> None:
    """Argo's schema via hera's models; fields the models do not know would vanish in the round trip."""
    model = Workflow.model_validate(doc)
    again = _strip_none(model.model_dump(by_alias=True, exclude_none=True, mode="json"))
    assert again == json.loads(json.dumps(doc)), "fields unknown to Argo's Workflow schema"


def test_export_validates_and_mirrors_depends(store: RuntimeStore) -> None:  # noqa: F811
    flow = parse_flow(FLOW)
    doc = export_flow(flow, store=store, placer=GpuPlacer(), namespace="ml")
    validate_argo(doc)
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "Workflow"
    dag = {t["name"]: t for t in doc["spec"]["templates"][0]["dag"]["tasks"]}
    assert dag["after-broken"]["depends"] == "broken.Failed && train.Succeeded"
    assert dag["broken"]["depends"] == "train.Succeeded"
    for t in flow.tasks:
        if t.depends is not None:
            assert parse_expression(dag[t.name]["depends"]) == t.depends
    assert dag["serve-svc"]["depends"] == "serve.Succeeded" and dag["serve-hpa"]["depends"] == "serve.Succeeded"
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    train = templates["t-train"]
    assert train["nodeSelector"] == {"kubernetes.io/hostname": "gpu-node-1"}
    assert train["container"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert train["activeDeadlineSeconds"] == "600"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
           "spec": {"containers": [train["container"]], "volumes": train["volumes"], "nodeSelector": train["nodeSelector"]}}
    kubernetes_validate.validate(pod, "1.33", strict=True)
    deployment = yaml.safe_load(templates["t-serve"]["resource"]["manifest"])
    kubernetes_validate.validate(deployment, "1.33", strict=True)
    assert templates["t-serve"]["resource"]["successCondition"] == "status.readyReplicas > 0"


def test_validation_catches_a_bad_field(store: RuntimeStore) -> None:  # noqa: F811
    doc = export_flow(parse_flow(FLOW), store=store, placer=GpuPlacer())
    doc["spec"]["templates"][1]["retryStrateggy"] = {"limit": "1"}
    with pytest.raises(AssertionError, match="unknown to Argo"):
        validate_argo(doc)
    doc = export_flow(parse_flow(FLOW), store=store, placer=GpuPlacer())
    doc["spec"]["templates"][0]["dag"]["tasks"] = "not-a-list"
    with pytest.raises(Exception, match="validation error"):
        Workflow.model_validate(doc)


def test_export_name_clash_is_reported(store: RuntimeStore) -> None:  # noqa: F811
    text = FLOW + "  - name: serve-svc\n    command: [echo]\n"
    with pytest.raises(FlowInvalid, match="serve-svc"):
        export_flow(parse_flow(text), store=store, placer=GpuPlacer())


def test_cli_export_without_models(tmp_path: Path) -> None:
    flow = tmp_path / "f.yaml"
    flow.write_text("name: plain\ntasks:\n  - {name: a, command: [echo, hi], retries: 2}\n"
                    "  - {name: b, depends: 'a.Failed || a.Skipped', command: [echo]}\n")
    r = CliRunner().invoke(__import__("rtfit.cli", fromlist=["app"]).app,
                           ["flow", "export", "--format", "argo", str(flow), "--store", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(r.stdout)
    validate_argo(doc)
    dag = doc["spec"]["templates"][0]["dag"]["tasks"]
    assert dag[1]["depends"] == "a.Failed || a.Skipped"
    assert doc["spec"]["templates"][1]["retryStrategy"] == {"limit": "2"}


def test_cli_exports_the_example_flow_on_the_base_images_python(tmp_path: Path) -> None:
    """README's `rtfit flow export --format argo examples/mnist-lite/flow.yaml` on the real solver: the
    tasks' runtimes take the base image's Python (KubeOptions.base_python), which the container provides.
    Before, the solver chose the newest Python (3.15) and the export failed: 'runtime wants python 3.15
    but the base environment has python 3.11 and the store ... holds no python 3.15' (fresh-clone trial)."""
    from workflow.backends.kube_objects import KubeOptions
    from workflow.store import stage_folder

    root = Path(__file__).resolve().parents[2]
    st = RuntimeStore(tmp_path / "st")
    flow_doc = yaml.safe_load((root / "examples" / "mnist-lite" / "flow.yaml").read_text())
    pinned = {(k, v) for t in flow_doc["tasks"] for k, v in (t.get("runtime") or {}).items()}
    assert {k for k, _ in pinned} == {"scikit-learn", "pytorch", "onnxruntime"}
    for kind, version in sorted(pinned):
        src = tmp_path / f"src-{kind}"
        (src / "site-packages" / kind).mkdir(parents=True)
        (src / "site-packages" / kind / "__init__.py").write_text("")
        stage_folder(st, kind, version, src)
    r = CliRunner().invoke(__import__("rtfit.cli", fromlist=["app"]).app,
                           ["flow", "export", "--format", "argo", str(root / "examples" / "mnist-lite" / "flow.yaml"),
                            "--store", str(st.root)])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(r.stdout)
    validate_argo(doc)
    base = KubeOptions().base_python
    images = {t["container"]["image"] for t in doc["spec"]["templates"] if "container" in t}
    assert images == {f"python:{base}-slim"}, images
