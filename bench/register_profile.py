"""In-process profile of full-inventory registration (no HTTP): what the heartbeat lane does for
one `PUT /v1/nodes/{name}/heartbeat` with a full inventory, on one thread, under cProfile.

    .venv/bin/python bench/register_profile.py [--nodes 3000] [--db sqlite|postgres] [--concurrency 1] [--top 40]

Per node: `read_heartbeat` (agent token, JSON, pydantic), `HeartbeatService.receive` (checks, the
database write) and the serialised answer. Registers `--nodes` new nodes, then sends the same
inventories again (unchanged: the agent restarted) and prints CPU ms per request for both passes,
then the cProfile table of the first pass. PostgreSQL: a fresh schema of RTFIT_TEST_PG_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fastapi.testclient import TestClient  # noqa: E402
from service_bench import PG_URL, _pg_schema, _tokens_file, node_entry  # noqa: E402

from metadata_service.app import create_app  # noqa: E402
from metadata_service.heartbeats import public_answer, read_heartbeat  # noqa: E402
from metadata_service.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=3000)
    ap.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    ap.add_argument("--concurrency", type=int, default=1, help="requests in flight together (batching)")
    ap.add_argument("--no-profile", action="store_true", help="time only (no cProfile overhead)")
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rtfit-regprof-"))
    _reader, _admin, agents = _tokens_file(tmp / "tokens.yaml", args.nodes)
    schema = None
    url = f"sqlite:///{tmp}/s.db"
    if args.db == "postgres":
        schema = f"prof_{uuid.uuid4().hex[:10]}"
        _pg_schema(True, schema)
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    os.environ["RTFIT_TOKENS_FILE"] = str(tmp / "tokens.yaml")
    settings = Settings(database_url=url, data_dir=tmp / "d", node_ttl_s=1e9, tokens_file=tmp / "tokens.yaml")
    app = create_app(settings)
    bodies = [json.dumps({"node": node_entry(i)}).encode() for i in range(args.nodes)]
    try:
        with TestClient(app):
            state = app.state.rtfit
            loop = asyncio.new_event_loop()

            async def one(i: int) -> bytes:
                name = f"bench-{i:05d}"
                _p, body = read_heartbeat(
                    state.tokens, authorization=f"Bearer {agents[i]}", content_type="application/json",
                    name=name, body=bodies[i],
                )
                outcome = await state.heartbeats.receive(name, body)
                return public_answer(outcome, ttl_s=state.settings.node_ttl_s).model_dump_json().encode()

            async def run(profiler: cProfile.Profile | None) -> tuple[float, float]:
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler:
                    profiler.enable()
                for start in range(0, args.nodes, args.concurrency):  # `--concurrency` agents at once
                    await asyncio.gather(*(one(i) for i in range(start, min(args.nodes, start + args.concurrency))))
                if profiler:
                    profiler.disable()
                return (time.process_time() - cpu) / args.nodes * 1000, (time.perf_counter() - wall) / args.nodes * 1000

            # cProfile sees one thread: run the worker-thread part (`run_in_threadpool`) inline.
            from metadata_service import heartbeats as hb_module

            async def inline(func, *a, **kw):  # type: ignore[no-untyped-def]
                return func(*a, **kw)

            hb_module.run_in_threadpool = inline  # type: ignore[assignment]
            profiler = None if args.no_profile else cProfile.Profile(time.process_time)  # CPU time: the machine is shared
            first = loop.run_until_complete(run(profiler))
            again = loop.run_until_complete(run(None))
            note = "" if profiler is None else " (profiled)"
            print(f"[{args.db}] register new:       {first[0]:.2f} ms CPU, {first[1]:.2f} ms wall per node{note}")
            print(f"[{args.db}] register unchanged: {again[0]:.2f} ms CPU, {again[1]:.2f} ms wall per node")
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
                print(out.getvalue())
    finally:
        if schema:
            _pg_schema(False, schema)


if __name__ == "__main__":
    main()
