"""A worker's warm-up at start (not a test): a SQLite database with the bench fleet
(`service_bench.node_entry`, 10,000 nodes by default), a service started on it as a restarted
worker would be, and the time until its index builder has warmed the catalog index for the live
fleet (`_IndexBuilder.warmed`), with the builder thread's CPU for it.

    .venv/bin/python bench/warm_start.py [NODES]
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service_bench import node_entry  # noqa: E402

from metadata_service.app import create_app  # noqa: E402
from metadata_service.settings import Settings  # noqa: E402
from metadata_service.storage.revisions import read_revisions  # noqa: E402

tmp = Path(tempfile.mkdtemp())
tok = tmp / "tokens.yaml"
tok.write_text(yaml.safe_dump({"tokens": [
    {"name": "ops", "role": "admin", "sha256": hashlib.sha256(b"admin-token").hexdigest()}]}))


def settings() -> Settings:
    return Settings(database_url=f"sqlite:///{tmp}/db.sqlite", data_dir=tmp / "data", tokens_file=tok,
                    node_ttl_s=3600)


n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
with TestClient(create_app(settings())) as c:
    h = {"Authorization": "Bearer admin-token"}
    for i in range(n):
        e = node_entry(i)
        r = c.put(f"/v1/nodes/{e['name']}/heartbeat", json={"node": e}, headers=h)
        assert r.status_code == 200, r.text
print("registered", n, file=sys.stderr)
started = time.monotonic()
with TestClient(create_app(settings())) as c:        # the restarted worker
    b = c.app.state.rtfit.selection._builder
    with c.app.state.rtfit.db.read_session() as s:
        rv = read_revisions(s, stale_before=0)
    while b.warmed != (rv.catalog, rv.inventory):
        time.sleep(0.05)
        assert time.monotonic() - started < 300
    print(json.dumps({"nodes": n, "warm_after_start_s": round(time.monotonic() - started, 2),
                      "warm_thread_cpu_s": round(b.warm_cpu_s, 2), "warm_wall_s": round(b.warm_s, 2),
                      "targets": len(b.catalog_index.warm_targets[("pytorch", False)])}))
