"""The runner and the install recipe: `flow export` names the exact stage command of a missing
component, GPU pods get GPU Feature Discovery selectors and driver affinity when no node is
chosen, and `store stage --index-url` installs from the index it is given."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import kubernetes_validate
import yaml
from test_workflow_argo import validate_argo
from typer.testing import CliRunner

from rtfit.cli import app
from workflow.store import RuntimeStore, compose, stage_folder

FLOW = """\
name: gpu-flow
tasks:
  - name: train
    model: {framework: pytorch, framework_version: "==2.6.0+cu126", python: "==3.11"}
    command: [python, train.py]
"""


def test_flow_export_prints_the_exact_stage_command(tmp_path: Path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    r = CliRunner().invoke(app, ["flow", "export", "--format", "argo", str(flow), "--store", str(tmp_path / "st")])
    assert r.exit_code != 0
    assert ("stage it with: rtfit store stage pytorch 2.6.0+cu126 --pip torch==2.6.0+cu126 "
            "--index-url https://download.pytorch.org/whl/cu126 --python python3.11") in r.output


def test_exported_gpu_pod_selects_gfd_labels_and_driver(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path / "st")
    for kind, version in (("pytorch", "2.6.0+cu126"), ("cuda", "12.6"), ("cudnn", "9.5.1.17")):
        src = tmp_path / f"src-{kind}"
        (src / "lib").mkdir(parents=True)
        (src / "lib" / f"lib{kind}.so").write_text(kind)
        stage_folder(store, kind, version, src)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    r = CliRunner().invoke(app, ["flow", "export", "--format", "argo", str(flow), "--store", str(store.root)])
    assert r.exit_code == 0, r.output
    doc = yaml.safe_load(r.stdout)
    validate_argo(doc)
    tpl = next(t for t in doc["spec"]["templates"] if t["name"] == "t-train")
    selector = tpl["nodeSelector"]
    assert selector["nvidia.com/gpu.product"] == selector["nvidia.com/gpu.product"].replace(" ", "-")
    assert {"nvidia.com/gpu.compute.major", "nvidia.com/gpu.compute.minor"} <= set(selector)
    terms = tpl["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert [t["matchExpressions"][0]["key"] for t in terms] == ["nvidia.com/cuda.driver-version.major",
                                                                "nvidia.com/cuda.driver.major"]
    assert tpl["container"]["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"},
           "spec": {"containers": [tpl["container"]], "nodeSelector": selector, "affinity": tpl["affinity"],
                    **({"volumes": tpl["volumes"]} if "volumes" in tpl else {})}}
    kubernetes_validate.validate(pod, "1.33", strict=True)


def _simple_index(tmp_path: Path) -> Path:
    """A PEP 503 index in a folder holding one tiny wheel that exists nowhere else."""
    files = tmp_path / "files"
    files.mkdir()
    wheel = files / "rtfit_idxpkg-1.0-py3-none-any.whl"
    meta = {"rtfit_idxpkg/__init__.py": "VALUE = 7\n",
            "rtfit_idxpkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: rtfit-idxpkg\nVersion: 1.0\n",
            "rtfit_idxpkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                                "Tag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in meta.items():
            zf.writestr(name, text)
        zf.writestr("rtfit_idxpkg-1.0.dist-info/RECORD", "".join(f"{n},,\n" for n in meta)
                    + "rtfit_idxpkg-1.0.dist-info/RECORD,,\n")
    project = tmp_path / "simple" / "rtfit-idxpkg"
    project.mkdir(parents=True)
    project.joinpath("index.html").write_text(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return tmp_path / "simple"


def test_store_stage_passes_index_urls_to_pip(tmp_path: Path) -> None:
    index = _simple_index(tmp_path)
    rtfit = str(Path(sys.executable).parent / "rtfit")
    store = tmp_path / "store"
    env = {**os.environ, "PIP_CONSTRAINT": "/dev/null", "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": ""}
    base = [rtfit, "store", "stage", "idxpkg", "1.0", "--pip", "rtfit-idxpkg==1.0", "--store", str(store)]
    without = subprocess.run([*base, "--index-url", (tmp_path / "nowhere").as_uri()], capture_output=True,
                             text=True, env=env)
    assert without.returncode != 0
    done = subprocess.run([*base, "--index-url", (tmp_path / "nowhere").as_uri(), "--extra-index-url",
                           index.as_uri()], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    composed = compose({"idxpkg": "1.0"}, RuntimeStore(store))
    out = subprocess.run([sys.executable, "-c", "import rtfit_idxpkg; print(rtfit_idxpkg.VALUE)"],
                         env={"PYTHONPATH": composed.env["PYTHONPATH"]}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "7"
    r = CliRunner().invoke(app, ["store", "stage", "x", "1", "--from", str(tmp_path), "--index-url", "http://x",
                                 "--store", str(store)])
    assert r.exit_code != 0 and "apply to --pip only" in r.output
