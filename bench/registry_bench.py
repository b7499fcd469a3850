"""Composed runtimes vs monolithic images, pulled from a real OCI registry over a shaped link.

One command (as root; about 25 min on the 2-core dev machine, most of it the 100 Mbit/s pulls):

    .venv/bin/python bench/registry_bench.py                      # prepare (cached), run, trace
    .venv/bin/python bench/registry_bench.py --rates 1gbit --runtimes cpu   # a quick subset
    .venv/bin/python bench/registry_bench.py --trace-only bench/out/registry/result.json

What it does (figures and their reading in docs/benchmarks.md, "Workflow"):

1. **Prepare** (cached under `bench/out/registry/`, not timed): a Debian bookworm minbase rootfs
   with python3 from debootstrap, trimmed like the `-slim` images (the base image); and a build
   store holding, staged with `pip install --target --no-deps` from the real wheels on disk,
   `cuda/13.0.3` (the CUDA 13.0 userspace wheels torch 2.14.1 requires: cudart, cuBLAS, cuFFT,
   cuRAND, cuSOLVER, cuSPARSE(Lt), NVRTC, nvJitLink, CUPTI, NVTX, cuFile, NCCL, NVSHMEM,
   cuda-bindings), `cudnn/9.24.0.43`, `pytorch/2.14.1` (the CUDA build + triton + its pure-Python
   dependencies) and `pytorch/2.13.0+cpu` (+ the same dependencies). Every component becomes one
   deterministic gzip layer (`workflow/store/oci.py`).
2. **Registry**: the benchmark re-runs itself in a private network namespace (`unshare --net`),
   brings its loopback up, starts a real registry (Debian `docker-registry`, CNCF distribution
   2.8) there and pushes: one image per component (what `rtfit store pull` stages and Kubernetes
   ImageVolumes mount), the base image, and one monolithic image per runtime layered like an NGC
   image: base + CUDA + cuDNN + framework (`runtime-cuda`), base + framework (`runtime-cpu`). The
   monolithic images reuse the component layers byte for byte (the framework's files land in the
   same `/site-packages` in successive layers), so both paths move exactly the same bytes.
3. **Shaped link**: `tc qdisc ... tbf rate R` on that namespace's loopback (no other traffic on
   the machine is affected; the namespace dies with the run). Registry and node share it.
4. **Timed, back to back, per rate and runtime** (node folders emptied before each cold run):
   - image cold: `skopeo copy docker://... oci:LAYOUT` (pull) + `umoci raw unpack` (unpack) + start;
   - image warm: start from the unpacked rootfs;
   - composed cold: base image pull + unpack (as above), `rtfit store pull` of each component
     (streamed, unpacked while it arrives, digests checked), compose + start;
   - composed, framework only: CUDA and cuDNN already staged, the framework staged + start (an
     upgrade, or a new framework on a node that serves another);
   - composed warm: compose + start.
   Start = `unshare --mount --pid --fork` + `chroot` into the rootfs (component folders bind-mounted
   read-only at `/opt/rtfit/<kind>/<version>` for the composed path) and
   `python3 -c "import torch; x = torch.ones(512, 512); print((x @ x).sum().item())"` on the CPU.
5. **Trace** (`--nodes 4 --weeks 8`): a seeded mix of tasks and runtime upgrades on edge nodes,
   replayed against three strategies with the measured layer sizes, link rates, unpack rates and
   start times: images without layer sharing (each release rebuilt, as NGC monthly images are),
   images with ideal layer sharing (same CUDA/cuDNN layers across framework images), composed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from ociregistry import LocalRegistry  # noqa: E402

from workflow.store import RuntimeStore, compose, stage_pip  # noqa: E402
from workflow.store.oci import (  # noqa: E402
    ANNOTATION_MANIFEST,
    Blob,
    RegistryClient,
    component_image_ref,
    image_config,
    image_tag,
    stage_image,
    write_layer,
)

OUT = REPO / "bench" / "out" / "registry"
WHEEL_DIRS = ["/opt/pypi-more/files", "/opt/wheels", str(OUT / "wheels")]
PY_DEPS = ["filelock", "typing-extensions", "setuptools", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec"]
CUDA_WHEELS = ["nvidia-cuda-runtime==13.0.96", "nvidia-cublas==13.1.1.3", "nvidia-cuda-nvrtc==13.0.88",
               "nvidia-cufft==12.0.0.61", "nvidia-cufile==1.15.1.6", "nvidia-cuda-cupti==13.0.85",
               "nvidia-curand==10.4.0.35", "nvidia-cusolver==12.0.4.66", "nvidia-cusparse==12.6.3.3",
               "nvidia-nvjitlink==13.4.92", "nvidia-nvtx==13.0.85", "nvidia-nccl-cu13==2.30.7",
               "nvidia-nvshmem-cu13==3.4.5", "nvidia-cusparselt-cu13==0.8.1", "cuda-toolkit==13.0.3.0",
               "cuda-bindings", "cuda-pathfinder"]
# What the prepare step downloads from PyPI when it is not on local disk (pip download, once).
DOWNLOADS = ["nvidia-cuda-runtime==13.0.96", "cuda-bindings>=13.0.3,<14", "triton~=3.8.0", *PY_DEPS]
COMPONENTS: dict[tuple[str, str], list[str]] = {
    ("cuda", "13.0.3"): CUDA_WHEELS,
    ("cudnn", "9.24.0.43"): ["nvidia-cudnn-cu13==9.24.0.43"],
    ("pytorch", "2.14.1"): ["torch==2.14.1", "triton~=3.8.0", *PY_DEPS],
    ("pytorch", "2.13.0+cpu"): ["torch==2.13.0+cpu", *PY_DEPS],
}
RUNTIMES: dict[str, dict[str, str]] = {
    "cuda": {"pytorch": "2.14.1", "cudnn": "9.24.0.43", "cuda": "13.0.3"},
    "cpu": {"pytorch": "2.13.0+cpu"},
}
TASK_CODE = "import torch; x = torch.ones(512, 512); print(torch.__version__, (x @ x).sum().item())"
PREFIX_REPO = "rtfit"
MOUNT_ROOT = "/opt/rtfit"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kw)


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


# ---------------------------------------------------------------------------- prepare

def prepare_base(out: Path) -> Path:
    rootfs = out / "base-rootfs"
    if not (rootfs / "usr/bin/python3").exists():
        log("debootstrap bookworm minbase + python3 (network: deb.debian.org)")
        shutil.rmtree(rootfs, ignore_errors=True)
        run(["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs),
             "http://deb.debian.org/debian"])
    for trim in ["var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
                 "usr/share/locale"]:   # what the -slim images leave out
        d = rootfs / trim
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif child.name not in ("locale.alias",):
                    child.unlink()
    return rootfs


def prepare_store(out: Path) -> RuntimeStore:
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not glob.glob(str(wheels / "triton-*.whl")):
        log("pip download (PyPI) of the wheels not on local disk")
        env = dict(os.environ, PIP_CONSTRAINT="/dev/null")
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels),
             *DOWNLOADS], env=env)
    store = RuntimeStore(out / "build-store")
    links = [a for d in WHEEL_DIRS if Path(d).is_dir() for a in ("--find-links", d)]
    for (kind, version), specs in COMPONENTS.items():
        if store.get(kind, version) is None:
            log(f"stage {kind}/{version} from wheels")
            stage_pip(store, kind, version, specs,
                      pip_args=["--no-deps", "--no-index", "--no-compile", "--isolated", *links])
    return store


@dataclass(frozen=True)
class Layer:
    blob: Blob
    diff_id: str
    unpacked: int


def cached_layer(src: Path, name: str, out: Path, key: str) -> Layer:
    """The layer of a folder, built once (gzip level 6, Go's and Docker's default) per content `key`."""
    path = out / "blobs" / f"{name}.tar.gz"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        m = json.loads(meta.read_text())
        if m.get("key") == key:
            return Layer(Blob(m["digest"], m["size"], m["media_type"], path=path), m["diff_id"], m["unpacked"])
    log(f"pack layer {name}")
    blob, diff_id = write_layer(src, path)
    unpacked = tree_bytes(src)
    meta.write_text(json.dumps({"digest": blob.digest, "size": blob.size, "media_type": blob.media_type,
                                "diff_id": diff_id, "unpacked": unpacked, "key": key}))
    return Layer(blob, diff_id, unpacked)


def prepare(out: Path) -> tuple[RuntimeStore, dict[str, Layer]]:
    base = prepare_base(out)
    store = prepare_store(out)
    layers = {"base": cached_layer(base, "base", out, "debootstrap")}
    for r in store.verify():   # a layer must hold exactly what the component manifest says
        if not r.ok:
            raise SystemExit(f"build store {store.root}: {r.component.ref}: {r.message}; remove it to re-stage")
    for kind, version in COMPONENTS:
        c = store.get(kind, version)
        assert c is not None
        layers[f"{kind}/{version}"] = cached_layer(c.path, f"{kind}-{image_tag(version)}", out, c.manifest.sha256)
    return store, layers


# ---------------------------------------------------------------------------- registry side

def push_all(reg: LocalRegistry, store: RuntimeStore, layers: dict[str, Layer]) -> dict[str, Any]:
    prefix = f"{reg.address}/{PREFIX_REPO}"
    pushed: dict[str, Any] = {}
    with RegistryClient(reg.address, timeout=600) as client:
        base = layers["base"]
        client.push_image(f"{PREFIX_REPO}/base", "bookworm-py3", image_config([base.diff_id]), [base.blob])
        pushed["base"] = f"{prefix}/base:bookworm-py3"
        for kind, version in COMPONENTS:
            c = store.get(kind, version)
            layer = layers[f"{kind}/{version}"]
            labels = {"io.rtfit.component.kind": kind, "io.rtfit.component.version": version}
            ref = component_image_ref(prefix, kind, version)
            client.push_image(f"{PREFIX_REPO}/{kind}", image_tag(version), image_config([layer.diff_id], labels=labels),
                              [layer.blob], annotations={ANNOTATION_MANIFEST: json.dumps(c.manifest.to_dict()), **labels})  # type: ignore[union-attr]
            pushed[f"{kind}/{version}"] = ref
        for name, runtime in RUNTIMES.items():
            order = ["cuda", "cudnn", "pytorch"]
            parts = [base] + [layers[f"{k}/{runtime[k]}"] for k in order if k in runtime]
            config = image_config([p.diff_id for p in parts], env=["PATH=/usr/local/bin:/usr/bin:/bin",
                                                                    "PYTHONPATH=/site-packages"],
                                  cmd=["python3", "-c", TASK_CODE])
            client.push_image(f"{PREFIX_REPO}/runtime-{name}", "1", config, [p.blob for p in parts])
            pushed[f"runtime-{name}"] = f"{prefix}/runtime-{name}:1"
    return pushed


def shape(rate: str | None) -> None:
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)
    if rate:
        # burst must hold a loopback frame (64 KiB MTU); the queue holds 50 ms at the rate.
        run(["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms"])


# ---------------------------------------------------------------------------- node side

def start_in(rootfs: Path, env: dict[str, str], binds: list[tuple[str, str]] = ()) -> tuple[float, str]:  # type: ignore[assignment]
    """Start the task in a fresh mount+pid namespace chrooted into rootfs; return (seconds, stdout)."""
    lines = ["set -e"]
    for src, target in binds:
        dst = f"{rootfs}{target}"
        lines += [f"mkdir -p '{dst}'", f"mount --bind '{src}' '{dst}'", f"mount -o remount,bind,ro '{dst}'"]
    lines.append(f"mount -t proc proc '{rootfs}/proc'")
    envs = " ".join(f"'{k}={v}'" for k, v in sorted(env.items()))
    lines.append(f"exec chroot '{rootfs}' /usr/bin/env -i {envs} python3 -c \"{TASK_CODE}\"")
    t = time.perf_counter()
    out = run(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", "\n".join(lines)])
    return time.perf_counter() - t, out.stdout.strip()


def skopeo_pull(ref: str, layout: Path, name: str) -> tuple[float, int]:
    before = tree_bytes(layout / "blobs") if (layout / "blobs").exists() else 0
    t = time.perf_counter()
    run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{layout}:{name}"])
    return time.perf_counter() - t, tree_bytes(layout / "blobs") - before


def umoci_unpack(layout: Path, name: str, rootfs: Path) -> float:
    t = time.perf_counter()
    run(["umoci", "raw", "unpack", "--image", f"{layout}:{name}", str(rootfs)])
    return time.perf_counter() - t


def image_env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": "/site-packages", "HOME": "/root",
            "PYTHONDONTWRITEBYTECODE": "1"}


def measure(pushed: dict[str, Any], runtime_name: str, node: Path, repeats: int) -> dict[str, Any]:
    runtime = RUNTIMES[runtime_name]
    res: dict[str, Any] = {}
    # --- image path, cold
    shutil.rmtree(node, ignore_errors=True)
    node.mkdir(parents=True)
    layout, rootfs = node / "images", node / "rootfs-image"
    pull_s, pulled = skopeo_pull(pushed[f"runtime-{runtime_name}"], layout, "app")
    unpack_s = umoci_unpack(layout, "app", rootfs)
    start_s, out = start_in(rootfs, image_env())
    res["image_cold"] = {"pull_s": pull_s, "unpack_s": unpack_s, "start_s": start_s,
                         "total_s": pull_s + unpack_s + start_s, "bytes": pulled, "output": out}
    log(f"  image cold: pull {pull_s:.1f} s ({pulled:,} B), unpack {unpack_s:.1f} s, start {start_s:.1f} s")
    warm = [start_in(rootfs, image_env())[0] for _ in range(repeats)]
    res["image_warm"] = {"start_s": statistics.median(warm), "all_s": warm, "total_s": statistics.median(warm), "bytes": 0}
    shutil.rmtree(node, ignore_errors=True)

    # --- composed path, cold: base image + components from the same registry
    node.mkdir(parents=True)
    layout, rootfs, store = node / "images", node / "rootfs-base", RuntimeStore(node / "store")
    base_pull_s, base_bytes = skopeo_pull(pushed["base"], layout, "base")
    base_unpack_s = umoci_unpack(layout, "base", rootfs)
    stage: dict[str, dict[str, float]] = {}
    for kind in runtime:
        t = time.perf_counter()
        _c, got = stage_image(store, pushed[f"{kind}/{runtime[kind]}"])
        stage[kind] = {"s": time.perf_counter() - t, "bytes": got}
    t = time.perf_counter()
    composed = compose(runtime, store, mount_root=MOUNT_ROOT)
    compose_s = time.perf_counter() - t
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1", **composed.env}
    env["PATH"] = ":".join(p for p in (composed.env.get("PATH", ""), "/usr/local/bin:/usr/bin:/bin") if p)
    binds = [(m.source, m.target) for m in composed.mounts]
    start_s, out_c = start_in(rootfs, env, binds)
    stage_s = sum(v["s"] for v in stage.values())
    stage_bytes = sum(int(v["bytes"]) for v in stage.values())
    res["composed_cold"] = {"base_pull_s": base_pull_s, "base_unpack_s": base_unpack_s, "base_bytes": base_bytes,
                            "stage": stage, "compose_s": compose_s, "start_s": start_s,
                            "total_s": base_pull_s + base_unpack_s + stage_s + compose_s + start_s,
                            "bytes": base_bytes + stage_bytes, "output": out_c}
    log(f"  composed cold: base {base_pull_s + base_unpack_s:.1f} s ({base_bytes:,} B), "
        f"stage {stage_s:.1f} s ({stage_bytes:,} B), start {start_s:.1f} s")
    warm_c = []
    for _ in range(repeats):
        t = time.perf_counter()
        composed = compose(runtime, store, mount_root=MOUNT_ROOT)
        c_s = time.perf_counter() - t
        warm_c.append(c_s + start_in(rootfs, env, binds)[0])
    res["composed_warm"] = {"total_s": statistics.median(warm_c), "all_s": warm_c, "bytes": 0}
    # --- composed, framework only (CUDA and cuDNN staged): an upgrade or a second framework
    if len(runtime) > 1:
        from workflow.store.stage import _remove_tree

        fw = store.get("pytorch", runtime["pytorch"])
        assert fw is not None
        _remove_tree(fw.path)
        t = time.perf_counter()
        _c, got = stage_image(store, pushed[f"pytorch/{runtime['pytorch']}"])
        fw_s = time.perf_counter() - t
        composed = compose(runtime, store, mount_root=MOUNT_ROOT)
        s_s, _ = start_in(rootfs, env, binds)
        res["composed_framework_only"] = {"stage_s": fw_s, "start_s": s_s, "total_s": fw_s + s_s, "bytes": got}
        log(f"  composed framework only: stage {fw_s:.1f} s ({got:,} B), start {s_s:.1f} s")
    if out != out_c:
        raise SystemExit(f"the two paths disagree: image {out!r} vs composed {out_c!r}")
    shutil.rmtree(node, ignore_errors=True)
    return res


def inside(args: argparse.Namespace) -> None:
    """Runs in the private network namespace: registry, push, shaped pulls."""
    run(["ip", "link", "set", "lo", "up"])
    store, layers = prepare(args.out)
    result: dict[str, Any] = {"layers": {k: {"compressed": v.blob.size, "unpacked": v.unpacked, "digest": v.blob.digest}
                                         for k, v in layers.items()}, "runs": {}}
    reg_root = args.out / "registry-data"
    shutil.rmtree(reg_root, ignore_errors=True)
    with LocalRegistry(reg_root) as reg:
        log(f"registry up on {reg.address} (private netns); pushing")
        t = time.perf_counter()
        pushed = push_all(reg, store, layers)
        result["push_s"] = time.perf_counter() - t
        result["images"] = pushed
        for rate in args.rates:
            shape(None if rate == "none" else rate)
            for name in args.runtimes:
                log(f"rate {rate}, runtime {name}")
                result["runs"][f"{rate}/{name}"] = measure(pushed, name, args.out / "node", args.repeats)
                (args.out / "partial.json").write_text(json.dumps(result, indent=2))
        shape(None)
    shutil.rmtree(reg_root, ignore_errors=True)
    result["registry_torn_down"] = reg.proc is not None and reg.proc.poll() is not None
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


# ---------------------------------------------------------------------------- trace

def trace(result: dict[str, Any], *, nodes: int, weeks: int, seed: int, tasks_per_day: int) -> dict[str, Any]:
    """Replay a seeded edge trace against three strategies with the measured sizes and rates."""
    L = result["layers"]
    base = L["base"]["compressed"]
    cuda, cudnn = L["cuda/13.0.3"]["compressed"], L["cudnn/9.24.0.43"]["compressed"]
    torch = L["pytorch/2.14.1"]["compressed"]
    ort = int(torch * 0.35)  # onnxruntime-gpu is ~1/3 of torch+triton; no ORT bytes on disk: a stated estimate
    # Timeline: versions in force from a given week (framework upgrades, one CUDA upgrade).
    timeline = [  # (from week, {kind: version})
        (0, {"cuda": "13.0", "cudnn": "9.24", "pytorch": "2.12", "onnxruntime": "1.23"}),
        (2, {"pytorch": "2.13"}),
        (4, {"cuda": "13.1", "cudnn": "9.25", "onnxruntime": "1.24"}),
        (5, {"pytorch": "2.14"}),
        (7, {"pytorch": "2.15", "onnxruntime": "1.25"}),
    ]
    sizes = {"cuda": cuda, "cudnn": cudnn, "pytorch": torch, "onnxruntime": ort}
    rng = random.Random(seed)
    state: dict[str, str] = {}
    events = []
    for day in range(weeks * 7):
        for wk, change in timeline:
            if wk * 7 == day:
                state.update(change)
        for _ in range(tasks_per_day):
            kind = rng.choices(["train", "export", "quantize", "serve"], weights=[4, 2, 2, 3])[0]
            fw = "pytorch" if kind in ("train", "export") else "onnxruntime"
            rt = {"cuda": state["cuda"], "cudnn": state["cudnn"], fw: state[fw]}
            events.append((day, rng.randrange(nodes), kind, rt))
    runs = result["runs"]
    out: dict[str, Any] = {"nodes": nodes, "weeks": weeks, "tasks": len(events), "seed": seed, "timeline": timeline,
                           "sizes": {"base": base, **sizes}, "per_rate": {}}
    order = ["cuda", "cudnn", "pytorch", "onnxruntime"]
    for rate in sorted({key.split("/")[0] for key in runs}):
        run_ = runs.get(f"{rate}/cuda")
        if run_ is None:
            continue
        ic, cc = run_["image_cold"], run_["composed_cold"]
        # Measured on this run: image pull + unpack rates (sequential, skopeo then umoci) and the
        # composed staging rate (download and unpack overlap); warm start of each path.
        rates = {"image_pull": ic["bytes"] / ic["pull_s"], "image_unpack": ic["bytes"] / ic["unpack_s"],
                 "composed_stage": sum(v["bytes"] for v in cc["stage"].values()) / sum(v["s"] for v in cc["stage"].values())}
        starts = {"image": run_["image_warm"]["start_s"], "composed": run_["composed_warm"]["total_s"]}
        per: dict[str, dict[str, float]] = {}
        for strategy in ("images, no layer sharing", "images, layer sharing", "composed"):
            have: list[set[Any]] = [set() for _ in range(nodes)]
            moved, times, pulls = 0, [], 0
            for _day, n, _kind, rt in events:
                kinds = [k for k in order if k in rt]
                if strategy == "composed":          # each component once per node
                    need = [("base", base)] + [((k, rt[k]), sizes[k]) for k in kinds]
                elif strategy == "images, layer sharing":   # Dockerfile chain: a layer is reused
                    need, chain = [(("base",), base)], ("base",)   # only under the same layers below it
                    for k in kinds:
                        chain = (*chain, (k, rt[k]))
                        need.append((chain, sizes[k]))
                else:                               # each release its own image, nothing shared
                    need = [(("image", tuple(sorted(rt.items()))), base + sum(sizes[k] for k in kinds))]
                new = sum(sz for key, sz in need if key not in have[n])
                have[n].update(key for key, _ in need)
                moved += new
                pulls += new > 0
                if strategy == "composed":
                    t = (new / rates["composed_stage"] if new else 0.0) + starts["composed"]
                else:
                    t = (new / rates["image_pull"] + new / rates["image_unpack"] if new else 0.0) + starts["image"]
                times.append(t)
            times.sort()
            per[strategy] = {"bytes_per_node": moved / nodes, "mean_start_s": statistics.fmean(times),
                             "p50_start_s": times[len(times) // 2], "p95_start_s": times[int(len(times) * 0.95)],
                             "max_start_s": times[-1], "tasks_that_pulled": pulls}
        out["per_rate"][rate] = {"rates_bytes_per_s": rates, "warm_start_s": starts, "strategies": per}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The docs/benchmarks.md tables from a result."""
    def mb(b: float) -> str:
        return f"{b / 1e6:,.0f} MB"

    rows = ["| runtime | link | path | bytes pulled | pull / stage s | unpack s | start s | time to started task |",
            "|---|---|---|---:|---:|---:|---:|---:|"]
    for key, r in result["runs"].items():
        rate, name = key.split("/")
        ic, cc = r["image_cold"], r["composed_cold"]
        stage_s = sum(v["s"] for v in cc["stage"].values())
        rows.append(f"| {name} | {rate} | image, cold | {mb(ic['bytes'])} | {ic['pull_s']:.1f} | {ic['unpack_s']:.1f} | "
                    f"{ic['start_s']:.1f} | **{ic['total_s']:.1f} s** |")
        rows.append(f"| {name} | {rate} | composed, cold (base image + components) | {mb(cc['bytes'])} | "
                    f"{cc['base_pull_s']:.1f} + {stage_s:.1f} | {cc['base_unpack_s']:.1f} | {cc['start_s']:.1f} | "
                    f"**{cc['total_s']:.1f} s** |")
        if "composed_framework_only" in r:
            fo = r["composed_framework_only"]
            rows.append(f"| {name} | {rate} | composed, framework only (CUDA, cuDNN staged) | {mb(fo['bytes'])} | "
                        f"{fo['stage_s']:.1f} | | {fo['start_s']:.1f} | **{fo['total_s']:.1f} s** |")
        rows.append(f"| {name} | {rate} | image, warm | 0 | | | {r['image_warm']['start_s']:.1f} | "
                    f"**{r['image_warm']['total_s']:.1f} s** |")
        rows.append(f"| {name} | {rate} | composed, warm | 0 | | | | **{r['composed_warm']['total_s']:.1f} s** |")
    out = ["\n".join(rows)]
    tr = result.get("trace")
    if tr:
        t = ["| link | strategy | bytes pulled per node | tasks that pulled | mean start s | p95 start s | max start s |",
             "|---|---|---:|---:|---:|---:|---:|"]
        for rate, pr in tr["per_rate"].items():
            for name, st in pr["strategies"].items():
                t.append(f"| {rate} | {name} | {st['bytes_per_node'] / 1e9:.2f} GB | {st['tasks_that_pulled']} | "
                         f"{st['mean_start_s']:.1f} | {st['p95_start_s']:.1f} | {st['max_start_s']:.1f} |")
        out.append("\n".join(t))
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--rates", default="100mbit,1gbit", help="tc tbf rates, comma-separated ('none' = unshaped)")
    ap.add_argument("--runtimes", default="cpu,cuda", help=f"of {sorted(RUNTIMES)}")
    ap.add_argument("--repeats", type=int, default=3, help="warm starts per path (median)")
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--tasks-per-day", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--trace-only", type=Path, help="replay the trace from a saved result.json")
    ap.add_argument("--markdown", action="store_true", help="print the docs tables instead of JSON")
    ap.add_argument("--prepare-only", action="store_true", help="build the rootfs, store and layers, then stop")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.rates = [r for r in args.rates.split(",") if r]
    args.runtimes = [r for r in args.runtimes.split(",") if r]
    if args.prepare_only:
        _store, layers = prepare(args.out)
        print(json.dumps({k: {"compressed": v.blob.size, "unpacked": v.unpacked} for k, v in layers.items()}, indent=2))
        return
    if args.inside:
        inside(args)
        return
    if args.trace_only:
        result = json.loads(args.trace_only.read_text())
    else:
        if os.geteuid() != 0:
            raise SystemExit("registry_bench needs root: it shapes a private network namespace with tc and "
                             "starts tasks with unshare + chroot")
        args.out.mkdir(parents=True, exist_ok=True)
        prepare(args.out)   # needs the network (debootstrap, pip download): before the private namespace
        argv = [sys.executable, __file__, "--inside", "--out", str(args.out), "--rates", ",".join(args.rates),
                "--runtimes", ",".join(args.runtimes), "--repeats", str(args.repeats)]
        proc = subprocess.run(["unshare", "--net", "--", *argv], stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.returncode)
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["trace"] = trace(result, nodes=args.nodes, weeks=args.weeks, seed=args.seed, tasks_per_day=args.tasks_per_day)
    (args.out / "result.json").write_text(json.dumps(result, indent=2))
    print(markdown(result) if args.markdown else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
