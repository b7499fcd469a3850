"""The agent DaemonSet, validated against the real Kubernetes OpenAPI schema (kubernetes-validate)."""

from __future__ import annotations

import copy
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

BASE = Path(__file__).resolve().parents[2] / "deploy" / "base"
MANIFEST = BASE / "agent-daemonset.yaml"
K8S_VERSIONS = ["1.29.0", "1.33.0"]  # an older and a recent release the package ships schemas for


def _daemonset() -> dict:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    assert len(docs) == 1
    return docs[0]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_daemonset_validates_strictly_against_the_kubernetes_schema(version: str) -> None:
    kubernetes_validate.validate(_daemonset(), version, strict=True)


def test_the_validator_does_catch_a_broken_daemonset() -> None:
    broken = copy.deepcopy(_daemonset())
    broken["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["readOnly"] = "yes"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)
    typo = copy.deepcopy(_daemonset())
    typo["spec"]["template"]["spec"]["runtimeClass"] = "nvidia"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, K8S_VERSIONS[-1], strict=True)


def test_daemonset_runs_on_gpu_nodes_with_the_nvidia_runtime_and_a_read_only_store() -> None:
    ds = _daemonset()
    pod = ds["spec"]["template"]["spec"]
    assert (
        ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    )
    assert pod["runtimeClassName"] == "nvidia"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    container = pod["containers"][0]
    assert container["command"] == ["rtfit", "agent"]
    assert "resources" in container and "limits" in container["resources"]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]  # observes GPUs, never takes one
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    env = {e["name"]: e for e in container["env"]}
    store = mounts["runtime-store"]
    assert store["readOnly"] is True and store["mountPath"] == env["RTFIT_STORE"]["value"]
    assert volumes["runtime-store"]["hostPath"]["path"] == "/var/lib/rtfit/store"
    features = "/etc/kubernetes/node-feature-discovery/features.d"
    assert volumes["nfd-features"]["hostPath"]["path"] == features
    assert mounts["nfd-features"]["mountPath"] == features and not mounts["nfd-features"].get("readOnly")
    assert env["RTFIT_NFD_FEATURES_FILE"]["value"].startswith(features + "/")
    # the token comes from a Secret, one key per node, picked by the node name
    assert volumes["agent-token"]["secret"]["secretName"] == "rtfit-agent-tokens"
    assert env["RTFIT_TOKEN_FILE"]["value"] == mounts["agent-token"]["mountPath"] + "/$(NODE_NAME)"
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    names = [e["name"] for e in container["env"]]
    assert names.index("NODE_NAME") < names.index("RTFIT_TOKEN_FILE")  # $(VAR) expands only earlier vars


def test_kustomization_lists_the_daemonset() -> None:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert "agent-daemonset.yaml" in kustomization["resources"]
    for resource in kustomization["resources"]:
        assert (BASE / resource).exists(), resource
