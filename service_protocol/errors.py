"""The protocol client's one exception hierarchy.

httpx's exceptions are wrapped once, in `client.py` (`raise ... from e`). Statuses a caller
expects as outcomes (the agent's 404/409 "send the full inventory") are not errors: the caller
names them in `expect=` and gets a `Reply`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service_protocol.problems import Problem

__all__ = [
    "ProtocolConfigError",
    "ProtocolError", "ServiceCallError", "ServiceRefused", "ServiceUnreachable", "TokenFileInvalid"]


class ProtocolError(Exception):
    """Root of every error this package raises on purpose."""


class ProtocolConfigError(ProtocolError, ValueError):
    """A client set up wrongly by its user: a server that is not an http(s) URL, two credentials."""


class TokenFileInvalid(ProtocolConfigError):
    """A token file that cannot be read or does not hold exactly one token (a user error)."""


class ServiceCallError(ProtocolError):
    """A call that did not get a usable answer. `.status` is None when nothing answered;
    `.problem` is the parsed error body when the service sent one."""

    def __init__(self, message: str, *, status: int | None = None, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem

    @property
    def detail(self) -> str:
        """The sentence for people: the service's `detail` when it sent one, else the message."""
        if self.problem is not None and self.problem.detail:
            return self.problem.detail
        return str(self)


class ServiceUnreachable(ServiceCallError):
    """Connection refused, DNS failure, timeout: no HTTP answer at all."""


class ServiceRefused(ServiceCallError):
    """The service answered with an error status (4xx, or 5xx after any retries)."""
