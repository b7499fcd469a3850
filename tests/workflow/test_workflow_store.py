"""Runtime store: atomic staging, manifests, digests, verify, compose, refusal of unsafe names."""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtfit.cli import app
from workflow.errors import ComponentMissing, InvalidComponentName, StoreError
from workflow.store import RuntimeStore, compose, content_digest, stage_archive, stage_folder, stage_pip


def make_component(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def cuda_src(tmp_path: Path) -> Path:
    return make_component(tmp_path / "src-cuda", {"bin/nvcc": "#!/bin/sh\n", "lib64/libcudart.so.12": "elf", "version.json": "{}"})


def test_stage_folder_writes_manifest_and_is_read_only(tmp_path: Path, cuda_src: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    c = stage_folder(store, "cuda", "12.4.1", cuda_src)
    data = json.loads((c.path / "manifest.json").read_text())
    assert data["kind"] == "cuda" and data["version"] == "12.4.1"
    assert data["size_bytes"] == len("#!/bin/sh\n") + len("elf") + len("{}")
    assert data["env"] == {"bin": ["bin"], "lib": ["lib64"], "python": []}
    assert data["sha256"] == content_digest(c.path)[1]
    assert not os.access(c.path / "bin" / "nvcc", os.W_OK) or os.geteuid() == 0
    assert (c.path.stat().st_mode & 0o222) == 0 and ((c.path / "bin" / "nvcc").stat().st_mode & 0o222) == 0
    assert [x.ref for x in store.list()] == ["cuda/12.4.1"]
    assert not [p for p in (store.root / "cuda").iterdir() if p.name.startswith(".staging")]


def test_digest_is_deterministic_across_stores(tmp_path: Path, cuda_src: Path) -> None:
    a = stage_folder(RuntimeStore(tmp_path / "a"), "cuda", "12.4.1", cuda_src)
    os.utime(cuda_src / "version.json", (1, 1))
    b = stage_folder(RuntimeStore(tmp_path / "b"), "cuda", "12.4.1", cuda_src)
    assert a.manifest.sha256 == b.manifest.sha256
    (cuda_src / "version.json").write_text("{ }")
    c = stage_folder(RuntimeStore(tmp_path / "c"), "cuda", "12.4.1", cuda_src)
    assert c.manifest.sha256 != a.manifest.sha256


def test_staged_component_is_immutable(tmp_path: Path, cuda_src: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    stage_folder(store, "cuda", "12.4.1", cuda_src)
    with pytest.raises(StoreError, match="already staged"):
        stage_folder(store, "cuda", "12.4.1", cuda_src)


def test_folder_without_manifest_is_never_used(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    make_component(store.root / "cuda" / "12.4.1", {"bin/nvcc": "x"})
    make_component(store.root / "cuda" / ".staging-12.5.0-abc", {"bin/nvcc": "x"})
    assert store.list() == [] and store.get("cuda", "12.4.1") is None
    with pytest.raises(ComponentMissing, match="cuda 12.4.1 is not staged"):
        compose({"cuda": "12.4.1"}, store)
    with pytest.raises(StoreError, match="has no manifest"):
        stage_folder(store, "cuda", "12.4.1", tmp_path)


def test_failed_stage_leaves_nothing(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(StoreError):
        stage_archive(store, "cudnn", "9.1.0", bad)
    assert list((store.root / "cudnn").iterdir()) == []


@pytest.mark.parametrize("kind,version", [("../etc", "1"), ("cuda", "../../x"), ("cu/da", "1"), ("cuda", ".."),
                                          ("cuda", ".hidden"), ("cuda", "1..2"), ("", "1")])
def test_unsafe_names_are_refused(tmp_path: Path, kind: str, version: str, cuda_src: Path) -> None:
    with pytest.raises(InvalidComponentName):
        stage_folder(RuntimeStore(tmp_path / "store"), kind, version, cuda_src)
    assert not (tmp_path / "etc").exists()


def test_archive_stage_tar_and_zip_and_traversal(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    tgz = tmp_path / "cudnn.tgz"
    with tarfile.open(tgz, "w:gz") as tf:
        data = b"libcudnn"
        info = tarfile.TarInfo("lib/libcudnn.so.9")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    c = stage_archive(store, "cudnn", "9.1.0", tgz)
    assert c.manifest.env.lib == ("lib",) and c.manifest.size_bytes == 8
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(StoreError):
        stage_archive(store, "evil", "1", evil)
    assert not (tmp_path / "escaped").exists() and store.get("evil", "1") is None
    z = tmp_path / "trt.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("lib/libnvinfer.so.10", "trt")
    assert stage_archive(store, "tensorrt", "10.3.0", z).manifest.size_bytes == 3
    zevil = tmp_path / "zevil.zip"
    with zipfile.ZipFile(zevil, "w") as zf:
        zf.writestr("../zescaped", "x")
    with pytest.raises(StoreError, match="escapes"):
        stage_archive(store, "zevil", "1", zevil)


def _tiny_wheel(tmp_path: Path) -> Path:
    wheel = tmp_path / "rtfit_tinypkg-1.0-py3-none-any.whl"
    files = {
        "rtfit_tinypkg/__init__.py": "VALUE = 42\n",
        "rtfit_tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: rtfit-tinypkg\nVersion: 1.0\n",
        "rtfit_tinypkg-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in files) + "rtfit_tinypkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("rtfit_tinypkg-1.0.dist-info/RECORD", record)
    return wheel


def test_stage_pip_and_compose_pythonpath(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    c = stage_pip(store, "tinypkg", "1.0", [str(_tiny_wheel(tmp_path))], pip_args=["--no-index", "--no-compile"])
    assert c.manifest.env.python == ("site-packages",)
    assert c.manifest.source["pip"][0].endswith(".whl")
    composed = compose({"tinypkg": "1.0"}, store)
    import subprocess

    out = subprocess.run([sys.executable, "-c", "import rtfit_tinypkg; print(rtfit_tinypkg.VALUE)"],
                         env={"PYTHONPATH": composed.env["PYTHONPATH"]}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "42"


def test_compose_orders_mounts_and_env(tmp_path: Path, cuda_src: Path) -> None:
    store = RuntimeStore(tmp_path / "store")
    stage_folder(store, "cuda", "12.4.1", cuda_src)
    fw = make_component(tmp_path / "fw", {"site-packages/torch/__init__.py": "", "site-packages/bin/torchrun": ""})
    stage_folder(store, "pytorch", "2.4.1+cu124", fw)
    cudnn = make_component(tmp_path / "cudnn", {"lib/libcudnn.so.9": "x"})
    stage_folder(store, "cudnn", "9.1.0.70", cudnn)
    runtime = {"cuda": "12.4", "cudnn": "9.1.0.70", "python": "3.11", "pytorch": "2.4.1+cu124"}
    local = compose(runtime, store, provided={"python": "3.11.7"})
    assert [m.kind for m in local.mounts] == ["pytorch", "cudnn", "cuda"]
    assert local.provided == {"python": "3.11.7"}
    assert local.env["CUDA_HOME"] == str(store.root / "cuda" / "12.4.1")
    pod = compose(runtime, store, mount_root="/opt/rtfit", provided={"python": "3.11"})
    assert pod.env["PYTHONPATH"] == "/opt/rtfit/pytorch/2.4.1+cu124/site-packages"
    assert pod.env["LD_LIBRARY_PATH"] == "/opt/rtfit/cudnn/9.1.0.70/lib:/opt/rtfit/cuda/12.4.1/lib64"
    assert pod.env["PATH"] == "/opt/rtfit/pytorch/2.4.1+cu124/site-packages/bin:/opt/rtfit/cuda/12.4.1/bin"
    assert [m.sub_path for m in pod.mounts] == ["pytorch/2.4.1+cu124", "cudnn/9.1.0.70", "cuda/12.4.1"]
    with pytest.raises(ComponentMissing, match="base environment has python 3.11.7"):
        compose({"python": "3.12"}, store, provided={"python": "3.11.7"})
    with pytest.raises(ComponentMissing, match="cuda 12.40"):
        compose({"cuda": "12.40"}, store)


def test_cli_stage_list_verify_detects_tampering(tmp_path: Path, cuda_src: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "store"
    r = runner.invoke(app, ["store", "stage", "cuda", "12.4.1", "--from", str(cuda_src), "--store", str(store)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["store", "list", "--store", str(store), "--json"])
    assert json.loads(r.stdout)[0]["version"] == "12.4.1"
    assert runner.invoke(app, ["store", "verify", "--store", str(store)]).exit_code == 0
    target = store / "cuda" / "12.4.1" / "version.json"
    target.chmod(0o644)
    target.write_text('{"tampered": true}')
    r = runner.invoke(app, ["store", "verify", "--store", str(store)])
    assert r.exit_code == 1
    assert "cuda/12.4.1" in r.stderr and "sha256 mismatch" in r.stderr
    r = runner.invoke(app, ["store", "stage", "../x", "1", "--from", str(cuda_src), "--store", str(store)])
    assert r.exit_code == 2 and "no '..'" in r.stderr and "Traceback" not in r.output


def test_stage_pip_does_not_judge_the_target_against_the_runners_packages(tmp_path: Path) -> None:
    """`pip install --target` checked the new packages against the interpreter's own environment and
    printed 'ERROR: pip's dependency resolver ... ortools requires protobuf<6.34, but you have protobuf
    7.36.2' while `make demo` staged pytorch (a fresh-clone trial): harmless, since a component is its own
    folder composed onto a bare base, but it reads as a failure. Here: a `pygments` 0.1 component beside the
    runner's rich (which needs pygments >= 2.13)."""
    import importlib.metadata

    assert any(r.startswith("pygments") for r in importlib.metadata.requires("rich") or [])  # the premise
    wheel = tmp_path / "pygments-0.1-py3-none-any.whl"
    files = {"pygments/__init__.py": "", "pygments-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: pygments\nVersion: 0.1\n",
             "pygments-0.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("pygments-0.1.dist-info/RECORD", "".join(f"{n},,\n" for n in files) + "pygments-0.1.dist-info/RECORD,,\n")
    log_path = tmp_path / "pip.log"
    with log_path.open("w") as log:
        stage_pip(RuntimeStore(tmp_path / "store"), "pygments", "0.1", [str(wheel)], pip_args=["--no-index", "--no-compile"],
                  log=log)
    text = log_path.read_text()
    assert "Successfully installed pygments-0.1" in text, text
    assert "dependency conflicts" not in text and "requires pygments" not in text, text
