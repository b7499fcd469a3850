"""Heartbeats over HTTP, through the shared protocol client (`service_protocol.ServiceClient`).

``PUT {server}/v1/nodes/{name}/heartbeat`` with ``Authorization: Bearer <token>``. The body is
either the full inventory ``{"node": <Contract 2 entry>, "inventory_hash": <hex>}`` or, when
nothing changed since the service last accepted it, the small liveness body
``{"node": null, "inventory_hash": <hex>}``.

Expected answers (kopf style: statuses that are outcomes, not errors):

* 2xx: accepted.
* 404 / 409: the service does not know this node or holds another inventory hash; send the full
  inventory now (:attr:`SendOutcome.NEED_INVENTORY`).

The protocol client's errors are mapped once, here, into :mod:`node_agent.errors`: no answer is
:class:`ServerUnreachable`, 401/403 (or an unreadable token file) :class:`AuthRejected`,
400/413/422 :class:`PayloadRejected`, other statuses :class:`ServerError`. The token file is
re-read on every send (the one token-file rule, `service_protocol.tokens`), so a rotated
Kubernetes Secret takes effect without a restart. The client does not retry: the agent's loop
backs off and sends again (`Backoff`).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import httpx

from node_agent.errors import (
    AgentConfigError,
    AuthRejected,
    PayloadRejected,
    PublishError,
    ServerError,
    ServerUnreachable,
)
from service_protocol import (
    Backoff,
    ProtocolConfigError,
    ServiceCallError,
    ServiceClient,
    ServiceUnreachable,
    TokenFileInvalid,
    read_token,
)
from service_protocol.client import heartbeat_path

__all__ = ["SendOutcome", "HeartbeatClient", "Backoff", "full_body", "liveness_body"]


class SendOutcome(enum.Enum):
    ACCEPTED = "accepted"
    NEED_INVENTORY = "need-inventory"


def full_body(entry: dict[str, Any], inventory_hash: str) -> dict[str, Any]:
    return {"node": entry, "inventory_hash": inventory_hash}


def liveness_body(inventory_hash: str) -> dict[str, Any]:
    return {"node": None, "inventory_hash": inventory_hash}


def _publish_error(node: str, e: ServiceCallError) -> PublishError:
    status = e.status
    if isinstance(e, ServiceUnreachable) or status is None:
        return ServerUnreachable(str(e))
    detail = e.problem.summary() if e.problem is not None else str(e)
    if status in (401, 403):
        return AuthRejected(f"heartbeat for {node} refused ({status}): {detail}", status=status)
    if status in (400, 413, 422):
        return PayloadRejected(f"heartbeat for {node} rejected ({status}): {detail}", status=status)
    return ServerError(f"heartbeat for {node} failed ({status}): {detail}", status=status)


class HeartbeatClient:
    """Sends one heartbeat at a time over one pooled connection."""

    def __init__(
        self,
        server: str,
        token_file: str | Path,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            read_token(token_file)  # fail at start-up, not at the first heartbeat
            self._client = ServiceClient(
                server, token_file=token_file, timeout=timeout, transport=transport, user_agent="rtfit-agent"
            )
        except ProtocolConfigError as e:
            raise AgentConfigError(str(e).replace("the server", "--server")) from e
        self.server = self._client.server

    def url(self, node: str) -> str:
        return f"{self.server}{heartbeat_path(node)}"

    def send(self, node: str, body: dict[str, Any]) -> SendOutcome:
        """PUT one heartbeat. Raises a :class:`PublishError` subclass when it did not land."""
        try:
            reply = self._client.heartbeat(node, body)
        except TokenFileInvalid as e:
            raise AuthRejected(str(e)) from e
        except ServiceCallError as e:
            raise _publish_error(node, e) from e
        return SendOutcome.NEED_INVENTORY if reply.status in (404, 409) else SendOutcome.ACCEPTED

    def close(self) -> None:
        self._client.close()
