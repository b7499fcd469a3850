"""Heartbeats over HTTP: the one module that talks to the metadata service (through httpx).

``PUT {server}/v1/nodes/{name}/heartbeat`` with ``Authorization: Bearer <token>``. The body is
either the full inventory ``{"node": <Contract 2 entry>, "inventory_hash": <hex>}`` or, when
nothing changed since the service last accepted it, the small liveness body
``{"node": null, "inventory_hash": <hex>}``.

Expected answers (kopf style: statuses that are outcomes, not errors):

* 2xx: accepted.
* 404 / 409: the service does not know this node or holds another inventory hash; send the full
  inventory now (:attr:`SendOutcome.NEED_INVENTORY`).

Everything else is wrapped once into :mod:`node_agent.errors`: a transport failure is
:class:`ServerUnreachable`, 401/403 :class:`AuthRejected`, 400/413/422 :class:`PayloadRejected`,
other statuses :class:`ServerError`. The token file is re-read on every send, so a rotated
Kubernetes Secret takes effect without a restart.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from node_agent.errors import (
    AgentConfigError,
    AuthRejected,
    PayloadRejected,
    ServerError,
    ServerUnreachable,
)

__all__ = ["SendOutcome", "HeartbeatClient", "Backoff", "full_body", "liveness_body", "read_token"]


class SendOutcome(enum.Enum):
    ACCEPTED = "accepted"
    NEED_INVENTORY = "need-inventory"


def full_body(entry: dict[str, Any], inventory_hash: str) -> dict[str, Any]:
    return {"node": entry, "inventory_hash": inventory_hash}


def liveness_body(inventory_hash: str) -> dict[str, Any]:
    return {"node": None, "inventory_hash": inventory_hash}


def read_token(path: str | Path) -> str:
    """The bearer token: the file's content without surrounding whitespace."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise AgentConfigError(f"cannot read token file {path}: {e.strerror or e}") from e
    if not token or any(c.isspace() for c in token):
        raise AgentConfigError(f"token file {path} must hold exactly one token (no spaces or extra lines)")
    return token


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


class HeartbeatClient:
    """Sends one heartbeat at a time; owns one pooled ``httpx.Client``."""

    def __init__(
        self,
        server: str,
        token_file: str | Path,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not server.startswith(("http://", "https://")):
            raise AgentConfigError(f"--server must be an http:// or https:// URL, got {server!r}")
        self.server = server.rstrip("/")
        self.token_file = Path(token_file)
        read_token(self.token_file)  # fail at start-up, not at the first heartbeat
        self._client = httpx.Client(
            timeout=timeout, transport=transport, headers={"User-Agent": "rtfit-agent"}
        )

    def url(self, node: str) -> str:
        return f"{self.server}/v1/nodes/{quote(node, safe='')}/heartbeat"

    def send(self, node: str, body: dict[str, Any]) -> SendOutcome:
        """PUT one heartbeat. Raises a :class:`PublishError` subclass when it did not land."""
        try:
            token = read_token(self.token_file)
        except AgentConfigError as e:
            raise AuthRejected(str(e)) from e
        try:
            response = self._client.put(
                self.url(node), json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as e:
            raise ServerUnreachable(f"cannot reach {self.server}: {type(e).__name__}: {e}") from e
        status = response.status_code
        if 200 <= status < 300:
            return SendOutcome.ACCEPTED
        if status in (404, 409):
            return SendOutcome.NEED_INVENTORY
        detail = _problem_detail(response)
        if status in (401, 403):
            raise AuthRejected(f"heartbeat for {node} refused ({status}): {detail}", status=status)
        if status in (400, 413, 422):
            raise PayloadRejected(f"heartbeat for {node} rejected ({status}): {detail}", status=status)
        raise ServerError(f"heartbeat for {node} failed ({status}): {detail}", status=status)

    def close(self) -> None:
        self._client.close()


@dataclass
class Backoff:
    """Exponential backoff with "equal jitter": the n-th retry waits between d/2 and d,
    d = min(cap, base * 2**n), so retries spread out yet never hammer the service."""

    base: float = 1.0
    cap: float = 60.0
    rng: random.Random | None = None
    attempts: int = 0

    def next_delay(self) -> float:
        d = min(self.cap, self.base * (2**self.attempts))
        self.attempts += 1
        rng = self.rng or random
        return d / 2 + rng.uniform(0, d / 2)

    def reset(self) -> None:
        self.attempts = 0
