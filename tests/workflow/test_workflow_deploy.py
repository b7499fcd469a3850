"""Every manifest the kustomizations reference builds and validates against the Kubernetes schema.

No kustomize binary: the `resources` lists are followed here (files and directories), overlay
patches are merged onto their targets, and each resulting object is validated strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_VERSION = "1.33"


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return patch


def build(folder: Path) -> list[dict[str, Any]]:
    """Objects of a kustomization folder: resources (recursively), namespace, then patches."""
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kust["kind"] == "Kustomization"
    objects: list[dict[str, Any]] = []
    for res in kust.get("resources", []):
        path = (folder / res).resolve()
        assert path.exists(), f"{folder}/kustomization.yaml: resource {res} does not exist"
        if path.is_dir():
            objects += build(path)
        else:
            objects += [d for d in yaml.safe_load_all(path.read_text()) if d]
    if kust.get("namespace"):
        for obj in objects:
            if obj["kind"] not in ("Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"):
                obj.setdefault("metadata", {})["namespace"] = kust["namespace"]
    for patch in kust.get("patches", []):
        body = yaml.safe_load((folder / patch["path"]).read_text())
        target = patch.get("target") or {"kind": body["kind"], "name": body["metadata"]["name"]}
        hits = [i for i, o in enumerate(objects) if o["kind"] == target["kind"] and o["metadata"]["name"] == target["name"]]
        assert hits, f"patch {patch['path']} matches nothing"
        for i in hits:
            objects[i] = _merge(objects[i], body)
    return objects


KUSTOMIZATIONS = sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml"))


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_validates(folder: Path) -> None:
    objects = build(folder)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_runner_rbac_covers_what_the_backend_calls() -> None:
    objs = {(o["kind"], o["metadata"]["name"]): o for o in build(DEPLOY / "base")}
    role = objs[("Role", "rtfit-runner")]
    allowed = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    needed = {("batch", "jobs", "create"), ("batch", "jobs/status", "get"), ("batch", "jobs", "delete"),
              ("", "pods", "list"), ("", "pods/log", "get"), ("apps", "deployments", "create"),
              ("apps", "deployments/status", "get"), ("apps", "deployments", "patch"), ("", "services", "create"),
              ("autoscaling", "horizontalpodautoscalers", "create")}
    assert needed <= allowed, needed - allowed
    binding = objs[("RoleBinding", "rtfit-runner")]
    assert binding["subjects"][0]["name"] == "rtfit-runner" and ("ServiceAccount", "rtfit-runner") in objs
    pvc = objs[("PersistentVolumeClaim", "rtfit-runtime-store")]
    assert pvc["spec"]["volumeName"] == "rtfit-runtime-store"


def test_edge_overlay_patches_the_nfs_export() -> None:
    pv = next(o for o in build(DEPLOY / "overlays" / "edge") if o["kind"] == "PersistentVolume")
    assert pv["spec"]["nfs"] == {"server": "10.20.0.5", "path": "/volume1/rtfit-store"}
    assert pv["spec"]["accessModes"] == ["ReadWriteMany", "ReadOnlyMany"]
