"""Components and images through a real OCI registry: the parts of bench/registry_bench.py, small.

A real registry (CNCF distribution, Debian `docker-registry`) on loopback; components pushed as
one-layer OCI images by rtfit; a monolithic image (base layer + the same components' bytes)
pushed beside them; the image path pulled and unpacked by real tools (`skopeo`, `umoci`) and
started; the composed path staged from the same registry into a node store, composed and
started; the Kubernetes ImageVolume pod spec names exactly the images the registry holds.

The tools come from Debian (`apt-get install docker-registry skopeo umoci`, done by `.ci/run`).
Without them the tests skip locally and FAIL when `RTFIT_REQUIRE_REGISTRY=1` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest

from workflow.backends.kube_objects import KubeOptions, pod_spec
from workflow.errors import StageFailed
from workflow.flow import parse_flow
from workflow.placement import Placement
from workflow.store import RuntimeStore, compose, stage_folder
from workflow.store.oci import (
    ANNOTATION_MANIFEST,
    RegistryClient,
    component_image_ref,
    image_config,
    push_component,
    stage_image,
    write_layer,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from ociregistry import LocalRegistry, registry_binary  # noqa: E402

TOOLS = {"registry": registry_binary(), "skopeo": shutil.which("skopeo"), "umoci": shutil.which("umoci")}
_missing = [name for name, path in TOOLS.items() if not path]
if _missing and os.environ.get("RTFIT_REQUIRE_REGISTRY") == "1":
    raise RuntimeError(f"RTFIT_REQUIRE_REGISTRY=1 but {', '.join(_missing)} not installed "
                       "(apt-get install docker-registry skopeo umoci)")
pytestmark = pytest.mark.skipif(bool(_missing), reason=f"not installed: {', '.join(_missing)} "
                                "(apt-get install docker-registry skopeo umoci; CI installs them)")

PREFIX_REPO = "rtfit"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg
    assert reg.proc is not None and reg.proc.poll() is not None  # torn down


def _build_store(root: Path) -> RuntimeStore:
    """Two small components with the shape of real ones: a library folder and a Python package."""
    st = RuntimeStore(root / "build-store")
    cuda = root / "src-cuda"
    (cuda / "lib").mkdir(parents=True)
    (cuda / "lib" / "libprobe.so.1").write_bytes(os.urandom(64 * 1024))
    (cuda / "lib" / "libprobe.so").symlink_to("libprobe.so.1")
    stage_folder(st, "cuda", "13.0.2", cuda)
    fw = root / "src-fw"
    pkg = fw / "site-packages" / "rtfitprobe"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "import os\n"
        "def run():\n"
        "    libs = os.environ.get('LD_LIBRARY_PATH', '').split(':')\n"
        "    found = [d for d in libs if d and os.path.exists(os.path.join(d, 'libprobe.so'))]\n"
        "    return 'ok ' + str(sum(range(10))) + ' ' + str(bool(found))\n"
    )
    (pkg / "weights.bin").write_bytes(os.urandom(256 * 1024))
    stage_folder(st, "pytorch", "2.13.0+cpu", fw)
    return st


def _run_probe(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-S", "-c", "import rtfitprobe; print(rtfitprobe.run())"],
                         env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_push_pull_compose_start_and_image_path(registry: LocalRegistry, tmp_path: Path) -> None:
    build = _build_store(tmp_path)
    prefix = f"{registry.address}/{PREFIX_REPO}"
    runtime = {"pytorch": "2.13.0+cpu", "cuda": "13.0.2"}
    with RegistryClient(registry.address) as client:
        pushed = {}
        for kind, version in runtime.items():
            ref = component_image_ref(prefix, kind, version)
            pushed[ref] = push_component(build.get(kind, version), ref, client=client, work=tmp_path / "oci")  # type: ignore[arg-type]
            assert pushed[ref][1] > 0
        # Deterministic layers: a second push sends nothing and names the same manifest.
        again = push_component(build.get("cuda", "13.0.2"), component_image_ref(prefix, "cuda", "13.0.2"),  # type: ignore[arg-type]
                               client=client, work=tmp_path / "oci")
        assert again == (pushed[component_image_ref(prefix, "cuda", "13.0.2")][0], 0)

        # The monolithic image: a base layer plus the same component bytes at fixed paths.
        base = tmp_path / "base-rootfs"
        (base / "etc").mkdir(parents=True)
        (base / "etc" / "os-release").write_text("ID=rtfit-test\n")
        layers, diff_ids = [], []
        for i, (src, prefix_path) in enumerate([(base, ""), (build.get("cuda", "13.0.2").path, "opt/cuda"),  # type: ignore[union-attr]
                                                (build.get("pytorch", "2.13.0+cpu").path, "opt/fw")]):  # type: ignore[union-attr]
            blob, diff_id = write_layer(src, tmp_path / "oci" / f"layer{i}.tar.gz", prefix=prefix_path)
            layers.append(blob)
            diff_ids.append(diff_id)
        config = image_config(diff_ids, env=["PYTHONPATH=/opt/fw/site-packages", "LD_LIBRARY_PATH=/opt/cuda/lib"])
        image_ref = f"{prefix}/monolithic:pytorch-2.13.0_cpu"
        client.push_image(f"{PREFIX_REPO}/monolithic", "pytorch-2.13.0_cpu", config, layers)

    # Image path with real tools: skopeo pulls into an OCI layout, umoci unpacks a bundle.
    layout = tmp_path / "node-images"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{image_ref}",
                    f"oci:{layout}:app"], check=True, capture_output=True)
    subprocess.run(["umoci", "unpack", "--image", f"{layout}:app", str(tmp_path / "bundle")], check=True,
                   capture_output=True)
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "etc" / "os-release").read_text() == "ID=rtfit-test\n"
    assert os.readlink(rootfs / "opt" / "cuda" / "lib" / "libprobe.so") == "libprobe.so.1"
    image_out = _run_probe({"PYTHONPATH": str(rootfs / "opt/fw/site-packages"),
                            "LD_LIBRARY_PATH": str(rootfs / "opt/cuda/lib")})

    # Composed path: stage each component from the same registry, compose, start.
    node = RuntimeStore(tmp_path / "node-store")
    pulled = 0
    for kind, version in runtime.items():
        component, got = stage_image(node, component_image_ref(prefix, kind, version))
        assert component.manifest.sha256 == build.get(kind, version).manifest.sha256  # type: ignore[union-attr]
        pulled += got
    assert [r.ok for r in node.verify()] == [True, True]
    composed = compose(runtime, node)
    composed_out = _run_probe(dict(composed.env))
    assert composed_out == image_out == "ok 45 True"
    with RegistryClient(registry.address) as client:  # bytes pulled = the component layers, once
        layer_bytes = sum(layer["size"] for ref in pushed
                          for layer in client.get_manifest(*ref.split("/", 1)[1].rsplit(":", 1))[0]["layers"])
    assert pulled == layer_bytes

    # skopeo reads rtfit's component images too (spec-conforming manifest + config).
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                              f"docker://{component_image_ref(prefix, 'pytorch', '2.13.0+cpu')}"],
                             check=True, capture_output=True, text=True)
    assert json.loads(inspect.stdout)["Labels"]["io.rtfit.component.version"] == "2.13.0+cpu"


def test_image_volume_pod_spec_mounts_exactly_the_pushed_images(registry: LocalRegistry, tmp_path: Path) -> None:
    build = _build_store(tmp_path)
    prefix = f"{registry.address}/{PREFIX_REPO}-iv"
    runtime = {"pytorch": "2.13.0+cpu", "cuda": "13.0.2"}
    with RegistryClient(registry.address) as client:
        for kind, version in runtime.items():
            push_component(build.get(kind, version), component_image_ref(prefix, kind, version),  # type: ignore[arg-type]
                           client=client, work=tmp_path / "oci")
        task = parse_flow("name: f\ntasks:\n  - name: t\n    command: [python, -c, 'import rtfitprobe']\n").tasks[0]
        composed = compose(runtime, build, mount_root="/opt/rtfit")
        opts = KubeOptions(store_image_prefix=prefix)
        spec = pod_spec(task, Placement("t", node="edge-1", runtime=runtime), composed, image=f"{prefix}/base:1",
                        env={}, opts=opts)
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "t"}, "spec": spec},
                                     "1.33", strict=True)
        refs = [v["image"]["reference"] for v in spec["volumes"]]
        assert sorted(refs) == sorted(component_image_ref(prefix, k, v) for k, v in runtime.items())
        for ref in refs:  # every reference resolves in the registry, to an rtfit component image
            repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
            manifest, _ = client.get_manifest(repo, tag)
            assert ANNOTATION_MANIFEST in manifest["annotations"]
        # Mount paths are the composed targets, whose env the layer root satisfies.
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts == {"/opt/rtfit/pytorch/2.13.0+cpu", "/opt/rtfit/cuda/13.0.2"}


def test_tampered_or_foreign_image_leaves_store_unchanged(registry: LocalRegistry, tmp_path: Path) -> None:
    build = _build_store(tmp_path)
    component = build.get("cuda", "13.0.2")
    assert component is not None
    layer, diff_id = write_layer(component.path, tmp_path / "layer.tar.gz")
    lying = dict(component.manifest.to_dict(), sha256="0" * 64)
    with RegistryClient(registry.address) as client:
        client.push_image("bad/cuda", "13.0.2", image_config([diff_id]), [layer],
                          annotations={ANNOTATION_MANIFEST: json.dumps(lying)})
        client.push_image("bad/plain", "1", image_config([diff_id]), [layer])
    node = RuntimeStore(tmp_path / "node")
    with pytest.raises(StageFailed, match="expected"):
        stage_image(node, f"{registry.address}/bad/cuda:13.0.2")
    with pytest.raises(Exception, match="not an rtfit component image"):
        stage_image(node, f"{registry.address}/bad/plain:1")
    # A registry that serves other bytes than the digest it names (storage corrupted on disk).
    good = push_component(component, f"{registry.address}/corrupt/cuda:13.0.2", work=tmp_path / "oci")
    assert good[1] > 0
    data = registry.root / "storage/docker/registry/v2/blobs/sha256" / layer.digest[7:9] / layer.digest[7:] / "data"
    # The same files compressed differently: the content check alone would pass; the digest must not.
    other, _ = write_layer(component.path, tmp_path / "other.tar.gz", level=1)
    assert other.digest != layer.digest
    data.write_bytes(other.path.read_bytes())  # type: ignore[union-attr]
    with pytest.raises(StageFailed, match=f"layer {layer.digest} arrived as {other.digest}"):
        stage_image(node, f"{registry.address}/corrupt/cuda:13.0.2")
    assert node.list() == []
    assert not (node.root / "cuda").exists() or list((node.root / "cuda").iterdir()) == []


def test_cli_push_then_pull_into_another_store(registry: LocalRegistry, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rtfit.cli import app

    build = _build_store(tmp_path)
    runner = CliRunner()
    prefix = f"{registry.address}/cli"
    r = runner.invoke(app, ["store", "push", "pytorch", "2.13.0+cpu", "--to", prefix, "--store", str(build.root)])
    assert r.exit_code == 0, r.output
    assert f"pushed {prefix}/pytorch:2.13.0_cpu@sha256:" in r.output
    node = tmp_path / "node"
    r = runner.invoke(app, ["store", "pull", f"{prefix}/pytorch:2.13.0_cpu", "--store", str(node)])
    assert r.exit_code == 0, r.output
    assert RuntimeStore(node).get("pytorch", "2.13.0+cpu") is not None
    # Absent image and unreachable registry: exit 2 with a message, no traceback.
    r = runner.invoke(app, ["store", "pull", f"{prefix}/pytorch:9.9", "--store", str(node)])
    assert r.exit_code == 2 and "no image cli/pytorch:9.9" in r.output
    r = runner.invoke(app, ["store", "pull", "127.0.0.1:9/rtfit/pytorch:1", "--store", str(node)])
    assert r.exit_code == 2 and "cannot pull" in r.output


def test_registry_bench_trace_model() -> None:
    """The trace of bench/registry_bench.py on fixed sizes and rates: what each strategy moves."""
    import registry_bench

    mb = 10**6
    layers = {"base": 50 * mb, "cuda/13.0.3": 1500 * mb, "cudnn/9.24.0.43": 600 * mb, "pytorch/2.14.1": 1000 * mb}
    run = {"image_cold": {"bytes": 3150 * mb, "pull_s": 31.5, "unpack_s": 63.0},
           "composed_cold": {"stage": {"cuda": {"bytes": 1500 * mb, "s": 30.0}}},
           "image_warm": {"start_s": 2.0}, "composed_warm": {"total_s": 2.0}}
    result = {"layers": {k: {"compressed": v} for k, v in layers.items()}, "runs": {"1gbit/cuda": run}}
    out = registry_bench.trace(result, nodes=1, weeks=8, seed=1, tasks_per_day=6)
    per = out["per_rate"]["1gbit"]["strategies"]
    composed, shared, whole = (per[k]["bytes_per_node"] for k in ("composed", "images, layer sharing",
                                                                   "images, no layer sharing"))
    # One node sees every version of the timeline: composed pulls each component version once.
    torch, ort = 1000 * mb, int(1000 * mb * 0.35)
    assert composed == 50 * mb + 2 * (1500 + 600) * mb + 4 * torch + 3 * ort
    # Layer sharing also re-pulls the frameworks still in use after the CUDA upgrade (2.13, 1.24 rebuilt on 13.1).
    assert shared == composed + torch
    assert whole > shared
    assert per["composed"]["tasks_that_pulled"] <= per["images, layer sharing"]["tasks_that_pulled"]
    # Times: a task that pulls nothing starts in the warm start time; pulls cost bytes / measured rate.
    assert per["composed"]["p50_start_s"] == 2.0
    assert per["images, no layer sharing"]["max_start_s"] == pytest.approx(2.0 + 31.5 + 63.0)
