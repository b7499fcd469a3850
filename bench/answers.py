"""Recorded answers: run a large fixed set of selections and record or compare their JSON (not a test).

    .venv/bin/python bench/answers.py record /tmp/answers.jsonl     # on the baseline (e.g. main)
    .venv/bin/python bench/answers.py compare /tmp/answers.jsonl    # after a change: must be identical

Refactors of the solver's internals (indexes, caches, engines) must not change a single answer.
This runs seeded requests (feasible and infeasible) on several fleets (random and deployed
profiles, small and large, a scoped cluster subset of each, planning mode), with several
policies and `top` values, single and batch, interleaving fleets so any state carried between
selections is exercised, and writes one line per answer: a key and the exact
`Selection.to_dict()` JSON (sorted keys). `compare` re-runs the same set and prints every
difference; exit 1 if any. The bundled catalog is used (or --catalog DIR).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from solver_bench import fleet, requests  # noqa: E402

try:   # the indexes a caller keeps per revision (absent before they existed: record on old code too)
    from solver.index.catalog_index import CatalogIndex
    from solver.index.fleet_index import FleetIndex
except ImportError:  # pragma: no cover
    CatalogIndex = FleetIndex = None  # type: ignore[assignment,misc]

from catalog import load_catalog  # noqa: E402
from solver import parse_inventory, parse_policy, parse_request, select, select_batch  # noqa: E402

# requests that fail on most fleets, for the explanation path (conflict cores, suggestions, counts)
HARD: list[dict[str, Any]] = [
    {"name": "h0", "framework": "pytorch", "gpu_count": 16},
    {"name": "h1", "framework": "pytorch", "min_gpu_memory_gib": 200},
    {"name": "h2", "framework": "pytorch", "framework_version": ">=2.4", "precision": "fp8", "python": "==3.9"},
    {"name": "h3", "framework": "tensorflow", "framework_version": ">=2.16", "gpu_count": 8, "precision": "fp8"},
    {"name": "h4", "framework": "none", "requires": {"cuda": "<11"}},
    {"name": "h5", "framework": "tensorrt", "gpu_count": 1,
     "format": {"kind": "tensorrt-engine", "tensorrt_version": "8.6.1", "compute_capability": "9.0"}},
    {"name": "h6", "framework": "onnxruntime", "format": {"kind": "onnx", "opset": 99}},
    {"name": "h7", "framework": "pytorch", "framework_version": "<1.0"},
]

POLICIES: list[dict[str, Any] | None] = [
    None,
    {"order": ["newest", "cached", "fit", "gpus", "preference"]},
    {"order": ["fit", "gpus", "cached", "newest", "preference"], "prefer_clusters": ["c3", "c1"]},
    {"prefer_labels": {"zone": "b"}},
]


def _fleets(quick: bool) -> list[tuple[str, dict[str, Any]]]:
    sizes = [(60, "random"), (400, "deployed"), (1500, "random")] if quick else \
        [(60, "random"), (400, "deployed"), (1500, "random"), (3000, "deployed"), (5000, "random")]
    out = []
    for i, (n, profile) in enumerate(sizes):
        data = fleet(n, 100 + i, profile)
        out.append((f"{profile}{n}", data))
        scoped = [nd for nd in data["nodes"] if nd.get("cluster") == "c2"]    # a `where cluster=c2` scope
        out.append((f"{profile}{n}/c2", {"nodes": scoped}))
    return out


def _ix(index: object) -> dict[str, object]:
    return {"index": index} if index is not None else {}


def answers(catalog_dir: str | None, quick: bool, use_index: bool = True, warm: bool = False) \
        -> Iterator[tuple[str, str]]:
    cat = load_catalog(catalog_dir) if catalog_dir else load_catalog()
    fleets = [(name, parse_inventory(data, catalog=cat)) for name, data in _fleets(quick)]
    cix = CatalogIndex(cat) if use_index and CatalogIndex is not None else None
    if warm and cix is not None:   # as a service's index builder does: every fleet's targets, plain and strict
        for _name, inv in fleets:
            cix.warm(inv)
            cix.warm(inv, strict=True)
    fxs = {name: FleetIndex(cix, inv) if cix is not None else None for name, inv in fleets}
    reqs = [*HARD, *requests(60 if quick else 160, 4242)]
    policies = [parse_policy(p) for p in POLICIES]
    for i, data in enumerate(reqs):               # interleaved: request i on every fleet in turn
        req = parse_request(data)
        for name, inv in fleets:
            pol_i = i % len(policies)
            top = 1 + (i % 3)
            sel = select(cat, req, inv, top=top, policy=policies[pol_i], **_ix(fxs[name]))
            yield f"single/{name}/r{i}/p{pol_i}/top{top}", json.dumps(sel.to_dict(), sort_keys=True)
        if i % 4 == 0:
            sel = select(cat, req, None, top=2, **_ix(cix))
            yield f"planning/r{i}", json.dumps(sel.to_dict(), sort_keys=True)
    for j in range(0, 24 if quick else 60, 12):   # batches of 12 requests on the two smaller fleets
        batch = [parse_request(d) for d in reqs[j:j + 12]]
        for name, inv in fleets[:4]:
            got = select_batch(cat, batch, inv, time_limit_s=120.0, **_ix(fxs[name]))   # no time-dependent fallback
            yield f"batch/{name}/b{j}", json.dumps(got.to_dict(), sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["record", "compare"])
    ap.add_argument("path")
    ap.add_argument("--catalog", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer fleets and requests")
    ap.add_argument("--warm", action="store_true",
                    help="warm the catalog index on every fleet first (`CatalogIndex.warm`): the answers must not change")
    args = ap.parse_args(argv)
    if args.mode == "record":
        n = 0
        with open(args.path, "w") as fh:
            for key, body in answers(args.catalog, args.quick):
                fh.write(json.dumps({"key": key, "answer": body}) + "\n")
                n += 1
        print(f"recorded {n} answers to {args.path}")
        return 0
    want = {}
    with open(args.path) as fh:
        for line in fh:
            row = json.loads(line)
            want[row["key"]] = row["answer"]
    bad = n = feasible = 0
    for key, body in answers(args.catalog, args.quick, warm=args.warm):
        n += 1
        feasible += '"feasible": true' in body
        if want.get(key) != body:
            bad += 1
            if bad <= 10:
                print(f"DIFF {key}\n  want {str(want.get(key))[:400]}\n  got  {body[:400]}")
    missing = len(want) - n
    print(f"compared {n} answers ({feasible} with a feasible part): {bad} differ, {max(missing, 0)} missing")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
