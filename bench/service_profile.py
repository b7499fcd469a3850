"""In-process profile of the service's selection work (no HTTP, no load generator): cProfile sees
every step on one thread, so the numbers say where a request's CPU goes.

    .venv/bin/python bench/service_profile.py [--nodes 10000] [--profile "cold where,cached"] [--steps 4]

Registers `--nodes` bench nodes (bench/service_bench.py's `node_entry`) through
`HeartbeatService.receive` on a fresh SQLite database, then runs three kinds of selections the
way `SelectionService.select` does (prepare, solve on a miss, audit), calling its steps on this
thread: cold scoped to one 100-node cluster, cold whole fleet, cached. `--steps N` first times
the N first selections of each kind one by one (the per-revision and per-framework warm-up);
`--profile` prints a cProfile table (`--sort`, `--top`) for the kinds named. CPU per selection is
process time, so other load on the machine changes wall time, not these figures (much).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient  # noqa: E402
from service_bench import MODELS, node_entry  # noqa: E402

from metadata_service.app import create_app  # noqa: E402
from metadata_service.auth import Principal  # noqa: E402
from metadata_service.schemas import HeartbeatCreate, SelectCreate  # noqa: E402
from metadata_service.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--count", type=int, default=300, help="timed selections per kind")
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--profile", default="", help="comma-separated kinds to profile")
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rtfit-profile-"))
    app = create_app(Settings(database_url=f"sqlite:///{tmp}/s.db", data_dir=tmp / "d", node_ttl_s=1e9))
    admin = Principal(name="bench", role="admin")
    with TestClient(app):
        state = app.state.rtfit
        loop = asyncio.new_event_loop()
        started = time.process_time()
        for i in range(args.nodes):
            body = HeartbeatCreate.model_validate({"node": node_entry(i)})
            loop.run_until_complete(state.heartbeats.receive(f"bench-{i:05d}", body))
        print(f"register: {(time.process_time() - started) / args.nodes * 1000:.2f} ms CPU per node")
        sel = state.selection
        counter = iter(range(10**9))

        def one(where: bool, unique: bool) -> dict[str, Any]:
            i = next(counter)
            model = dict(MODELS[i % len(MODELS)])
            if unique:
                model["name"] = f"p-{where}-{i}"
            body: dict[str, Any] = {"model": model, "top": 3}
            if where:
                body["where"] = {"cluster": f"c{i % 100:02d}"}
            prepared = sel._prepare_single(SelectCreate.model_validate(body))
            cached = prepared.hit is not None
            found, seconds = (prepared.hit, 0.0) if cached else sel._solve(prepared)
            sel._audit(prepared, found, admin, cached, seconds)
            if not cached:
                sel._cache.put(prepared.key, found)
            return found.answer

        for kind, where, unique in (("cold where", True, True), ("cold fleet", False, True), ("cached", True, False)):
            for k in range(args.steps):
                t = time.process_time()
                one(where, unique)
                print(f"{kind}, selection {k + 1}: {(time.process_time() - t) * 1000:.1f} ms CPU")
            for _ in range(100):   # warm-up
                one(where, unique)
            profiler = cProfile.Profile() if kind in args.profile.split(",") else None
            t = time.process_time()
            if profiler:
                profiler.enable()
            for _ in range(args.count):
                one(where, unique)
            if profiler:
                profiler.disable()
            print(f"{kind}: {(time.process_time() - t) / args.count * 1000:.2f} ms CPU per selection")
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())


if __name__ == "__main__":
    main()
