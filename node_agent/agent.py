"""The agent loop: collect -> (NFD file) -> heartbeat -> wait, forever, without crashing.

State kept between rounds is small: the inventory hash the service last accepted in full
(``acked_hash``) and the backoff. A round sends the full inventory when the hash differs from
``acked_hash`` (first round, a change on the node, or after the service answered 404/409, which
clears it), and the small liveness body otherwise. A failed send never raises out of the loop: it
is logged and the next round comes after an exponential, jittered backoff instead of the interval.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from node_agent.devices import DeviceSource
from node_agent.errors import NfdWriteError, PublishError
from node_agent.inventory import HostFacts, build_inventory, host_facts, inventory_hash
from node_agent.nfd import NfdWriter, features_from_inventory
from node_agent.publisher import Backoff, HeartbeatClient, SendOutcome, full_body, liveness_body
from node_agent.store import scan_store

__all__ = ["AgentConfig", "NodeAgent"]

log = logging.getLogger(__name__)


def _agent_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rtfit")
    except PackageNotFoundError:
        return None


@dataclass(frozen=True)
class AgentConfig:
    name: str
    cluster: str | None = None
    store: Path | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    interval: float = 10.0
    nfd_file: Path | None = None
    nfd_ttl: timedelta | None = None  # default: max(5 intervals, 5 minutes)
    backoff_base: float = 1.0
    backoff_cap: float = 60.0


class NodeAgent:
    """One node's agent. ``client`` may be None (print / NFD only)."""

    def __init__(
        self,
        config: AgentConfig,
        source: DeviceSource,
        *,
        client: HeartbeatClient | None = None,
        host: HostFacts | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.client = client
        self.host = host or host_facts()
        self.backoff = backoff or Backoff(base=config.backoff_base, cap=config.backoff_cap)
        self.acked_hash: str | None = None
        self.stats: Counter[str] = Counter()
        self._known_problems: set[str] = set()
        self._failing = False
        self._version = _agent_version()
        self.nfd: NfdWriter | None = None
        if config.nfd_file is not None:
            ttl = config.nfd_ttl or max(timedelta(seconds=5 * config.interval), timedelta(minutes=5))
            self.nfd = NfdWriter(config.nfd_file, ttl=ttl)

    # -- the parts of a round --------------------------------------------------------------------

    def collect(self) -> dict[str, Any]:
        """The current Contract 2 entry for this node."""
        snapshot = self.source.snapshot()
        store = scan_store(self.config.store)
        entry = build_inventory(
            snapshot,
            name=self.config.name,
            host=self.host,
            cluster=self.config.cluster,
            cached_components=store.components,
            labels=self.config.labels,
            problems=store.problems,
            agent_version=self._version,
        )
        problems = set(entry["agent"]["problems"])
        for p in sorted(problems - self._known_problems):
            log.warning("inventory: %s", p)
        self._known_problems = problems
        return entry

    def write_nfd(self, entry: Mapping[str, Any]) -> bool:
        if self.nfd is None:
            return False
        try:
            return self.nfd.update(features_from_inventory(entry))
        except NfdWriteError as e:
            log.error("%s", e)
            self.stats["nfd_failures"] += 1
            return False

    def publish(self, entry: dict[str, Any]) -> None:
        """One heartbeat (plus one immediate full resend if the service asks). Raises PublishError."""
        assert self.client is not None
        digest = inventory_hash(entry)
        full = digest != self.acked_hash
        outcome = self._send(entry, digest, full=full)
        if outcome is SendOutcome.NEED_INVENTORY and not full:
            log.info("service asked for the full inventory of %s", self.config.name)
            self.acked_hash = None
            full = True
            outcome = self._send(entry, digest, full=True)
        if outcome is SendOutcome.NEED_INVENTORY:
            raise PublishError(f"the service refused the full inventory of {self.config.name} (404/409)")
        if full:
            self.acked_hash = digest

    def _send(self, entry: dict[str, Any], digest: str, *, full: bool) -> SendOutcome:
        assert self.client is not None
        body = full_body(entry, digest) if full else liveness_body(digest)
        outcome = self.client.send(self.config.name, body)
        self.stats["sent_full" if full else "sent_liveness"] += 1
        return outcome

    # -- rounds ----------------------------------------------------------------------------------

    def step(self) -> float:
        """One round; returns how long to wait before the next. Never raises (except KeyboardInterrupt)."""
        try:
            entry = self.collect()
        except Exception:  # a device-layer bug must not kill the node's heartbeat forever
            log.exception("collecting the inventory failed")
            self.stats["collect_failures"] += 1
            return self.backoff.next_delay()
        self.write_nfd(entry)
        if self.client is None:
            return self.config.interval
        try:
            self.publish(entry)
        except PublishError as e:
            self.stats["send_failures"] += 1
            delay = self.backoff.next_delay()
            log.warning("heartbeat failed (%s); retrying in %.1fs", e, delay)
            self._failing = True
            return delay
        if self._failing:
            log.info("heartbeats delivered again after %d failed attempt(s)", self.backoff.attempts)
        self._failing = False
        self.backoff.reset()
        self.stats["rounds_ok"] += 1
        return self.config.interval

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set; the wait is interruptible."""
        log.info(
            "rtfit agent for node %s (source %s, every %.1fs)",
            self.config.name,
            self.source.kind,
            self.config.interval,
        )
        while not stop.is_set():
            stop.wait(self.step())

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.source.close()
