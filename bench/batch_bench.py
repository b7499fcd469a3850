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
import math
import os
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
    stats = row["cpsat"]["stats"]
    bounds = stats.get("bounds") or []
    # upper bounds on the placed count: the LP relaxation's holds for every legal placement; CP-SAT's
    # holds within its model (a neighbourhood of the options when "restricted")
    lp_values = stats.get("lp_values") or []
    row["lp_bound"] = math.floor(lp_values[0] + 1e-6) if lp_values else None
    row["cpsat_bound"] = bounds[0][1] if bounds else None
    bs = [b for b in (row["lp_bound"], row["cpsat_bound"] if not stats.get("restricted") else None) if b is not None]
    row["placed_bound"] = min(bs) if bs else None
    # the first policy term's bound among placements of the most requests: the LP's (stage 2) when
    # its placed value is that count (integral), else CP-SAT's within its model when it proved the count
    placed = row["cpsat"]["objective"][0]
    cands = []
    if len(lp_values) > 1 and abs(lp_values[0] - placed) < 1e-6:
        cands.append(math.floor(lp_values[1] + 1e-9 * max(1.0, abs(lp_values[1]))))
    if len(bounds) > 1 and bounds[0][0] == bounds[0][1] == placed and bounds[1][1] is not None \
            and not stats.get("restricted"):
        cands.append(bounds[1][1])
    row["term1_bound"] = min(cands) if cands else None
    row["load"] = [round(x, 2) for x in os.getloadavg()]
    return row


def margin(obj: list[int], best: list[int]) -> str:
    """The first objective term where `obj` differs from `best`, signed (lexicographic)."""
    for name, a, b in zip(TERMS, obj, best, strict=False):
        if a != b:
            return f"{name} {a - b:+,}"
    return "equal"


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
            gap = "?" if r["placed_bound"] is None else r["placed_bound"] - cp["objective"][0]
            print(f"\n{size} requests x {r['nodes']} nodes, seed {seed}: {r['gpus_asked']} GPUs asked, "
                  f"{r['gpus_free']} free, quotas {r['quota']}")
            for name, x in (*((h, r[h]) for h in HEURISTICS), ("plan_batch", cp)):
                print(f"  {name:<20} placed {x['objective'][0]:>5}  {x['wall_s']:6.2f} s wall {x['cpu_s']:5.2f} s CPU  "
                      f"objective {_fmt(x['objective'])}")
            lp = cp["stats"].get("lp_objective")
            if lp:
                print(f"  {'LP rounded (start)':<20} placed {lp[0]:>5}  {cp['stats'].get('lp_s', 0):6.2f} s wall"
                      f"{'':16}objective {_fmt(lp)}  LP values {cp['stats'].get('lp_values')}")
            within = " within its neighbourhood" if cp["stats"].get("restricted") else ""
            proved = "" if r["cpsat_bound"] is None else f", CP-SAT{within} {r['cpsat_bound']}"
            print(f"  bound on placed: {r['placed_bound']} (gap {gap}; LP {r['lp_bound']}{proved}); on {TERMS[1]}: "
                  f"{'-' if r['term1_bound'] is None else format(r['term1_bound'], ',')}; engine {cp['engine']} "
                  f"({cp['status']}); load average {r['load']}")
            print(f"  model {dict((k, v) for k, v in cp['stats'].items() if k not in ('bounds', 'lp_objective'))}")
            print(f"  margin over the best heuristic: {margin(cp['objective'], best_h)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
