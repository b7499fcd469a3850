"""Load benchmark of the metadata service over loopback: SQLite and PostgreSQL side by side.

Starts `rtfit serve` (uvicorn, `--workers`) as a subprocess on a fresh database, registers
`--nodes` simulated agents (each with its own agent token, as in production), then runs bounded
phases with `--concurrency` keep-alive connections:

  register   every node sends its full inventory once (closed loop)
  liveness   liveness heartbeats as fast as the service answers (closed loop: capacity)
  paced      liveness heartbeats at `--rate` per second (open loop: 10,000 nodes every 10 s is
             1,000/s); latency counts from the scheduled send time, so queueing is included
  cold       `--selectors` clients POST /v1/select with requests never seen before (cache miss),
             scoped to one 100-node cluster (`where`), the common case
  fleet      the same, unscoped: the solver sees every live node
  cached     the same few requests again and again (cache hits)

The load generator is a minimal HTTP/1.1 keep-alive client on asyncio streams (httpx costs more
CPU than the service on a 2-core box); answers are checked for status 200 and counted as errors
otherwise. Usage:

    .venv/bin/python bench/service_bench.py --seconds 15 [--workers 2] [--dbs sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RTFIT = Path(sys.executable).with_name("rtfit")
PG_URL = os.environ.get("RTFIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PRODUCTS = [
    ("NVIDIA L4", 23034, "8.9"),
    ("NVIDIA H100 80GB HBM3", 81559, "9.0"),
    ("Tesla T4", 15360, "7.5"),
    ("NVIDIA A100-SXM4-80GB", 81920, "8.0"),
]
DRIVERS = ["535.104.05", "550.54.15", "560.35.03", "470.256.02"]
MODELS = [
    {"framework": "pytorch", "framework_version": ">=2.3"},
    {"framework": "onnxruntime"},
    {"framework": "tensorflow"},
    {"framework": "pytorch", "precision": "bf16", "min_gpu_memory_gib": 40},
]


# -- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------
class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            assert self.reader is not None
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("connection closed")
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await self.reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await self.reader.readexactly(length) if length else b""
            return status, payload
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def tree_cpu_seconds(root: int) -> float:
    """user+system CPU seconds of `root` and all its descendants (Linux /proc), so far."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, t in times.items():
        p = pid
        while p > 1:
            if p == root:
                total += t
                break
            p = parents.get(p, 0)
    return total


@dataclass
class Result:
    name: str
    cpu_s: float = 0.0  # service CPU seconds used during the phase
    generator_cpu_s: float = 0.0  # this load generator's own CPU seconds during the phase
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        data = sorted(self.latencies)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000

    def cpu_ms(self) -> float:
        return self.cpu_s / self.count * 1000 if self.count else float("nan")

    def row(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "service_cpu_ms_per_request": round(self.cpu_ms(), 2),
            "generator_cpu_ms_per_request": round(self.generator_cpu_s / self.count * 1000, 2) if self.count else None,
            "requests": self.count,
            "per_s": round(self.rate(), 1),
            "p50_ms": round(self.pct(0.50), 1),
            "p99_ms": round(self.pct(0.99), 1),
            "errors": self.errors,
            "non_200": {k: v for k, v in self.statuses.items() if k != 200},
        }


def node_entry(i: int) -> dict[str, Any]:
    product, memory, cc = PRODUCTS[i % len(PRODUCTS)]
    return {
        "name": f"bench-{i:05d}",
        "cluster": f"c{i % 100:02d}",
        "arch": "x86_64",
        "driver_version": DRIVERS[(i // 4) % len(DRIVERS)],
        "gpus": [{"product": product, "memory_mib": memory, "compute_capability": cc, "count": 1 + i % 8}],
        "cached_components": ["cuda/12.4.1", "python/3.11.9"] if i % 3 == 0 else [],
        "labels": {"zone": f"z{i % 10}"},
    }


# -- phases --------------------------------------------------------------------------------------
async def closed_loop(
    name: str, port: int, concurrency: int, seconds: float, make: Any, *, total: int | None = None
) -> Result:
    """`concurrency` workers send `make(i)` -> (method, path, body, token) back to back."""
    result = Result(name)
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Conn("127.0.0.1", port)
        while time.perf_counter() < deadline:
            i = next(counter)
            if total is not None and i >= total:
                break
            method, path, body, token = make(i)
            started = time.perf_counter()
            try:
                status, _ = await conn.request(method, path, body, token)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                await asyncio.sleep(0.01)
                continue
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1
        conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def open_loop(name: str, port: int, concurrency: int, seconds: float, rate: float, make: Any) -> Result:
    """Send at a fixed `rate`; latency from the scheduled time (no coordinated omission)."""
    result = Result(name)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def worker() -> None:
        conn = Conn("127.0.0.1", port)
        while (item := await queue.get()) is not None:
            i, scheduled = item
            method, path, body, token = make(i)
            try:
                status, _ = await conn.request(method, path, body, token)
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                continue
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == 200:
                result.latencies.append(time.perf_counter() - scheduled)
            else:
                result.errors += 1
        conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    start = time.perf_counter()
    n = int(rate * seconds)
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, scheduled))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    result.seconds = time.perf_counter() - start
    return result


# -- one database ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tokens_file(path: Path, nodes: int) -> tuple[str, str, list[str]]:
    reader, admin = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    agents = [secrets.token_urlsafe(24) for _ in range(nodes)]
    lines = ["tokens:"]
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    lines.append(f"  - {{name: bench-reader, role: reader, sha256: {sha(reader)}}}")
    lines.append(f"  - {{name: bench-admin, role: admin, sha256: {sha(admin)}}}")
    for i, token in enumerate(agents):
        lines.append(f"  - {{name: agent-{i}, role: agent, node: bench-{i:05d}, sha256: {sha(token)}}}")
    path.write_text("\n".join(lines) + "\n")
    return reader, admin, agents


def _pg_schema(create: bool, schema: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"' if create else f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


async def run_db(db: str, args: argparse.Namespace, work: Path) -> list[Result]:
    reader, _admin, agents = _tokens_file(work / f"tokens-{db}.yaml", args.nodes)
    env = {
        **os.environ,
        "RTFIT_TOKENS_FILE": str(work / f"tokens-{db}.yaml"),
        "RTFIT_DATA_DIR": str(work / f"data-{db}"),
        "RTFIT_NODE_TTL_S": "3600",
        "RTFIT_LOG_LEVEL": "warning",
    }
    schema = None
    if db == "postgres":
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        _pg_schema(True, schema)
        sep = "&" if "?" in PG_URL else "?"
        env["RTFIT_DATABASE_URL"] = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        env.pop("RTFIT_DATABASE_URL", None)
    port = _free_port()
    log = (work / f"serve-{db}.log").open("w")
    cmd = [str(RTFIT), "serve", "--port", str(port), "--workers", str(args.workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=work)
    results: list[Result] = []

    async def phase(coro: Any) -> None:
        before, own = tree_cpu_seconds(proc.pid), time.process_time()
        result = await coro
        result.cpu_s = tree_cpu_seconds(proc.pid) - before
        result.generator_cpu_s = time.process_time() - own
        results.append(result)
        print(f"[{db}] {json.dumps(result.row())}", file=sys.stderr)

    try:
        await _wait_ready(port, proc)
        bodies = [json.dumps({"node": node_entry(i)}).encode() for i in range(args.nodes)]
        full = lambda i: ("PUT", f"/v1/nodes/bench-{i:05d}/heartbeat", bodies[i], agents[i])  # noqa: E731
        print(f"[{db}] registering {args.nodes} nodes ...", file=sys.stderr)
        await phase(closed_loop("register (full)", port, args.concurrency, 600, full, total=args.nodes))
        hashes = [_node_hash(node_entry(i)) for i in range(args.nodes)]
        live_bodies = [json.dumps({"node": None, "inventory_hash": h}).encode() for h in hashes]
        order = list(range(args.nodes))
        random.Random(7).shuffle(order)

        def live(i: int) -> tuple[str, str, bytes, str]:
            n = order[i % args.nodes]
            return "PUT", f"/v1/nodes/bench-{n:05d}/heartbeat", live_bodies[n], agents[n]

        print(f"[{db}] liveness phases ...", file=sys.stderr)
        await phase(closed_loop("liveness (capacity)", port, args.concurrency, args.seconds, live))
        await phase(open_loop(f"liveness @ {args.rate:g}/s", port, args.concurrency, args.seconds, args.rate, live))
        if args.heartbeats_only:
            return results

        def select(where: bool, unique: bool) -> Any:
            def make(i: int) -> tuple[str, str, bytes, str]:
                model = dict(MODELS[i % len(MODELS)])
                if unique:
                    model["name"] = f"bench-{db}-{where}-{i}"
                body: dict[str, Any] = {"model": model, "top": 3}
                if where:
                    body["where"] = {"cluster": f"c{i % 100:02d}"}
                return "POST", "/v1/select", json.dumps(body).encode(), reader

            return make

        print(f"[{db}] selection phases ...", file=sys.stderr)
        await phase(closed_loop("select cold (1 cluster)", port, args.selectors, args.seconds, select(True, True)))
        await phase(closed_loop("select cold (fleet)", port, args.selectors, args.seconds, select(False, True)))
        await phase(closed_loop("select cached", port, args.selectors, args.seconds, select(True, False)))
    finally:
        stop_service(proc, log, schema, timeout=30)
    return results


def stop_service(proc: subprocess.Popen[bytes], log: Any, schema: str | None, *, timeout: float) -> None:
    """Stop `rtfit serve` (SIGINT, then kill after `timeout`), close its log, drop its PostgreSQL schema."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    if schema:
        _pg_schema(False, schema)


def _node_hash(entry: dict[str, Any]) -> str:
    sys.path.insert(0, str(REPO))
    from metadata_service.storage.nodes import inventory_hash

    return inventory_hash(entry)


async def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"rtfit serve exited with {proc.returncode}; see the serve-*.log in the work dir")
        try:
            conn = Conn("127.0.0.1", port)
            status, _ = await conn.request("GET", "/readyz", b"", "-")
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.3)
    raise SystemExit("rtfit serve did not become ready within 120 s")


def render(all_results: dict[str, list[Result]], args: argparse.Namespace) -> str:
    dbs = list(all_results)
    phases = [r.name for r in all_results[dbs[0]]]
    header = "| phase | " + " | ".join(
        f"{db} req/s | {db} p50 ms | {db} p99 ms | {db} CPU ms/req | {db} errors" for db in dbs
    ) + " |"
    sep = "|---|" + "---:|" * (5 * len(dbs))
    lines = [header, sep]
    for i, phase in enumerate(phases):
        cells = []
        for db in dbs:
            r = all_results[db][i]
            cells += [f"{r.rate():,.0f}", f"{r.pct(0.5):.1f}", f"{r.pct(0.99):.1f}", f"{r.cpu_ms():.2f}", str(r.errors)]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each timed phase")
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200, help="agent connections")
    parser.add_argument("--selectors", type=int, default=8, help="selector connections")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced liveness heartbeats per second")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--dbs", default="sqlite,postgres")
    parser.add_argument("--heartbeats-only", action="store_true", help="skip the selection phases")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    all_results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="rtfit-bench-") as tmp:
        for db in args.dbs.split(","):
            all_results[db] = asyncio.run(run_db(db, args, Path(tmp)))
    print(f"nodes={args.nodes} agents'connections={args.concurrency} selectors={args.selectors} "
          f"workers={args.workers} seconds/phase={args.seconds:g} cpus={os.cpu_count()}")
    print(render(all_results, args))
    if args.json:
        args.json.write_text(json.dumps({db: [r.row() for r in rs] for db, rs in all_results.items()}, indent=2))


if __name__ == "__main__":
    main()
