"""Soak: worker memory of `rtfit serve --workers 2` over a long run of selections, inventory
changes and catalog swaps (issue #16: "worker memory stays bounded over a long run").

Starts `rtfit serve --workers W` on a fresh database (SQLite file in a temp dir, or a fresh
PostgreSQL schema of `RTFIT_TEST_PG_URL`, dropped afterwards), registers `--nodes` agents (each
with its own token, as bench/service_bench.py does), then for `--minutes` keeps, all at once:

  selections  `--clients` keep-alive connections (each a new one every `--reconnect` requests,
              so both workers serve selections), closed loop, each request drawn at random:
              fleet-wide (no `where`), one cluster (`where`), both with a model never asked
              before (a cache miss), or one of a few fixed requests (cache hits after the first)
  liveness    every live node pings (inventory hash) about twice per `--ttl-s`
  changes     every `--change-s`: one node sends a changed inventory, one new node registers,
              one live node stops pinging (it goes stale after `--ttl-s`: removed from the live
              inventory) and one node that went quiet earlier comes back with a new inventory
  swaps       every `--swap-s`: PUT /v1/catalog with the next catalog revision; by default each
              swap is a revision never seen before (the bundled catalog with a note changed, as
              tests/metadata_service/test_service_concurrency_changes.py builds its variants),
              `--alternate` cycles two revisions instead

and samples the RSS (/proc/<pid>/status VmRSS) of each uvicorn worker every `--sample-s`.

Report (stdout, and `--json FILE`): per worker the RSS after the warm-up (the last sample before
both `--warmup-swaps` (2) swaps are done and `--warmup-s` (60 s) have passed: on a loaded 2-core box
a worker serves few selections, and in the first minute it is still building the per-framework
tables of its first catalogs; RSS rises until then and levels off after), at the end and its maximum; the growth per swap after the
warm-up (least-squares slope of RSS against the swap count) and per minute; requests served per
kind and the non-200 answers. Exit status 1 when any answer was a 5xx or a connection broke, when
uvicorn replaced a worker (the tail of the service's log is then in the report),
or when a worker's RSS at the end exceeds its warm-up RSS by more than `--bound-pct` (20 %)
AND by more than `--bound-mib` (64 MiB), or its fitted growth exceeds `--slope-mib` (5 MiB) per
swap over at least 8 swaps after the warm-up. The old code grew about 15 MiB with every catalog
revision (issue #16): a 3-minute run with a swap every 10 s makes ~11 swaps after the warm-up,
so that leak shows as ~165 MiB and a 15 MiB slope; a worker's RSS is ~230-300 MiB here, so 20 %
(46-60 MiB, and at least 64 MiB) leaves room for the caches that are still filling in a short
run (answer cache 1,024 answers per worker, 64 `where` scopes per revision, the audit writer's
answers) and the allocator's settling while still catching a leak of a third of that; measured
slopes of runs without a leak were -0.0 to 3.0 MiB per swap (docs/benchmarks.md), hence 5.

    .venv/bin/python bench/soak.py --db sqlite --minutes 3
    .venv/bin/python bench/soak.py --db postgres --minutes 3 --json bench/out/soak-pg.json
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_bench import (  # noqa: E402
    MODELS,
    PG_URL,
    PRODUCTS,
    RTFIT,
    Conn,
    _free_port,
    _node_hash,
    _pg_schema,
    _tokens_file,
    _wait_ready,
    node_entry,
    stop_service,
)

import catalog  # noqa: E402


# -- the service's worker processes ------------------------------------------------------------
def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes: children of `rtfit serve` but multiprocessing's resource tracker."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) != parent:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"resource_tracker" in f.read():
                    continue
        except OSError:
            continue
        out.append(int(entry))
    return sorted(out)


def slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of ys against xs (None with fewer than 2 distinct xs)."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


# -- catalogs --------------------------------------------------------------------------------------
def catalog_documents(note: str | None) -> dict[str, Any]:
    """The bundled catalog's documents; with `note`, the same facts as another revision."""
    docs = json.loads(json.dumps(catalog.load_catalog().to_documents(), default=str))
    if note is not None:
        records = next(r for d in docs.values() for s, r in d.items() if isinstance(r, list) and r and s != "sources")
        records[0]["note"] = note
    return docs


# -- the run ---------------------------------------------------------------------------------------
class Soak:
    def __init__(self, args: argparse.Namespace, port: int, reader: str, admin: str, agents: list[str]) -> None:
        self.args = args
        self.port = port
        self.reader, self.admin, self.agents = reader, admin, agents
        self.rng = random.Random(args.seed)
        self.stop = asyncio.Event()
        self.statuses: dict[str, dict[int, int]] = {}
        self.broken: dict[str, int] = {}
        self.retried: dict[str, int] = {}
        self.replaced: list[dict[str, Any]] = []
        self.entries: dict[int, dict[str, Any]] = {i: node_entry(i) for i in range(args.nodes)}
        self.live: set[int] = set(range(args.nodes))     # pinged; the others go stale
        self.quiet: list[int] = []                       # stopped pinging, in order
        self.next_new = args.nodes                       # the next node that registers for the first time
        self.swaps = 0
        self.changes = {"changed": 0, "new": 0, "quieted": 0, "back": 0}
        self.base_docs = catalog_documents(None)

    def count(self, kind: str, status: int | None) -> None:
        if status is None:
            self.broken[kind] = self.broken.get(kind, 0) + 1
            return
        by = self.statuses.setdefault(kind, {})
        by[status] = by.get(status, 0) + 1

    async def call(self, conn: Conn, kind: str, method: str, path: str, body: Any, token: str) -> int | None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        for attempt in (1, 2):
            reused = conn.writer is not None
            try:
                status, _ = await conn.request(method, path, raw, token)
                break
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                status = None
                if not (reused and attempt == 1):
                    break
                # uvicorn closes a keep-alive connection idle for 5 s; under load a request can meet
                # that close: once, on a fresh connection (counted)
                self.retried[kind] = self.retried.get(kind, 0) + 1
        self.count(kind, status)
        return status

    # - nodes
    def heartbeat(self, i: int) -> tuple[str, str, dict[str, Any], str]:
        return "PUT", f"/v1/nodes/bench-{i:05d}/heartbeat", {"node": self.entries[i]}, self.agents[i]

    def changed(self, i: int) -> dict[str, Any]:
        e = copy.deepcopy(self.entries[i])
        product, memory, cc = self.rng.choice(PRODUCTS)
        e["gpus"] = [{"product": product, "memory_mib": memory, "compute_capability": cc,
                      "count": self.rng.choice([1, 2, 4, 8])}]
        e["labels"] = {**e.get("labels", {}), "gen": str(self.rng.randrange(1000))}
        return e

    async def register(self, concurrency: int = 50) -> None:
        todo = iter(range(self.args.nodes))

        async def one() -> None:
            conn = Conn("127.0.0.1", self.port)
            for i in todo:
                await self.call(conn, "register", *self.heartbeat(i))
            conn.close()

        await asyncio.gather(*(one() for _ in range(concurrency)))

    async def liveness(self) -> None:
        conn = Conn("127.0.0.1", self.port)
        hashes: dict[int, tuple[dict[str, Any], bytes]] = {}
        period = self.args.ttl_s / 2
        while not self.stop.is_set():
            started = time.monotonic()
            names = sorted(self.live)
            gap = period / max(1, len(names))
            for k, i in enumerate(names):
                if self.stop.is_set():
                    break
                if i not in self.live:
                    continue
                entry = self.entries[i]
                if i not in hashes or hashes[i][0] is not entry:
                    hashes[i] = (entry, json.dumps({"node": None, "inventory_hash": _node_hash(entry)}).encode())
                status = await self.call(conn, "liveness", "PUT", f"/v1/nodes/bench-{i:05d}/heartbeat",
                                         hashes[i][1], self.agents[i])
                if status == 409:   # the service wants the full inventory (it went stale meanwhile)
                    await self.call(conn, "liveness", *self.heartbeat(i))
                delay = started + (k + 1) * gap - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        conn.close()

    async def changer(self) -> None:
        conn = Conn("127.0.0.1", self.port)
        while not self.stop.is_set():
            await asyncio.sleep(self.args.change_s)
            i = self.rng.choice(sorted(self.live))            # a changed inventory
            self.entries[i] = self.changed(i)
            if await self.call(conn, "change", *self.heartbeat(i)) == 200:
                self.changes["changed"] += 1
            if self.next_new < len(self.agents):              # a node registering for the first time
                i = self.next_new
                self.next_new += 1
                self.entries[i] = node_entry(i)
                if await self.call(conn, "change", *self.heartbeat(i)) == 200:
                    self.live.add(i)
                    self.changes["new"] += 1
            i = self.rng.choice(sorted(self.live))            # one goes quiet: stale after the TTL
            self.live.discard(i)
            self.quiet.append(i)
            self.changes["quieted"] += 1
            if len(self.quiet) > 20:                          # an early quiet one comes back, changed
                i = self.quiet.pop(0)
                self.entries[i] = self.changed(i)
                if await self.call(conn, "change", *self.heartbeat(i)) == 200:
                    self.live.add(i)
                    self.changes["back"] += 1
        conn.close()

    # - catalogs
    async def swapper(self) -> None:
        while not self.stop.is_set():
            try:
                await asyncio.wait_for(self.stop.wait(), self.args.swap_s)
                break
            except TimeoutError:
                pass
            k = self.swaps + 1
            note = f"soak {k % 2}" if self.args.alternate else f"soak {k}"
            docs = copy.deepcopy(self.base_docs)
            records = next(r for d in docs.values() for s, r in d.items()
                           if isinstance(r, list) and r and s != "sources")
            records[0]["note"] = note
            conn = Conn("127.0.0.1", self.port)   # a fresh one: uvicorn closes a keep-alive idle for 5 s
            if await self.call(conn, "catalog", "PUT", "/v1/catalog", {"files": docs}, self.admin) == 200:
                self.swaps = k
            conn.close()

    # - selections
    def selection(self, rng: random.Random, n: int) -> tuple[str, dict[str, Any]]:
        kind = rng.choice(["fleet", "where", "cached"])
        model = dict(rng.choice(MODELS))
        body: dict[str, Any] = {"top": rng.choice([1, 3])}
        if kind == "cached":
            body["top"] = 3
            if rng.random() < 0.5:
                body["where"] = {"cluster": f"c{rng.randrange(4):02d}"}
        else:
            model["name"] = f"soak-{n}"      # never asked before: a cache miss
            if kind == "where":
                body["where"] = {"cluster": f"c{rng.randrange(100):02d}"}
        body["model"] = model
        return kind, body

    async def selector(self, seed: int) -> None:
        rng = random.Random(seed)
        conn = Conn("127.0.0.1", self.port)
        n = 0
        while not self.stop.is_set():
            n += 1
            kind, body = self.selection(rng, seed * 10**9 + n)
            status = await self.call(conn, f"select {kind}", "POST", "/v1/select", body, self.reader)
            if status is None:
                await asyncio.sleep(0.05)
            if n % self.args.reconnect == 0:   # a new connection now and then: both workers get selections
                conn.close()
        conn.close()

    # - memory
    async def sampler(self, parent: int, samples: list[dict[str, Any]], started: float) -> None:
        first: set[int] | None = None
        while True:
            pids = worker_pids(parent)
            if first is None:
                first = set(pids)
            for pid in set(pids) - first:   # uvicorn replaced a worker (it died, or missed its health check)
                first.add(pid)
                self.replaced.append({"t": round(time.monotonic() - started, 1), "new_pid": pid})
            samples.append({"t": round(time.monotonic() - started, 1), "swaps": self.swaps,
                            "rss_mib": {str(p): rss_mib(p) for p in pids}})
            try:
                await asyncio.wait_for(self.stop.wait(), self.args.sample_s)
                return
            except TimeoutError:
                pass


def summarize(samples: list[dict[str, Any]], warmup_swaps: int, warmup_s: float) -> dict[str, Any]:
    """Per worker: the warm-up ends at the first sample with more than `warmup_swaps` swaps done
    and `warmup_s` seconds gone; the RSS after the warm-up is the sample before it."""
    pids = sorted({p for s in samples for p in s["rss_mib"]})
    out: dict[str, Any] = {}
    for pid in pids:
        series = [(s["t"], s["swaps"], s["rss_mib"].get(pid)) for s in samples if s["rss_mib"].get(pid) is not None]
        after_warmup = [x[1] > warmup_swaps and x[0] >= warmup_s for x in series]
        first = after_warmup.index(True) if True in after_warmup else len(series)
        before, after = series[:first], series[first:]
        if not before or not after:
            out[pid] = {"note": "the run ended before the warm-up did", "rss_max_mib": max(x[2] for x in series)}
            continue
        warm = before[-1]
        end = series[-1]
        post = [warm, *after]
        per_swap = slope([x[1] for x in post], [x[2] for x in post])
        per_min = slope([x[0] / 60 for x in post], [x[2] for x in post])
        out[pid] = {
            "rss_after_warmup_mib": round(warm[2], 1),
            "rss_at_end_mib": round(end[2], 1),
            "rss_max_mib": round(max(x[2] for x in series), 1),
            "growth_mib": round(end[2] - warm[2], 1),
            "growth_pct": round(100 * (end[2] - warm[2]) / warm[2], 1),
            "growth_mib_per_swap": None if per_swap is None else round(per_swap, 2),
            "growth_mib_per_minute": None if per_min is None else round(per_min, 2),
            "swaps_after_warmup": end[1] - warm[1],
        }
    return out


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    total = args.nodes + int(args.minutes * 60 / args.change_s) + 10   # tokens for the nodes that join later
    reader, admin, agents = _tokens_file(work / "tokens.yaml", total)
    env = {**os.environ, "RTFIT_TOKENS_FILE": str(work / "tokens.yaml"), "RTFIT_DATA_DIR": str(work / "data"),
           "RTFIT_NODE_TTL_S": str(args.ttl_s), "RTFIT_LOG_LEVEL": "warning"}
    schema = None
    if args.db == "postgres":
        schema = f"soak_{uuid.uuid4().hex[:10]}"
        _pg_schema(True, schema)
        sep = "&" if "?" in PG_URL else "?"
        env["RTFIT_DATABASE_URL"] = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    else:
        env.pop("RTFIT_DATABASE_URL", None)
    port = _free_port()
    log = (work / "serve.log").open("w")
    proc = subprocess.Popen([str(RTFIT), "serve", "--port", str(port), "--workers", str(args.workers)],
                            env=env, stdout=log, stderr=log, cwd=work)
    soak = Soak(args, port, reader, admin, agents)
    samples: list[dict[str, Any]] = []
    report: dict[str, Any] = {"db": args.db, "nodes": args.nodes, "workers": args.workers, "minutes": args.minutes,
                              "clients": args.clients, "swap_s": args.swap_s, "change_s": args.change_s,
                              "ttl_s": args.ttl_s, "alternate": args.alternate, "warmup_swaps": args.warmup_swaps,
                              "warmup_s": args.warmup_s, "cpus": os.cpu_count()}
    try:
        await _wait_ready(port, proc)
        t0 = time.monotonic()
        await soak.register()
        report["register_s"] = round(time.monotonic() - t0, 1)
        print(f"[soak {args.db}] {args.nodes} nodes registered in {report['register_s']} s; "
              f"workers {worker_pids(proc.pid)}", file=sys.stderr)
        started = time.monotonic()
        tasks = [asyncio.create_task(soak.sampler(proc.pid, samples, started)),
                 asyncio.create_task(soak.liveness()), asyncio.create_task(soak.changer()),
                 asyncio.create_task(soak.swapper())]
        tasks += [asyncio.create_task(soak.selector(s)) for s in range(args.clients)]
        last = 0.0
        while time.monotonic() - started < args.minutes * 60:
            await asyncio.sleep(1)
            if proc.poll() is not None:
                raise SystemExit(f"rtfit serve exited with {proc.returncode}: {(work / 'serve.log').read_text()[-3000:]}")
            if time.monotonic() - last >= 30:
                last = time.monotonic()
                print(f"[soak {args.db}] t={last - started:.0f}s swaps={soak.swaps} "
                      f"rss={samples[-1]['rss_mib'] if samples else {}}", file=sys.stderr)
        soak.stop.set()
        await asyncio.gather(*tasks)
        report["seconds"] = round(time.monotonic() - started, 1)
    finally:
        stop_service(proc, log, schema, timeout=60)
    report["catalog_swaps"] = soak.swaps
    report["inventory_changes"] = soak.changes
    report["requests"] = {k: sum(v.values()) for k, v in sorted(soak.statuses.items())}
    report["selections_per_s"] = round(sum(v for k, v in report["requests"].items() if k.startswith("select"))
                                       / report["seconds"], 1)
    report["non_200"] = {k: {s: n for s, n in v.items() if s != 200} for k, v in sorted(soak.statuses.items())
                         if any(s != 200 for s in v)}
    report["broken_connections"] = soak.broken
    report["retried_on_a_fresh_connection"] = soak.retried
    report["workers_replaced"] = soak.replaced
    if soak.replaced:   # what the supervisor and the worker said (the work dir is removed afterwards)
        report["serve_log_tail"] = (work / "serve.log").read_text(errors="replace")[-4000:]
    report["workers_rss"] = summarize(samples, args.warmup_swaps, args.warmup_s)
    report["samples"] = samples
    return report


def verdict(report: dict[str, Any], args: argparse.Namespace) -> list[str]:
    failures = []
    five = {k: {s: n for s, n in v.items() if s >= 500} for k, v in report["non_200"].items()}
    if any(five.values()):
        failures.append(f"5xx answers: {five}")
    if report["broken_connections"]:
        failures.append(f"broken connections: {report['broken_connections']}")
    liveness = {s for s in report["non_200"].get("liveness", {}) if s != 409}   # 409: send it in full
    other = {k: v for k, v in report["non_200"].items() if k != "liveness"}
    if liveness or other:
        failures.append(f"non-200 answers: {report['non_200']}")
    if report["workers_replaced"]:
        failures.append(f"uvicorn replaced workers: {report['workers_replaced']} (see serve_log_tail)")
    if report["catalog_swaps"] <= args.warmup_swaps:
        failures.append(f"only {report['catalog_swaps']} catalog swaps: no RSS after the warm-up to compare")
    for pid, w in report["workers_rss"].items():
        if "growth_mib" not in w:
            continue
        if w["growth_mib"] > args.bound_mib and w["growth_pct"] > args.bound_pct:
            failures.append(f"worker {pid} grew {w['growth_mib']} MiB ({w['growth_pct']} %) after the warm-up")
        if w["swaps_after_warmup"] >= 8 and (w["growth_mib_per_swap"] or 0) > args.slope_mib:
            failures.append(f"worker {pid} grows {w['growth_mib_per_swap']} MiB per catalog swap")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="selector connections (closed loop)")
    parser.add_argument("--reconnect", type=int, default=50, help="selections per selector connection")
    parser.add_argument("--swap-s", type=float, default=10.0, help="seconds between catalog swaps")
    parser.add_argument("--alternate", action="store_true", help="swap between two revisions, not a new one each time")
    parser.add_argument("--change-s", type=float, default=3.0, help="seconds between inventory changes")
    parser.add_argument("--ttl-s", type=float, default=60.0, help="node TTL (a quiet node leaves after it)")
    parser.add_argument("--sample-s", type=float, default=3.0, help="seconds between RSS samples")
    parser.add_argument("--warmup-swaps", type=int, default=2, help="swaps before the RSS baseline")
    parser.add_argument("--warmup-s", type=float, default=60.0, help="and seconds before the RSS baseline")
    parser.add_argument("--bound-pct", type=float, default=20.0)
    parser.add_argument("--bound-mib", type=float, default=64.0)
    parser.add_argument("--slope-mib", type=float, default=5.0, help="most MiB per swap after the warm-up")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the report (with every RSS sample) here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rtfit-soak-") as tmp:
        report = asyncio.run(run(args, Path(tmp)))
    failures = verdict(report, args)
    report["failures"] = failures
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    print(f"uptime: {os.getloadavg()}")
    if failures:
        print("FAIL: " + "; ".join(failures))
        sys.exit(1)
    print("OK")


if __name__ == "__main__":
    main()
