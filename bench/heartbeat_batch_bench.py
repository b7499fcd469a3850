"""CPU and wall time per liveness-heartbeat batch commit on SQLite: ORM-entity statements vs table statements.

`metadata_service.storage.nodes.record_liveness_batch` renews a batch of leases with one SELECT
and one UPDATE. Written against the ORM entity (`update(Heartbeat)`), SQLAlchemy's bulk ORM
update also evaluates the WHERE clause against the session's identity map; written against the
table (what the service does now), it does not. Both run here side by side, in-process, on a
SQLite file migrated to head with `--nodes` leases, for batches of 1, 3, 10 and 50 pings (a
paced 1,000/s load with a 5 ms window gives batches of 2-5 per worker). Usage:

    .venv/bin/python bench/heartbeat_batch_bench.py [--nodes 10000] [--reps 1500]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select, update
from sqlmodel import Session

from metadata_service.db import Database, init_db
from metadata_service.storage import nodes as node_store
from metadata_service.tables import Heartbeat


def orm_entity_batch(session: Session, pings: list[tuple[str, str]], now: float) -> int:
    """The baseline: the same two statements written against the ORM entity (the code before)."""
    names = sorted({n for n, _ in pings})
    leases = {
        r[0]: (r[1], bool(r[2]))
        for r in session.execute(
            select(Heartbeat.node, Heartbeat.inventory_hash, Heartbeat.available).where(Heartbeat.node.in_(names))
        )
    }
    repeats = Counter(n for n, d in pings if leases.get(n) == (d, True))
    by_repeat: dict[int, list[str]] = {}
    for name, k in sorted(repeats.items()):
        by_repeat.setdefault(k, []).append(name)
    for k, group in by_repeat.items():
        session.execute(
            update(Heartbeat)
            .where(Heartbeat.node.in_(group), Heartbeat.available.is_(True))
            .values(last_seen=now, beats=Heartbeat.beats + k)
        )
    session.commit()
    return len(repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=1500, help="batches per size and variant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rtfit-hb-") as tmp:
        path = Path(tmp) / "svc.db"
        db = Database(f"sqlite:///{path}")
        init_db(db)
        digest = "ab" * 32
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN")
        for i in range(args.nodes):
            name = f"n{i:05d}"
            raw.execute("INSERT INTO nodes VALUES (?,?,?,?,?,?,?,?,?)",
                        (name, "c", "x86_64", "550.54.15", "{}", "{}", digest, 0.0, 0.0))
            raw.execute("INSERT INTO heartbeats VALUES (?,?,?,?,?)", (name, digest, time.time(), 0, 1))
        raw.execute("COMMIT")
        raw.close()

        def table(pings: list[tuple[str, str]]) -> int:
            with db.write_session() as session:
                return sum(o.problem is None for o in node_store.record_liveness_batch(session, pings=pings, now=time.time()))

        def entity(pings: list[tuple[str, str]]) -> int:
            with db.write_session() as session:
                return orm_entity_batch(session, pings, time.time())

        rng = random.Random(7)
        print(f"SQLite, {args.nodes} leases, {args.reps} batches per row (distinct nodes per batch)")
        print("| pings per batch | ORM entity CPU us | table CPU us | ratio | ORM entity wall us | table wall us |")
        print("|---:|---:|---:|---:|---:|---:|")
        for k in (1, 3, 10, 50):
            batches = [[(f"n{i:05d}", digest) for i in rng.sample(range(args.nodes), k)] for _ in range(args.reps)]
            figures = {}
            for label, fn in (("entity", entity), ("table", table)):
                for b in batches[:50]:
                    fn(b)  # warm the statement caches
                cpu, wall = time.process_time(), time.perf_counter()
                renewed = sum(fn(b) for b in batches)
                assert renewed == k * len(batches), (label, renewed)
                figures[label] = ((time.process_time() - cpu) / len(batches) * 1e6,
                                  (time.perf_counter() - wall) / len(batches) * 1e6)
            (ec, ew), (tc, tw) = figures["entity"], figures["table"]
            print(f"| {k} | {ec:,.0f} | {tc:,.0f} | {ec / tc:.2f}x | {ew:,.0f} | {tw:,.0f} |")
        db.dispose()


if __name__ == "__main__":
    main()
