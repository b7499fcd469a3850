"""Error bodies, parsed once: the service answers errors as RFC 9457 problem objects
(`application/problem+json`: `type`, `title`, `status`, `detail`, and our `field`), but a proxy
in front of it may answer with HTML or plain text. `parse_problem` accepts anything and keeps
what it can, so every caller shows the same sentence for the same answer.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

__all__ = ["Problem", "parse_problem"]

_TEXT_LIMIT = 300


@dataclasses.dataclass(frozen=True)
class Problem:
    """What an error answer said. `body` is the decoded JSON object ({} when it was not one)."""

    status: int
    title: str | None = None
    detail: str | None = None
    field: str | None = None
    type: str | None = None
    body: dict[str, Any] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        """One line for people: the detail, else the title, else the status."""
        return self.detail or self.title or f"HTTP {self.status}"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return (value if isinstance(value, str) else json.dumps(value, default=str))[:_TEXT_LIMIT]


def parse_problem(status: int, content: bytes | str, *, reason: str | None = None) -> Problem:
    """The problem in an error answer's body; a non-JSON body becomes its first characters."""
    raw = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else content
    try:
        decoded = json.loads(raw) if raw.strip() else None
    except ValueError:
        decoded = None
    if isinstance(decoded, dict):
        return Problem(
            status=status,
            title=_text(decoded.get("title")),
            detail=_text(decoded.get("detail")),
            field=_text(decoded.get("field")),
            type=_text(decoded.get("type")),
            body=decoded,
        )
    text = " ".join(raw.split())[:_TEXT_LIMIT] if decoded is None else _text(decoded)
    return Problem(status=status, title=reason or None, detail=text or None)
