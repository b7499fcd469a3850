"""The service's one exception hierarchy; `problems.py` turns each class into an HTTP answer.

Storage, auth and selection code raise these (wrapping library errors once with ``raise ... from
e``); routes never build error responses themselves. Each class carries its HTTP status, a short
title and a problem-type slug, and an instance carries the human message plus optional extra
members for the JSON problem body (e.g. ``field`` or ``problems``).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "BodyTooLarge",
    "CatalogRejected",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "InventoryOutOfDate",
    "NotFound",
    "NotReady",
    "ServiceError",
    "Unauthorized",
    "UnreadableBody",
]


class ServiceError(Exception):
    """Root of every error the metadata service raises on purpose (an expected outcome)."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        """The JSON problem object (RFC 9457 members plus our extras)."""
        body: dict[str, Any] = {
            "type": f"https://rtfit.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class InvalidInput(ServiceError):
    """The request body or a parameter is wrong; `field` names where (dotted path)."""

    status = 422
    title = "Invalid input"
    slug = "invalid-input"

    def __init__(self, detail: str, *, field: str | None, **extra: Any) -> None:
        super().__init__(detail, field=field, **extra)
        self.field = field


class UnreadableBody(ServiceError):
    """The body cannot be read as text (a JSON body that is not UTF-8): 400, as FastAPI answers it."""

    status = 400
    title = "Unreadable body"
    slug = "unreadable-body"


class CatalogRejected(ServiceError):
    """An uploaded catalog does not validate; the active revision is unchanged."""

    status = 422
    title = "Catalog rejected"
    slug = "catalog-rejected"


class NotFound(ServiceError):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"
    slug = "conflict"


class InventoryOutOfDate(Conflict):
    """A liveness heartbeat for a node we do not know, or whose inventory hash differs: the agent
    must send the full inventory."""

    title = "Full inventory needed"
    slug = "inventory-needed"


class Unauthorized(ServiceError):
    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class BodyTooLarge(ServiceError):
    status = 413
    title = "Request body too large"
    slug = "body-too-large"


class NotReady(ServiceError):
    """The database is unreachable or no catalog is loaded (readiness, or a route that needs them)."""

    status = 503
    title = "Service not ready"
    slug = "not-ready"
