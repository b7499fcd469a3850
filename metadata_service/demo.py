"""`rtfit serve --demo`: a small, clearly labelled demo inventory plus this machine.

The demo nodes are invented (cluster `demo`, label `rtfit.dev/demo: "true"`, names `demo-*`)
so that a fresh service has something to select on. This machine is registered with what the
node agent actually sees here (NVML, or a CPU-only entry when there is no driver). While the
service runs with `--demo`, the process renews these nodes' leases itself so they do not go
stale; real nodes are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from .storage import nodes as node_store

if TYPE_CHECKING:
    from .deps import ServiceState

__all__ = ["DEMO_LABEL", "demo_entries", "local_entry", "renew_demo_leases", "seed_demo"]

log = logging.getLogger("metadata_service")
DEMO_LABEL = "rtfit.dev/demo"
LOCAL_LABEL = "rtfit.dev/local"


def demo_entries() -> list[dict[str, Any]]:
    """Invented nodes for the demo (a cloud A100/H100 pair and two edge boxes)."""
    labels = {DEMO_LABEL: "true"}
    return [
        {
            "name": "demo-cloud-h100",
            "cluster": "demo",
            "arch": "x86_64",
            "driver_version": "550.90.07",
            "gpus": [{"product": "NVIDIA H100 80GB HBM3", "count": 8, "free": 8}],
            "cached_components": ["cuda/12.4.1", "python/3.11.9"],
            "labels": {**labels, "zone": "cloud"},
        },
        {
            "name": "demo-cloud-a100",
            "cluster": "demo",
            "arch": "x86_64",
            "driver_version": "535.104.05",
            "gpus": [{"product": "NVIDIA A100-SXM4-80GB", "count": 4, "free": 2}],
            "cached_components": ["cuda/12.2.2"],
            "labels": {**labels, "zone": "cloud"},
        },
        {
            "name": "demo-edge-l4",
            "cluster": "demo",
            "arch": "x86_64",
            "driver_version": "535.104.05",
            "gpus": [{"product": "NVIDIA L4", "count": 2, "free": 1}],
            "cached_components": ["cuda/12.2.2", "python/3.11.9"],
            "labels": {**labels, "zone": "edge"},
        },
        {
            "name": "demo-edge-t4",
            "cluster": "demo",
            "arch": "x86_64",
            "driver_version": "470.256.02",
            "gpus": [{"product": "Tesla T4", "count": 1}],
            "labels": {**labels, "zone": "edge"},
        },
    ]


def local_entry() -> dict[str, Any] | None:
    """This machine's Contract 2 entry as the node agent collects it (None if the agent is absent)."""
    try:
        from node_agent.agent import AgentConfig, NodeAgent
        from node_agent.devices import open_device_source
    except ImportError:
        return None
    source = open_device_source()
    try:
        agent = NodeAgent(
            AgentConfig(name=socket.gethostname().split(".")[0].lower(), labels={LOCAL_LABEL: "true"}),
            source,
        )
        return agent.collect()
    finally:
        source.close()


def seed_demo(state: ServiceState) -> list[str]:
    """Store the demo nodes and this machine; returns their names."""
    entries = demo_entries()
    local = local_entry()
    if local is not None:
        entries.append(local)
    names = []
    for entry in entries:
        with state.db.write_session() as session:
            node_store.record_full(
                session, entry=entry, digest=node_store.inventory_hash(entry), now=state.clock()
            )
        names.append(entry["name"])
    log.info(
        "demo inventory registered: %s (demo-* nodes are invented, labelled %s)", ", ".join(names), DEMO_LABEL
    )
    return names


def _renew(state: ServiceState) -> int:
    with state.db.read_session() as session:
        views = node_store.list_nodes(session, limit=10_000)
    pings = [
        (v.node.name, v.node.inventory_hash)
        for v in views
        if (v.node.labels or {}).get(DEMO_LABEL) == "true" or (v.node.labels or {}).get(LOCAL_LABEL) == "true"
    ]
    with state.db.write_session() as session:
        node_store.record_liveness_batch(session, pings=pings, now=state.clock())
    return len(pings)


async def renew_demo_leases(state: ServiceState) -> None:
    """Renew the demo nodes' (and this machine's) leases every TTL/3 until cancelled."""
    while True:
        await asyncio.sleep(max(1.0, state.settings.node_ttl_s / 3))
        try:
            await run_in_threadpool(_renew, state)
        except Exception as e:  # keep renewing; the database may be back next round
            log.warning("demo lease renewal failed: %s", e.__class__.__name__)
