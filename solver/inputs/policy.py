"""Selection policy: the lexicographic objective order and the preferences it scores.

The default order follows the issue: prefer components already cached on the node (fewer bytes
to stage), then the newest compatible versions, then the tightest GPU fit (least wasted memory,
then fewest idle GPUs left on the node), then cluster/label preferences. A deterministic
tie-break (node name, then catalog order) always comes last and is not configurable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_CACHED_MIN_BYTES", "DEFAULT_ORDER", "ENGINES", "TERMS", "Policy", "parse_policy"]

TERMS = ("cached", "newest", "fit", "gpus", "preference")
DEFAULT_ORDER = ("cached", "newest", "fit", "gpus", "preference")
ENGINES = ("fast", "cpsat")
DEFAULT_CACHED_MIN_BYTES = 250_000_000


@dataclass(frozen=True)
class Policy:
    order: tuple[str, ...] = DEFAULT_ORDER
    prefer_clusters: tuple[str, ...] = ()        # earlier = more preferred
    prefer_labels: tuple[tuple[str, str], ...] = ()
    engine: str = "fast"                         # "fast" (direct evaluation) or "cpsat"
    time_limit_s: float = 10.0
    # A cached component counts for the `cached` term only when it saves at least this many
    # bytes of staging: 0.1 GB of cached Python must not outrank a newer framework.
    cached_min_bytes: int = DEFAULT_CACHED_MIN_BYTES

    def __post_init__(self) -> None:
        bad = [t for t in self.order if t not in TERMS]
        if bad or len(set(self.order)) != len(self.order):
            raise ValueError(f"policy order must be distinct terms from {TERMS}, got {self.order}")
        if self.engine not in ENGINES:
            raise ValueError(f"policy engine must be one of {ENGINES}, got {self.engine!r}")


def parse_policy(data: Mapping[str, Any] | None) -> Policy:
    """A Policy from a plain mapping (`order`, `prefer_clusters`, `prefer_labels`, `engine`)."""
    if not data:
        return Policy()
    order = tuple(data.get("order") or DEFAULT_ORDER)
    missing = [t for t in DEFAULT_ORDER if t not in order]
    return Policy(
        order=order + tuple(missing),
        prefer_clusters=tuple(data.get("prefer_clusters") or ()),
        prefer_labels=tuple(sorted((str(k), str(v)) for k, v in (data.get("prefer_labels") or {}).items())),
        engine=str(data.get("engine") or "fast"),
        time_limit_s=float(data.get("time_limit_s") or 10.0),
        cached_min_bytes=int(data.get("cached_min_bytes", DEFAULT_CACHED_MIN_BYTES)),
    )
