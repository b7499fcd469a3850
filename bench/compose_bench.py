"""Composed runtimes vs monolithic images: start latency and bytes staged per node.

Two measurements (not a unit test; figures go to docs/benchmarks.md "## Workflow"):

1. **Start from a warm store vs unpacking one image layer.** Compose a runtime from a staged store
   (manifest reads only) and start a task that imports the framework, versus packing the very same
   component folders into one gzip tar layer (built beforehand, as an image build would) and
   timing extract-into-a-fresh-folder + the same start. Network pull time is not included: both
   sides start from bytes already on the node, so this isolates what composition saves locally.
2. **Bytes staged per node over a task trace.** A seeded trace of ML tasks (train / export /
   quantize / serve across framework versions and upgrades) on N nodes; component sizes from the
   catalog (`size_bytes` of framework builds); composed = each component version pulled once per
   node + one small base image; monolithic = one image per distinct runtime (framework + CUDA
   userspace + base), pulled once per node. Sizes the catalog does not carry (CUDA userspace) are
   parameters, printed as assumptions.

    .venv/bin/python bench/compose_bench.py --store .rtfit/demo-store --runtime pytorch=2.13.0+cpu \
        --import torch [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.version import Version  # noqa: E402

from catalog import load_catalog  # noqa: E402
from workflow.store import RuntimeStore, compose  # noqa: E402

BASE_IMAGE_BYTES = 78 * 10**6  # the published base image size the issue compares against


def _start(env_extra: dict[str, str], module: str) -> float:
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1", **env_extra}
    t = time.perf_counter()
    subprocess.run([sys.executable, "-S", "-c", f"import {module}"], env=env, check=True)
    return time.perf_counter() - t


def start_latency(store_dir: Path, runtime: dict[str, str], module: str, repeats: int) -> dict[str, Any]:
    store = RuntimeStore(store_dir)
    composed_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        composed = compose(runtime, store)
        compose_s = time.perf_counter() - t
        composed_times.append(compose_s + _start(dict(composed.env), module))
    work = Path(tempfile.mkdtemp(prefix="rtfit-bench-", dir=store_dir.parent))
    try:
        layer = work / "layer.tar.gz"
        t = time.perf_counter()
        with tarfile.open(layer, "w:gz") as tf:
            for m in composed.mounts:
                tf.add(m.source, arcname=m.sub_path)
        build_s = time.perf_counter() - t
        image_times = []
        for i in range(repeats):
            dest = work / f"rootfs{i}"
            t = time.perf_counter()
            with tarfile.open(layer) as tf:
                tf.extractall(dest, filter="data")
            extract_s = time.perf_counter() - t
            pythonpath = ":".join(str(dest / m.sub_path / p) for m in composed.mounts
                                  for p in store.get(m.kind, m.version).manifest.env.python)  # type: ignore[union-attr]
            image_times.append(extract_s + _start({"PYTHONPATH": pythonpath}, module))
            shutil.rmtree(dest)
        return {
            "runtime": runtime, "module": module, "component_bytes": composed.size_bytes,
            "layer_gzip_bytes": layer.stat().st_size, "layer_build_s": round(build_s, 2),
            "composed_start_s_median": round(statistics.median(composed_times), 3),
            "image_extract_and_start_s_median": round(statistics.median(image_times), 3),
            "speedup": round(statistics.median(image_times) / statistics.median(composed_times), 1),
            "repeats": repeats,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sized_builds(framework: str, cuda_major: str) -> list[tuple[str, int]]:
    rows = load_catalog().component_rows(kind=framework)
    out: dict[str, int] = {}
    for r in rows:
        cuda = str(r.get("cuda") or "")
        if r.get("size_bytes") and (cuda.startswith(cuda_major) or framework == "onnxruntime"):
            out.setdefault(str(r["version"]), int(r["size_bytes"]))
    return sorted(out.items(), key=lambda kv: Version(kv[0].split("+")[0]))


def staging_trace(*, nodes: int, tasks: int, seed: int, cuda_bytes: int) -> dict[str, Any]:
    pt = _sized_builds("pytorch", "12")[-3:]
    ort = _sized_builds("onnxruntime", "12")[-2:]
    if len(pt) < 2 or len(ort) < 1:
        raise SystemExit("catalog has too few sized pytorch/onnxruntime builds for the trace")
    rng = random.Random(seed)
    # A task type = (name, runtime). Over the trace the team moves from the oldest to the newest
    # PyTorch; export uses the training runtime; quantize/serve use ONNX Runtime.
    trace = []
    for i in range(tasks):
        phase = min(len(pt) - 1, i * len(pt) // tasks)
        pt_v, pt_size = pt[phase]
        ort_v, ort_size = ort[min(len(ort) - 1, i * len(ort) // tasks)]
        kind = rng.choices(["train", "export", "quantize", "serve"], weights=[4, 2, 2, 3])[0]
        if kind in ("train", "export"):
            runtime = {"cuda": ("12", cuda_bytes), "pytorch": (pt_v, pt_size)}
        else:
            runtime = {"cuda": ("12", cuda_bytes), "onnxruntime": (ort_v, ort_size)}
        trace.append((rng.randrange(nodes), runtime))
    composed_cache: list[set[tuple[str, str]]] = [set() for _ in range(nodes)]
    image_cache: list[set[tuple[tuple[str, str], ...]]] = [set() for _ in range(nodes)]
    composed_bytes = nodes * BASE_IMAGE_BYTES
    image_bytes = 0
    for node, runtime in trace:
        for kind, (version, size) in runtime.items():
            if (kind, version) not in composed_cache[node]:
                composed_cache[node].add((kind, version))
                composed_bytes += size
        key = tuple(sorted((k, v) for k, (v, _) in runtime.items()))
        if key not in image_cache[node]:
            image_cache[node].add(key)
            image_bytes += BASE_IMAGE_BYTES + sum(size for _, size in runtime.values())
    return {
        "nodes": nodes, "tasks": tasks, "seed": seed,
        "pytorch_builds": dict(pt), "onnxruntime_builds": dict(ort),
        "assumed_cuda_userspace_bytes": cuda_bytes, "base_image_bytes": BASE_IMAGE_BYTES,
        "composed_bytes_per_node": composed_bytes // nodes, "monolithic_bytes_per_node": image_bytes // nodes,
        "ratio": round(image_bytes / composed_bytes, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, default=Path(".rtfit/demo-store"))
    ap.add_argument("--runtime", action="append", default=[], help="kind=version (repeatable)")
    ap.add_argument("--import", dest="module", default="torch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--nodes", type=int, default=6)
    ap.add_argument("--tasks", type=int, default=400)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cuda-bytes", type=int, default=3_000_000_000,
                    help="CUDA userspace (runtime libs + cuDNN) per runtime; not in the catalog, an assumption")
    ap.add_argument("--skip-start", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result: dict[str, Any] = {"trace": staging_trace(nodes=args.nodes, tasks=args.tasks, seed=args.seed,
                                                     cuda_bytes=args.cuda_bytes)}
    if not args.skip_start:
        runtime = dict(r.split("=", 1) for r in args.runtime) or {"pytorch": "2.13.0+cpu"}
        result["start"] = start_latency(args.store, runtime, args.module, args.repeats)
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
