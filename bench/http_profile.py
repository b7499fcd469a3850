"""Where a selection's time goes over HTTP: one uvicorn worker in this process, the load generator
in a child process, each step of the request timed in CPU of the thread that runs it.

    .venv/bin/python bench/http_profile.py [--nodes 10000] [--seconds 8] [--db sqlite|postgres]
                                           [--profile] [--top 35]

Registers `--nodes` bench nodes (bench/service_bench.py's `node_entry`) in-process on a fresh
database, then serves them with uvicorn (one worker, as `rtfit serve` runs each of its workers)
and drives three phases over loopback with bench/service_bench.py's keep-alive client from a
child process (`--selectors` connections): cold scoped to one cluster, cold whole fleet, cached.
After one warm-up pass of each phase, per request it reports:

- the whole process's CPU (event loop + thread pool), as the service bench counts it;
- the CPU of each step the selection service runs in the thread pool (`_prepare_single`,
  `_solve`, `_audit`), timed with `time.thread_time` around each call;
- the rest: what the event loop thread spends on HTTP (uvicorn's parser, the middleware, FastAPI's
  routing, body validation, the dependency graph, rendering the answer to JSON, thread hops).

`--profile` adds a cProfile table of the event loop thread (the thread-pool steps are timed above,
not profiled). `--db postgres` uses a fresh schema on RTFIT_TEST_PG_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import service_bench  # noqa: E402

PHASES = (("cold where", True, True), ("cold fleet", False, True), ("cached", True, False))


def _generator(port: int, token: str, where: bool, unique: bool, seconds: float, selectors: int, tag: str) -> None:
    """Child process: a closed loop of selections; prints its count, rate and p99."""

    def make(i: int) -> tuple[str, str, bytes, str]:
        model = dict(service_bench.MODELS[i % len(service_bench.MODELS)])
        if unique:
            model["name"] = f"hp-{tag}-{i}"
        body: dict[str, Any] = {"model": model, "top": 3}
        if where:
            body["where"] = {"cluster": f"c{i % 100:02d}"}
        return "POST", "/v1/select", json.dumps(body).encode(), token

    result = asyncio.run(service_bench.closed_loop("x", port, selectors, seconds, make))
    print(json.dumps({"count": result.count, "per_s": round(result.rate(), 1), "p50": round(result.pct(0.5), 1),
                      "p99": round(result.pct(0.99), 1), "errors": result.errors}))


class Steps:
    """Thread CPU per step of SelectionService (wrapped methods), summed over all threads."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def wrap(self, obj: Any, name: str) -> None:
        inner = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                with self.lock:
                    self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - t
                    self.calls[name] = self.calls.get(name, 0) + 1

        setattr(obj, name, timed)

    def reset(self) -> None:
        with self.lock:
            self.cpu.clear()
            self.calls.clear()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--selectors", type=int, default=8)
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=35)
    ap.add_argument("--sort", default="tottime")
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        port, token, where, unique, seconds, selectors, tag = args.child
        _generator(int(port), token, where == "1", unique == "1", float(seconds), int(selectors), tag)
        return

    import uvicorn
    from fastapi.testclient import TestClient

    from metadata_service.app import create_app
    from metadata_service.schemas import HeartbeatCreate
    from metadata_service.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="rtfit-http-profile-"))
    reader, _admin, _agents = service_bench._tokens_file(tmp / "tokens.yaml", 0)
    schema = None
    if args.db == "postgres":
        schema = f"hprof_{uuid.uuid4().hex[:10]}"
        service_bench._pg_schema(True, schema)
        sep = "&" if "?" in service_bench.PG_URL else "?"
        url = f"{service_bench.PG_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp}/s.db"
    settings = Settings(database_url=url, data_dir=tmp / "d", node_ttl_s=1e9, tokens_file=tmp / "tokens.yaml",
                        log_level="warning")
    try:
        setup = create_app(settings)
        with TestClient(setup):
            state = setup.state.rtfit
            loop = asyncio.new_event_loop()
            t = time.process_time()
            for i in range(args.nodes):
                body = HeartbeatCreate.model_validate({"node": service_bench.node_entry(i)})
                loop.run_until_complete(state.heartbeats.receive(f"bench-{i:05d}", body))
            print(f"registered {args.nodes} nodes in {time.process_time() - t:.1f} s CPU", file=sys.stderr)

        app = create_app(settings)
        steps = Steps()
        for name in ("_prepare_single", "_solve", "_audit"):
            steps.wrap(app.state.rtfit.selection, name)
        port = service_bench._free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               loop="uvloop", http="httptools", access_log=False))
        rows: list[str] = []
        profiles: list[tuple[str, cProfile.Profile]] = []
        loops: list[asyncio.AbstractEventLoop] = []

        def on_loop(fn: Any) -> None:   # run fn on the event loop thread (cProfile profiles one thread)
            done = threading.Event()
            loops[0].call_soon_threadsafe(lambda: (fn(), done.set()))
            done.wait()

        def drive() -> None:
            while not server.started:
                time.sleep(0.05)
            try:
                for kind, where, unique in PHASES:
                    for rep in ("warm", "timed"):
                        prof = cProfile.Profile() if args.profile and rep == "timed" else None
                        steps.reset()
                        if prof:
                            on_loop(prof.enable)
                        cpu0 = time.process_time()
                        child = subprocess.run(
                            [sys.executable, __file__, "--child", str(port), reader, "1" if where else "0",
                             "1" if unique else "0", str(args.seconds), str(args.selectors), f"{kind}-{rep}"],
                            capture_output=True, text=True, check=True)
                        cpu = time.process_time() - cpu0
                        if prof:
                            on_loop(prof.disable)
                            profiles.append((kind, prof))
                        if rep == "warm":
                            continue
                        res = json.loads(child.stdout.strip().splitlines()[-1])
                        n = max(1, res["count"])
                        with steps.lock:
                            step_ms = {k: v / n * 1000 for k, v in steps.cpu.items()}
                        rest = cpu * 1000 / n - sum(step_ms.values())
                        rows.append(
                            f"| {kind} | {res['per_s']} | {res['p50']} | {res['p99']} | {cpu * 1000 / n:.2f} | "
                            + " | ".join(f"{step_ms.get(k, 0.0):.2f}" for k in ("_prepare_single", "_solve", "_audit"))
                            + f" | {rest:.2f} | {res['errors']} |")
                        print(rows[-1], file=sys.stderr)
            finally:
                server.should_exit = True

        original = server.startup

        async def startup(sockets: Any = None) -> None:
            loops.append(asyncio.get_running_loop())
            await original(sockets)

        server.startup = startup  # type: ignore[method-assign]
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        server.run()
        driver.join()
        print(f"nodes={args.nodes} db={args.db} selectors={args.selectors} seconds={args.seconds:g} "
              f"load={os.getloadavg()[0]:.1f}")
        print("| phase | req/s | p50 ms | p99 ms | process CPU ms/req | prepare | solve | audit | HTTP + rest | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in rows:
            print(row)
        for kind, prof in profiles:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(f"\n## event loop thread, {kind}\n{out.getvalue()}")
    finally:
        if schema:
            service_bench._pg_schema(False, schema)


if __name__ == "__main__":
    main()
