"""Batch placement benchmark: heuristics vs CP-SAT side by side on the contended family (not a test).

    .venv/bin/python bench/batch_bench.py                       # 1,000 x 1,000, seeds 1-3, 5 s budget
    .venv/bin/python bench/batch_bench.py --sizes 200,1000 --seeds 1,2,3,4,5 --time-limit 5

For each (size, seed) it builds one contended instance (`bench/contended.py`: scarce large GPUs,
multi-GPU requests, fragmenting sizes, cache-aware costs, per-cluster quotas) and runs, on the
same parsed inventory, one after the other: greedy first-fit, best-fit-decreasing, and
`plan_batch` (both heuristics, then CP-SAT hinted with the better one, `--time-limit` for the
whole call). It prints per row: placed count and lexicographic objective of each, wall time of
each call, CP-SAT's proven upper bound on the placed count (the gap to it), and the margin of
CP-SAT over the best heuristic. Every answer is checked (`validate_batch` + quotas) before it is
counted. `--json FILE` writes the rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from contended import contended  # noqa: E402

from catalog import load_catalog  # noqa: E402
from solver import parse_inventory  # noqa: E402
from solver.check.validate import validate_batch  # noqa: E402
from solver.engines.batch import plan_batch  # noqa: E402
from solver.engines.batch_heuristics import HEURISTICS  # noqa: E402

TERMS = ("placed", "cached B", "newest", "fit", "gpus", "pref")


def _check(cat: Any, reqs: list[dict[str, Any]], inv: dict[str, Any], quotas: dict[str, int], plan: Any) -> None:
    bad = validate_batch(cat, reqs, inv, plan.selection)
    cluster = {n["name"]: n.get("cluster") for n in inv["nodes"]}
    used: dict[str, int] = {}
    for p in plan.selection.placements:
        if p.feasible and p.choice is not None:
            d = p.to_dict()["choice"]
            used[cluster[d["node"]]] = used.get(cluster[d["node"]], 0) + int((d.get("gpu") or {}).get("count") or 0)
    over = {c: n for c, n in used.items() if n > quotas.get(c, n)}
    if bad or over:
        raise SystemExit(f"invalid answer from {plan.engine}: {bad[:3]} quota overruns {over}")


def run(cat: Any, size: int, seed: int, limit: float) -> dict[str, Any]:
    reqs, inv, quotas = contended(size, seed)
    row: dict[str, Any] = {"size": size, "seed": seed, "nodes": len(inv["nodes"]),
                           "gpus_asked": sum(r["gpu_count"] for r in reqs),
                           "gpus_free": sum(g["free"] for n in inv["nodes"] for g in n["gpus"]),
                           "quota": sum(quotas.values())}
    runs: list[tuple[str, dict[str, Any]]] = [(h, {"heuristic": h}) for h in HEURISTICS]
    for name, kw in (*runs, ("cpsat", {"time_limit_s": limit})):
        parsed = parse_inventory(inv, catalog=cat)
        t0, c0 = time.perf_counter(), time.process_time()
        plan = plan_batch(cat, reqs, parsed, quotas=quotas, **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        _check(cat, reqs, inv, quotas, plan)
        row[name] = {"objective": list(plan.objective), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                     "engine": plan.engine, "status": plan.status, "stats": plan.stats}
    bounds = row["cpsat"]["stats"].get("bounds") or []
    row["placed_bound"] = bounds[0][1] if bounds else row["cpsat"]["objective"][0]
    return row


def _fmt(obj: list[int]) -> str:
    return "(" + ", ".join(f"{v:,}" for v in obj) + ")"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--sizes", default="1000")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--time-limit", type=float, default=5.0, help="plan_batch time limit (whole call), s")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    cat = load_catalog(args.catalog)
    rows = []
    print(f"catalog {cat.revision[:12]}; objective = ({', '.join(TERMS)}), lexicographic, bigger is better; "
          f"CP-SAT time limit {args.time_limit} s for the whole plan_batch call")
    for size in (int(s) for s in args.sizes.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            r = run(cat, size, seed, args.time_limit)
            rows.append(r)
            cp = r["cpsat"]
            best_h = max(r[h]["objective"] for h in HEURISTICS)
            gap = r["placed_bound"] - cp["objective"][0]
            print(f"\n{size} requests x {r['nodes']} nodes, seed {seed}: {r['gpus_asked']} GPUs asked, "
                  f"{r['gpus_free']} free, quotas {r['quota']}")
            for name, x in (*((h, r[h]) for h in HEURISTICS), ("CP-SAT (plan_batch)", cp)):
                print(f"  {name:<20} placed {x['objective'][0]:>5}  {x['wall_s']:6.2f} s wall {x['cpu_s']:5.2f} s CPU  "
                      f"objective {_fmt(x['objective'])}")
            restricted = " within the restricted model" if cp["stats"].get("restricted") else ""
            print(f"  CP-SAT proven bound on placed{restricted}: {r['placed_bound']} (gap {gap}); engine {cp['engine']} "
                  f"({cp['status']}); model {dict((k, v) for k, v in cp['stats'].items() if k != 'bounds')}")
            print(f"  margin over the best heuristic: placed {cp['objective'][0] - best_h[0]:+d}"
                  + (f", {TERMS[1]} {cp['objective'][1] - best_h[1]:+,}" if cp["objective"][0] == best_h[0] else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
