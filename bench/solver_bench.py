"""Solver benchmark: single selection and batch placement on generated fleets (not a test).

    .venv/bin/python bench/solver_bench.py            # 100 / 1,000 / 5,000 / 10,000 nodes + batch
    .venv/bin/python bench/solver_bench.py --quick    # smaller samples, ~1 minute

Uses the real bundled catalog (or --catalog DIR). Fleets are seeded mixes of real GPU products
(datacenter, workstation, consumer, Jetson, legacy), drivers from stale R470 to current R580
(some nodes without a driver), 1-8 GPUs per node with some busy, and cached components. Requests
are seeded, distinct mixes of PyTorch / TensorFlow / ONNX Runtime / TensorRT / bare-CUDA models
with version ranges, precisions, memory, GPU counts, ONNX opsets and TensorRT engines.

Single selection: in-process `solver.select` on a parsed inventory (parsing and the warm-up, one
untimed selection per candidate table (framework x GPU / CPU-only x extra kinds) that fills the per-table
indexes a running service builds once, are reported apart: `warm ms`), p50/p99 latency and selections/s. Brute force: the
reference enumerator on a *sample* of the same requests (it is far slower; the sample size is
printed), bounded by a time budget per fleet. Fleet profiles (`--fleets`): `random` (0-4
independent cached entries per node: adversarial, ~900 distinct cached sets) and `deployed`
(coherent runtime stacks: a few dozen distinct cached sets); both are printed. Batch:
`plan_batch` of 1,000 requests on 1,000 nodes vs the greedy first-fit baseline, timed around
the whole call (answer and explanations included), objective = (placed, then per-term sums).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import Catalog, load_catalog  # noqa: E402
from solver import parse_inventory, parse_request, select  # noqa: E402
from solver.check.reference import ReferenceTimeout, brute_force  # noqa: E402
from solver.engines.batch import plan_batch  # noqa: E402
from solver.facts.groups import base_groups as solver_groups  # noqa: E402
from solver.facts.problem import request_facts  # noqa: E402
from solver.index.catalog_index import CatalogIndex  # noqa: E402
from solver.index.fleet_index import FleetIndex  # noqa: E402

# product, weight, gpus per node choices, host arch
PRODUCTS = [
    ("NVIDIA A100-SXM4-80GB", 8, (8, 4), "x86_64"), ("NVIDIA A100-PCIE-40GB", 5, (1, 2, 4), "x86_64"),
    ("NVIDIA H100 80GB HBM3", 8, (8,), "x86_64"), ("NVIDIA H100 PCIe", 3, (1, 2), "x86_64"),
    ("NVIDIA H200", 3, (8,), "x86_64"), ("NVIDIA GH200 480GB", 2, (1,), "aarch64"),
    ("NVIDIA B200", 2, (8,), "x86_64"), ("NVIDIA L4", 10, (1, 2, 4, 8), "x86_64"),
    ("NVIDIA L40S", 6, (2, 4, 8), "x86_64"), ("NVIDIA A10G", 6, (1, 4), "x86_64"),
    ("Tesla T4", 10, (1, 2, 4), "x86_64"), ("Tesla V100-SXM2-16GB", 5, (4, 8), "x86_64"),
    ("Tesla V100-SXM2-32GB", 2, (8,), "x86_64"), ("NVIDIA RTX A6000", 3, (1, 2), "x86_64"),
    ("NVIDIA RTX 6000 Ada Generation", 2, (1, 2), "x86_64"), ("NVIDIA GeForce RTX 4090", 4, (1, 2), "x86_64"),
    ("NVIDIA GeForce RTX 3090", 3, (1, 2), "x86_64"), ("NVIDIA GeForce RTX 5090", 2, (1,), "x86_64"),
    ("Tesla P100-PCIE-16GB", 1, (1, 2), "x86_64"), ("Tesla K80", 1, (2,), "x86_64"),
]
DRIVERS = [("470.256.02", 3), ("515.105.01", 2), ("525.147.05", 6), ("535.104.05", 12), ("535.230.02", 8),
           ("545.29.06", 2), ("550.54.15", 8), ("550.144.03", 10), ("560.35.03", 3), ("565.57.01", 3),
           ("570.124.06", 10), ("575.57.08", 3), ("580.65.06", 8), ("580.95.05", 5), (None, 2)]
CACHE_POOL = ["cuda/12.1.1", "cuda/12.4.1", "cuda/12.6.3", "cuda/11.8.0", "cudnn/9.1.0", "cudnn/8.9.7",
              "python/3.10", "python/3.11", "python/3.12", "pytorch/2.4.1+cu121", "pytorch/2.5.1+cu124",
              "tensorrt/10.1.0", "onnxruntime/1.18.1"]


# "deployed" fleet profile: nodes cache whole runtime stacks that are actually deployed (a few
# coherent CUDA / cuDNN / Python / framework combinations), sometimes with one piece evicted:
# a few dozen distinct cached sets, as on a real fleet. The default "random" profile draws 0-4
# independent entries per node (thousands of distinct cached sets: adversarial for grouping).
STACKS = [
    [], ["cuda/12.1.1", "cudnn/8.9.7", "python/3.10", "pytorch/2.4.1+cu121"],
    ["cuda/12.4.1", "cudnn/9.1.0", "python/3.11", "pytorch/2.5.1+cu124"], ["cuda/12.6.3", "cudnn/9.1.0", "python/3.12"],
    ["cuda/11.8.0", "cudnn/8.9.7", "python/3.10"], ["cuda/12.4.1", "cudnn/9.1.0", "tensorrt/10.1.0", "python/3.11"],
    ["cuda/12.4.1", "cudnn/9.1.0", "onnxruntime/1.18.1", "python/3.11"], ["python/3.12"], ["cuda/12.4.1"],
]


def _cached(rng: random.Random, profile: str) -> list[str]:
    if profile == "random":
        return rng.sample(CACHE_POOL, rng.randint(0, 4))
    stack = list(rng.choice(STACKS))
    if stack and rng.random() < 0.3:
        stack.pop(rng.randrange(len(stack)))
    return stack


def _pick(rng: random.Random, weighted: list[tuple[Any, int]]) -> Any:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def fleet(n: int, seed: int, profile: str = "random") -> dict[str, Any]:
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        product, _, counts, arch = rng.choices(PRODUCTS, weights=[p[1] for p in PRODUCTS])[0]
        count = rng.choice(counts)
        free = count if rng.random() < 0.5 else rng.randint(0, count)
        gpus = [{"product": product, "count": count, "free": free}]
        if rng.random() < 0.03:   # a few mixed boxes
            gpus.append({"product": "Tesla T4", "count": 1, "free": 1})
        node: dict[str, Any] = {"name": f"node-{i:05d}", "cluster": f"c{rng.randint(0, 7)}", "arch": arch,
                                "driver_version": _pick(rng, DRIVERS), "gpus": gpus,
                                "cached_components": _cached(rng, profile)}
        if rng.random() < 0.2:
            node["labels"] = {"zone": rng.choice("abc")}
        nodes.append(node)
    for j in range(max(1, n // 100)):   # Jetson edge boards and CPU-only nodes
        nodes.append({"name": f"edge-{j:04d}", "arch": "aarch64", "driver_version": "540.4.0",
                      "gpus": [{"product": "Orin (nvgpu)", "memory_mib": 32768, "compute_capability": "8.7"}]})
        nodes.append({"name": f"cpu-{j:04d}", "arch": "x86_64", "driver_version": None, "gpus": []})
    return {"nodes": nodes}


def requests(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        fw = rng.choices(["pytorch", "tensorflow", "onnxruntime", "tensorrt", "none"], weights=[50, 10, 15, 10, 5])[0]
        r: dict[str, Any] = {"name": f"m{len(out)}", "framework": fw,
                             "gpu_count": rng.choices([1, 2, 4, 8, 0], weights=[60, 15, 10, 8, 4])[0]}
        if fw == "pytorch" and rng.random() < 0.7:
            lo = rng.choice(["1.13", "2.0", "2.1", "2.3", "2.4", "2.5", "2.6", "2.7"])
            r["framework_version"] = f">={lo}" if rng.random() < 0.6 else f">={lo},<2.{rng.randint(4, 12)}"
        if fw == "tensorflow" and rng.random() < 0.5:
            r["framework_version"] = f">=2.{rng.randint(10, 16)}"
        if fw in ("pytorch", "tensorflow", "none") and rng.random() < 0.4:
            r["python"] = rng.choice([">=3.10", ">=3.9,<3.12", "==3.11", ">=3.12"])
        if rng.random() < 0.5:
            r["precision"] = rng.choice(["fp16", "bf16", "bf16", "fp8", "tf32", "int8", "fp32"])
        if rng.random() < 0.6:
            r["min_gpu_memory_gib"] = rng.choice([8, 16, 20, 24, 40, 70])
        if fw == "onnxruntime":
            r["format"] = {"kind": "onnx", "opset": rng.choice([13, 17, 18, 19, 21])}
        if fw == "tensorrt" and rng.random() < 0.5:
            r["format"] = {"kind": "tensorrt-engine", "tensorrt_version": rng.choice(["10.1.0", "10.3.0", "8.6.1"]),
                           "compute_capability": rng.choice(["8.0", "8.9", "9.0", "7.5"])}
        if fw == "none":
            r["requires"] = rng.choice([{"cuda": ">=12"}, {"cuda": "<12.4"}, {"cudnn": ">=9"}])
        if fw == "tensorrt" and r["gpu_count"] == 0:
            r["gpu_count"] = 1
        out.append(r)
    return out


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def warm_up(cat: Catalog, inv: Any, seed: int, fx: FleetIndex) -> int:
    """One selection per candidate table (framework x GPU / CPU-only x extra kinds), with requests that are not
    timed: fills what a running service computes once per (catalog revision, fleet, candidate
    table), e.g. the pair verdicts of every GPU target. Returns the number of tables warmed."""
    seen: set[tuple] = set()
    for data in requests(300, seed + 1000):
        req = parse_request(data)
        key = request_facts(fx.index, req).table_key    # framework, GPU or not, extra kinds (python, cudnn)
        if key not in seen:
            seen.add(key)
            select(cat, req, inv, index=fx)
    return len(seen)


def bench_single(cat: Catalog, nodes: int, reqs: list[dict[str, Any]], budget_s: float, bf_sample: int,
                 bf_budget_s: float, seed: int, profile: str = "random", gc_freeze: bool = False,
                 cix: CatalogIndex | None = None) -> dict[str, Any]:
    t0 = time.perf_counter()
    inv = parse_inventory(fleet(nodes, seed, profile), catalog=cat)
    parse_s = time.perf_counter() - t0
    parsed = [parse_request(r) for r in reqs]
    t0 = time.perf_counter()
    fx = FleetIndex(cix or CatalogIndex(cat), inv)    # what a service keeps per (catalog, inventory) revision
    tables = warm_up(cat, inv, seed, fx)
    warm_ms = (time.perf_counter() - t0) * 1000
    if gc_freeze:      # what the warm-up built lives as long as the fleet: out of the collector's way
        import gc

        gc.collect()
        gc.freeze()
    lat: list[float] = []
    feasible = 0
    start = time.perf_counter()
    for req in parsed[1:]:
        t0 = time.perf_counter()
        feasible += select(cat, req, inv, index=fx).feasible
        lat.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    bf_lat: list[float] = []
    start = time.perf_counter()
    for req in parsed[1:1 + bf_sample]:
        t0 = time.perf_counter()
        try:
            brute_force(cat, req, inv, score=False, deadline=start + bf_budget_s)
        except ReferenceTimeout:
            break
        bf_lat.append(time.perf_counter() - t0)
    groups = len(solver_groups(cat, inv))
    return {"nodes": len(inv.nodes), "groups": groups, "parse_s": parse_s, "warm_ms": warm_ms, "tables": tables,
            "n": len(lat),
            "feasible": feasible, "p50": _pct(lat, 0.5) * 1000, "p99": _pct(lat, 0.99) * 1000,
            "rate": len(lat) / sum(lat), "bf_n": len(bf_lat),
            "bf_p50": _pct(bf_lat, 0.5) * 1000 if bf_lat else float("nan"),
            "bf_p99": _pct(bf_lat, 0.99) * 1000 if bf_lat else float("nan"),
            "bf_rate": len(bf_lat) / sum(bf_lat) if bf_lat else float("nan")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--quick", action="store_true", help="smaller samples and budgets (~1 minute)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sizes", default="100,1000,5000,10000")
    ap.add_argument("--batch", type=int, default=1000, help="requests (and nodes) of the batch run")
    ap.add_argument("--fleets", default="random,deployed",
                    help="fleet profiles: random (0-4 independent cached entries per node: thousands of distinct "
                         "cached sets) and/or deployed (cached runtime stacks: a few dozen distinct sets)")
    ap.add_argument("--gc-freeze", action="store_true",
                    help="after loading the catalog (as `rtfit serve` does at start-up) and after each fleet's "
                         "warm-up: gc.collect() + gc.freeze()")
    args = ap.parse_args(argv)
    cat = load_catalog(args.catalog)
    if args.gc_freeze:
        import gc

        gc.collect()
        gc.freeze()
    cix = CatalogIndex(cat)   # one per catalog revision, kept across fleets (as a service keeps it)
    n_req, budget, bf_sample, bf_budget = (150, 3.0, 3, 8.0) if args.quick else (600, 10.0, 10, 30.0)
    reqs = requests(n_req + 1, args.seed)
    print(f"catalog {cat.revision[:12]} ({cat.counts()['framework_builds']} framework builds); "
          f"seed {args.seed}; {'quick' if args.quick else 'full'} run; {len(reqs) - 1} distinct requests")
    print(f"{'fleet':>8} {'nodes':>7} {'groups':>6} {'parse s':>8} {'warm ms':>7} | {'rtfit n':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'sel/s':>7} {'feas':>5} | {'brute n':>7} {'p50 ms':>8} {'p99 ms':>8} {'sel/s':>7}")
    for profile in [p.strip() for p in args.fleets.split(",") if p.strip()]:
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            r = bench_single(cat, size, reqs, budget, bf_sample if size <= 1000 else max(1, bf_sample // 3),
                             bf_budget, args.seed, profile, args.gc_freeze, cix)
            print(f"{profile:>8} {r['nodes']:>7} {r['groups']:>6} {r['parse_s']:>8.2f} {r['warm_ms']:>7.0f} | "
                  f"{r['n']:>7} {r['p50']:>7.2f} {r['p99']:>7.2f} {r['rate']:>7.0f} {r['feasible']:>5} | "
                  f"{r['bf_n']:>7} {r['bf_p50']:>8.0f} {r['bf_p99']:>8.0f} {r['bf_rate']:>7.2f}", flush=True)
    inv = fleet(args.batch, args.seed + 1)
    rng = random.Random(args.seed + 2)
    models = requests(max(1, args.batch // 15), args.seed + 2)     # replicas: ~15 per model on average
    breqs = [dict(rng.choice(models)) for _ in range(args.batch)]
    parsed_inv = parse_inventory(inv, catalog=cat)
    t0 = time.perf_counter()   # the whole call, answer (with explanations of unplaceable requests) included
    plan = plan_batch(cat, breqs, parsed_inv, time_limit_s=5.0, index=cix)
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    greedy = plan_batch(cat, breqs, parse_inventory(inv, catalog=cat), use_cpsat=False, index=cix)
    greedy_s = time.perf_counter() - t0
    free = sum(g.get("free", g.get("count", 1)) for n in inv["nodes"] for g in n["gpus"])
    need = sum(r["gpu_count"] for r in breqs)
    print(f"\nbatch: {len(breqs)} requests ({len({r['name'] for r in breqs})} distinct models, {need} GPUs "
          f"asked) on {len(inv['nodes'])} nodes ({free} free GPUs)")
    print(f"  rtfit  : {plan_s:6.2f} s (options {plan.stats.get('options_s', 0):.2f} s, CP-SAT "
          f"{plan.stats.get('cpsat_s', 0):.2f} s)  engine {plan.engine} ({plan.status})  placed {plan.objective[0]}  "
          f"objective {plan.objective}  stats {plan.stats}")
    print(f"  greedy : {greedy_s:6.2f} s  placed {greedy.objective[0]}  objective {greedy.objective}")
    verdict = "better" if plan.objective > greedy.objective else "equal" if plan.objective == greedy.objective \
        else "WORSE"
    print(f"  rtfit vs greedy first-fit: {verdict} (lexicographic: placed, then {', '.join(('cached', 'newest', 'fit', 'gpus', 'preference'))} sums)")
    print(f"  median single-selection (5,000-node row) and batch targets: >= 300 sel/s, batch <= 5 s; "
          f"python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
