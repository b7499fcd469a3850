"""Reliability load test: many agents, selectors and flow runners at once, and proof nothing acked is lost.

Starts `rtfit serve` on a fresh database (SQLite file in a temp dir; PostgreSQL in a fresh
schema of `RTFIT_TEST_PG_URL` or 127.0.0.1:5432/test, dropped afterwards) and drives it over
loopback for `--seconds` with:

  agents     `--agents` simulated node agents, each with its own agent token: a full inventory
             first, then a liveness heartbeat every `--interval` s (jittered); 409 -> full again
  selectors  `--selectors` clients, each with its own reader token, POST /v1/select paced at
             `--select-rate` per second in all: every other request is new (a unique model
             `name`: a solver run), the rest repeat (cache hits)
  flows      `--flows` runners, each upserting its own runs with POST /v1/flows (task states,
             a numbered log line appended per call)

Every acknowledged (2xx) write is recorded by the client. Afterwards the service is stopped and
the database is read directly: each node's `last_seen` must be >= the send time of its last
acknowledged heartbeat (same clock, loopback) and `beats` >= its acknowledged heartbeats; each
reader's audit rows must number at least its acknowledged selections and include every unique
request name it was answered for; every acknowledged flow log line must be in the stored log.
Any shortfall is a *lost write*. Prints (and `--json FILE` writes) throughput, p50/p99 and errors.

    .venv/bin/python bench/load_test.py --seconds 60              # 1,000 agents, SQLite + PostgreSQL
    .venv/bin/python bench/load_test.py --quick --dbs sqlite      # 10 s, 200 agents (what tests run)

`run_load(...)`, `verify(...)` and `ServiceProcess` are reused by tests/reliability (fault tests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service_bench import PG_URL, Conn, _pg_schema, node_entry  # noqa: E402

__all__ = ["Acks", "Load", "ServiceProcess", "pg_url_for", "run_load", "verify"]

RTFIT = Path(sys.executable).with_name("rtfit")
SELECT_MODEL = {"framework": "pytorch", "framework_version": ">=2.1", "precision": "fp16", "min_gpu_memory_gib": 16}


# -- what the clients saw -------------------------------------------------------------------------
@dataclass
class Kind:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int | None, seconds: float) -> None:
        if status is None:
            self.errors += 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if 200 <= status < 300:
            self.latencies.append(seconds)
        else:
            self.errors += 1

    def summary(self, wall: float) -> dict[str, Any]:
        data = sorted(self.latencies)

        def pct(q: float) -> float | None:
            return round(data[min(len(data) - 1, int(q * len(data)))] * 1000, 1) if data else None

        return {
            "ok": len(data),
            "per_s": round(len(data) / wall, 1) if wall else 0.0,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "errors": self.errors,
            "non_2xx": {str(k): v for k, v in sorted(self.statuses.items()) if not 200 <= k < 300},
        }


@dataclass
class Acks:
    """Acknowledged writes, as the clients saw them."""

    heartbeat_last_send: dict[str, float] = field(default_factory=dict)  # node -> send time of last 2xx
    heartbeat_count: dict[str, int] = field(default_factory=dict)
    selections: dict[str, int] = field(default_factory=dict)  # principal -> acknowledged count
    unique_names: dict[str, set[str]] = field(default_factory=dict)  # principal -> unique request names
    flow_lines: dict[tuple[str, str], set[int]] = field(default_factory=dict)  # (run, task) -> line numbers


@dataclass
class Load:
    agents: int = 1000
    interval: float = 2.0
    connections: int = 200
    selectors: int = 4
    select_rate: float = 10.0
    flows: int = 2
    flow_rate: float = 4.0  # upserts per second per runner
    seconds: float = 60.0


# -- tokens --------------------------------------------------------------------------------------
def write_tokens(path: Path, load: Load) -> dict[str, Any]:
    """A tokens file: one agent token per node, one reader per selector, an admin per runner."""
    import hashlib
    import secrets

    def sha(t: str) -> str:
        return hashlib.sha256(t.encode()).hexdigest()

    tokens: dict[str, Any] = {
        "agents": [secrets.token_urlsafe(24) for _ in range(load.agents)],
        "readers": [secrets.token_urlsafe(24) for _ in range(load.selectors)],
        "admins": [secrets.token_urlsafe(24) for _ in range(max(1, load.flows))],
    }
    lines = ["tokens:"]
    for i, t in enumerate(tokens["agents"]):
        lines.append(f"  - {{name: agent-{i}, role: agent, node: bench-{i:05d}, sha256: {sha(t)}}}")
    for i, t in enumerate(tokens["readers"]):
        lines.append(f"  - {{name: selector-{i}, role: reader, sha256: {sha(t)}}}")
    for i, t in enumerate(tokens["admins"]):
        lines.append(f"  - {{name: runner-{i}, role: admin, sha256: {sha(t)}}}")
    path.write_text("\n".join(lines) + "\n")
    return tokens


# -- the load ------------------------------------------------------------------------------------
async def _send(pool: asyncio.Queue[Conn], method: str, path: str, body: Any, token: str) -> tuple[int | None, bytes]:
    conn = await pool.get()
    try:
        return await asyncio.wait_for(conn.request(method, path, json.dumps(body).encode(), token), 30)
    except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
        conn.close()
        return None, b""
    finally:
        pool.put_nowait(conn)


async def run_load(port: int, tokens: dict[str, Any], load: Load, acks: Acks | None = None,
                   keep_going: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Drive the service on `port` for `load.seconds`, and past that while `keep_going()` is true
    (a fault test keeps the load on until some time after its fault has healed, however slowly a
    loaded machine gets there); returns per-kind figures (acks filled in)."""
    from metadata_service.storage.nodes import inventory_hash

    acks = acks if acks is not None else Acks()
    kinds = {k: Kind() for k in ("register", "liveness", "select", "flow")}
    pool: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(load.connections):
        pool.put_nowait(Conn("127.0.0.1", port))
    started = time.time()
    deadline = time.perf_counter() + load.seconds

    def running() -> bool:
        return time.perf_counter() < deadline or (keep_going is not None and keep_going())

    async def agent(i: int) -> None:
        entry = node_entry(i)
        name, digest, token = entry["name"], inventory_hash(entry), tokens["agents"][i]
        full = True
        await asyncio.sleep(random.random() * load.interval)
        while running():
            body = {"node": entry, "inventory_hash": digest} if full else {"node": None, "inventory_hash": digest}
            sent, t0 = time.time(), time.perf_counter()
            status, _ = await _send(pool, "PUT", f"/v1/nodes/{name}/heartbeat", body, token)
            (kinds["register"] if full else kinds["liveness"]).add(status, time.perf_counter() - t0)
            if status is not None and 200 <= status < 300:
                acks.heartbeat_last_send[name] = sent
                acks.heartbeat_count[name] = acks.heartbeat_count.get(name, 0) + 1
                full = False
            elif status == 409:
                full = True
            await asyncio.sleep(load.interval * random.uniform(0.8, 1.2) if status else 0.5)

    async def selector(i: int) -> None:
        token, principal = tokens["readers"][i], f"selector-{i}"
        period = load.selectors / load.select_rate if load.select_rate > 0 else 1e9
        n = 0
        while running():
            n += 1
            unique = n % 2 == 1
            name = f"sel{i}-{uuid.uuid4().hex[:10]}" if unique else f"sel{i}-repeat"
            body = {"model": {**SELECT_MODEL, "name": name}, "where": {"cluster": f"c{n % 100:02d}"}}
            t0 = time.perf_counter()
            status, _ = await _send(pool, "POST", "/v1/select", body, token)
            kinds["select"].add(status, time.perf_counter() - t0)
            if status == 200:
                acks.selections[principal] = acks.selections.get(principal, 0) + 1
                if unique:
                    acks.unique_names.setdefault(principal, set()).add(name)
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t0)))

    async def runner(i: int) -> None:
        token = tokens["admins"][i]
        period = 1 / load.flow_rate if load.flow_rate > 0 else 1e9
        run, line, runs = None, 0, 0
        while running():
            if run is None or line >= 20:  # a new run every 20 updates
                runs += 1
                run, line = f"load-{i}-{runs}-{uuid.uuid4().hex[:6]}", 0
            line += 1
            task = ("train", "export")[line % 2]
            body = {"id": run, "flow": f"load-flow-{i}", "backend": "local",
                    "tasks": {task: {"state": "Running", "attempts": 1, "log": f"line {line}\n"}}}
            t0 = time.perf_counter()
            status, _ = await _send(pool, "POST", "/v1/flows", body, token)
            kinds["flow"].add(status, time.perf_counter() - t0)
            if status is not None and 200 <= status < 300:
                acks.flow_lines.setdefault((run, task), set()).add(line)
            await asyncio.sleep(max(0.0, period - (time.perf_counter() - t0)))

    t0 = time.perf_counter()
    await asyncio.gather(
        *(agent(i) for i in range(load.agents)),
        *(selector(i) for i in range(load.selectors)),
        *(runner(i) for i in range(load.flows)),
    )
    wall = time.perf_counter() - t0
    while not pool.empty():
        pool.get_nowait().close()
    out = {k: v.summary(wall) for k, v in kinds.items()}
    out["wall_s"] = round(wall, 1)
    out["started_at"] = started
    return out


# -- verification ---------------------------------------------------------------------------------
def verify(database_url: str, acks: Acks) -> dict[str, Any]:
    """Read the database directly and count acknowledged writes it does not hold."""
    from sqlalchemy import create_engine, select

    from metadata_service.tables import FlowTask, Heartbeat, SelectionAudit

    engine = create_engine(database_url)
    lost: dict[str, list[str]] = {"heartbeats": [], "selections": [], "flow_logs": []}
    try:
        with engine.connect() as conn:
            leases = {r[0]: (r[1], r[2]) for r in conn.execute(select(Heartbeat.node, Heartbeat.last_seen, Heartbeat.beats))}
            for node, sent in acks.heartbeat_last_send.items():
                lease = leases.get(node)
                if lease is None or lease[0] < sent or lease[1] < acks.heartbeat_count[node]:
                    lost["heartbeats"].append(f"{node}: db={lease} acked last send={sent} count={acks.heartbeat_count[node]}")
            rows: dict[str, int] = {}
            names: dict[str, set[str]] = {}
            for principal, request in conn.execute(select(SelectionAudit.principal, SelectionAudit.request)):
                rows[principal] = rows.get(principal, 0) + 1
                model = (request or {}).get("model") or {}
                names.setdefault(principal, set()).add(str(model.get("name")))
            for principal, count in acks.selections.items():
                if rows.get(principal, 0) < count:
                    lost["selections"].append(f"{principal}: {rows.get(principal, 0)} audit rows < {count} acknowledged")
                missing = acks.unique_names.get(principal, set()) - names.get(principal, set())
                lost["selections"].extend(f"{principal}: no audit row for {n}" for n in sorted(missing))
            logs = {(r[0], r[1]): r[2] for r in conn.execute(select(FlowTask.run_id, FlowTask.name, FlowTask.log))}
            for key, lines in acks.flow_lines.items():
                stored = set((logs.get(key) or "").splitlines())
                lost["flow_logs"].extend(f"{key}: line {n}" for n in sorted(lines) if f"line {n}" not in stored)
    finally:
        engine.dispose()
    return {
        "acknowledged": {
            "heartbeats": sum(acks.heartbeat_count.values()),
            "nodes": len(acks.heartbeat_last_send),
            "selections": sum(acks.selections.values()),
            "flow_log_lines": sum(len(v) for v in acks.flow_lines.values()),
        },
        "lost": {k: len(v) for k, v in lost.items()},
        "lost_examples": {k: v[:5] for k, v in lost.items() if v},
    }


# -- the service under test -----------------------------------------------------------------------
def pg_url_for(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


class ServiceProcess:
    """`rtfit serve` as a subprocess on a free port (restartable on the same port and database)."""

    def __init__(self, work: Path, database_url: str, tokens_file: Path, *, workers: int = 1,
                 env: dict[str, str] | None = None) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.work, self.database_url, self.workers = work, database_url, workers
        self.env = {**os.environ, "RTFIT_DATABASE_URL": database_url, "RTFIT_TOKENS_FILE": str(tokens_file),
                    "RTFIT_DATA_DIR": str(work / "data"), "RTFIT_NODE_TTL_S": "3600", "RTFIT_LOG_LEVEL": "warning",
                    **(env or {})}
        self.log = work / "serve.log"
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        import subprocess

        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(RTFIT), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rtfit serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            if self.status("/readyz") == 200:
                return
            time.sleep(0.2)
        raise RuntimeError("rtfit serve did not become ready")

    def status(self, path: str) -> int | None:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return None

    def stop(self, sig: int | None = None) -> None:
        import signal

        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig if sig is not None else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except Exception:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_one(db: str, load: Load, work: Path, workers: int) -> dict[str, Any]:
    schema = None
    if db == "postgres":
        schema = f"load_{uuid.uuid4().hex[:10]}"
        _pg_schema(True, schema)
        url = pg_url_for(schema)
    else:
        url = f"sqlite:///{work / 'load.db'}"
    tokens = write_tokens(work / "tokens.yaml", load)
    service = ServiceProcess(work, url, work / "tokens.yaml", workers=workers)
    acks = Acks()
    try:
        service.start()
        figures = asyncio.run(run_load(service.port, tokens, load, acks))
        service.stop()  # the proof reads the database after the service is gone
        figures["proof"] = verify(url, acks)
    finally:
        service.stop()
        if schema:
            _pg_schema(False, schema)
    return figures


def render(db: str, figures: dict[str, Any]) -> str:
    lines = [f"{db}: {figures['wall_s']} s"]
    for kind in ("register", "liveness", "select", "flow"):
        f = figures[kind]
        lines.append(f"  {kind:9s} ok={f['ok']:7d} {f['per_s']:8.1f}/s p50={f['p50_ms']} ms p99={f['p99_ms']} ms "
                     f"errors={f['errors']} {f['non_2xx'] or ''}")
    proof = figures["proof"]
    lines.append(f"  acknowledged {proof['acknowledged']}  lost {proof['lost']}")
    for k, v in proof.get("lost_examples", {}).items():
        lines.append(f"    lost {k}: {v}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--interval", type=float, default=2.0, help="seconds between one agent's heartbeats")
    p.add_argument("--selectors", type=int, default=4)
    p.add_argument("--select-rate", type=float, default=10.0, help="selections per second, all selectors together")
    p.add_argument("--flows", type=int, default=2)
    p.add_argument("--flow-rate", type=float, default=4.0, help="flow upserts per second per runner")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--dbs", default="sqlite,postgres")
    p.add_argument("--quick", action="store_true", help="10 s, 200 agents (unless given)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    if args.quick:
        if args.seconds == 60.0:
            args.seconds = 10.0
        if args.agents == 1000:
            args.agents = 200
    load = Load(agents=args.agents, interval=args.interval, connections=min(args.connections, args.agents),
                selectors=args.selectors, select_rate=args.select_rate, flows=args.flows, flow_rate=args.flow_rate,
                seconds=args.seconds)
    results: dict[str, Any] = {"load": load.__dict__}
    failed = False
    for db in args.dbs.split(","):
        with tempfile.TemporaryDirectory(prefix=f"rtfit-load-{db}-") as tmp:
            figures = run_one(db, load, Path(tmp), args.workers)
        results[db] = figures
        print(render(db, figures), flush=True)
        errors = sum(figures[k]["errors"] for k in ("register", "liveness", "select", "flow"))
        failed |= errors > 0 or any(figures["proof"]["lost"].values())
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
