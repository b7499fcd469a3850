"""Errors of the solver package: one root, user-input errors apart from internal bugs.

Infeasible requests and solver timeouts are *results* (see `result.py`), never exceptions.
"""

from __future__ import annotations

__all__ = ["InvalidInventory", "InvalidPolicy", "InvalidRequest", "SolverError", "SolverInternalError"]


class SolverError(Exception):
    """Root of every solver exception."""


class InvalidRequest(SolverError, ValueError):
    """A model request (Contract 1) that cannot be parsed; `.field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class InvalidInventory(SolverError, ValueError):
    """A node inventory (Contract 2) that cannot be parsed or resolved; `.field` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class InvalidPolicy(SolverError, ValueError):
    """A selection policy (`rtfit select --policy FILE`) that cannot be parsed; `.field` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class SolverInternalError(SolverError):
    """A bug: the solver produced something its own checks reject."""
