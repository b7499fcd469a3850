"""The node agent's one exception hierarchy.

Third-party failures (NVML, httpx) are wrapped once, at the module that calls the library, into
these classes (``raise ... from e``), so the rest of the agent never sees a library exception.

Expected outcomes are *not* errors: "no GPU" is an empty snapshot, a GPU that does not support an
NVML call has that field absent, and a heartbeat the service answers with 404/409 ("send me the
full inventory") is a :class:`~node_agent.publisher.SendOutcome`, not an exception.
"""

from __future__ import annotations

__all__ = [
    "AgentError",
    "AgentConfigError",
    "DeviceSourceUnavailable",
    "PublishError",
    "ServerUnreachable",
    "ServerError",
    "AuthRejected",
    "PayloadRejected",
    "NfdWriteError",
]


class AgentError(Exception):
    """Root of every error the node agent raises on purpose."""


class AgentConfigError(AgentError, ValueError):
    """Bad user input: a flag, a token file, a fake profile name. The CLI prints it and exits 2."""


class DeviceSourceUnavailable(AgentError):
    """NVML could not be loaded or initialised (no driver, no library, no permission).

    The factory turns this into the null source unless it was told to fail hard.
    """


class PublishError(AgentError):
    """A heartbeat did not reach the service or was refused. Never fatal to the agent loop."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnreachable(PublishError):
    """Connection refused, DNS failure, timeout: the service is down or unreachable."""


class ServerError(PublishError):
    """The service answered 5xx (or another status it should not send)."""


class AuthRejected(PublishError):
    """The service answered 401/403: the token is wrong, expired, or not this node's."""


class PayloadRejected(PublishError):
    """The service answered 400/422: our body does not match its schema (a contract bug)."""


class NfdWriteError(AgentError):
    """The Node Feature Discovery features file could not be written."""
