"""The service's Kubernetes manifests: schema-valid, wired to the Secret/ConfigMap, and in kustomize."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from metadata_service.settings import Settings

BASE = Path(__file__).resolve().parents[2] / "deploy" / "base"
FILES = sorted(BASE.glob("service-*.yaml"))
K8S_VERSIONS = ["1.29.0", "1.33.0"]


def _docs() -> list[dict[str, Any]]:
    return [d for f in FILES for d in yaml.safe_load_all(f.read_text()) if d]


def _kind(kind: str) -> dict[str, Any]:
    return next(d for d in _docs() if d["kind"] == kind)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_strictly(version: str) -> None:
    assert {d["kind"] for d in _docs()} == {"ConfigMap", "Deployment", "Service"}
    for doc in _docs():
        kubernetes_validate.validate(doc, version, strict=True)


def test_validator_catches_a_broken_deployment() -> None:
    broken = _kind("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_database_url_comes_from_a_secret_and_settings_from_the_configmap() -> None:
    deployment, config = _kind("Deployment"), _kind("ConfigMap")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["RTFIT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "rtfit-postgres", "key": "database-url"}
    assert container["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    # Every ConfigMap key is a real setting (a typo would be silently ignored by pydantic-settings).
    fields = {f"RTFIT_{name.upper()}" for name in Settings.model_fields}
    assert set(config["data"]) <= fields, set(config["data"]) - fields
    tokens_dir = next(m for m in container["volumeMounts"] if m["name"] == "tokens")["mountPath"]
    assert config["data"]["RTFIT_TOKENS_FILE"].startswith(tokens_dir + "/")
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_service_address_matches_what_the_agent_uses() -> None:
    service = _kind("Service")
    agent = yaml.safe_load((BASE / "agent-daemonset.yaml").read_text())
    server = next(
        e["value"] for e in agent["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "RTFIT_SERVER"
    )
    assert server == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc:{service['spec']['ports'][0]['port']}"
    selector = service["spec"]["selector"]
    labels = _kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_files_are_listed_in_the_kustomization() -> None:
    resources = yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"]
    assert {f.name for f in FILES} <= set(resources)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds_the_base() -> None:
    out = subprocess.run(["kubectl", "kustomize", str(BASE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    names = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(out.stdout) if d}
    assert {("Deployment", "rtfit-service"), ("Service", "rtfit"), ("ConfigMap", "rtfit-service-config")} <= names
