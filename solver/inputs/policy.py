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

__all__ = ["DEFAULT_CACHED_MIN_BYTES", "DEFAULT_ORDER", "ENGINES", "POLICY_KEYS", "TERMS", "Policy", "parse_policy"]

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


POLICY_KEYS = ("order", "prefer_clusters", "prefer_labels", "engine", "time_limit_s", "cached_min_bytes")


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    from solver.errors import InvalidPolicy

    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidPolicy(key, f"expected a list of names, got {value!r}")
    return tuple(value)


def parse_policy(data: Mapping[str, Any] | None) -> Policy:
    """A Policy from a plain mapping (a policy file): `order`, `prefer_clusters`, `prefer_labels`,
    `engine`, `time_limit_s`, `cached_min_bytes`. Strict: an unknown field or a bad value is an
    `InvalidPolicy` naming the field; an omitted field keeps its default (docs/solver.md)."""
    from solver.errors import InvalidPolicy

    if not data:
        return Policy()
    if not isinstance(data, Mapping):
        raise InvalidPolicy("", f"a policy is a mapping of {', '.join(POLICY_KEYS)}; got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in POLICY_KEYS)
    if unknown:
        raise InvalidPolicy(unknown[0], f"unknown field; known: {', '.join(POLICY_KEYS)}")
    order = _strings(data, "order") or DEFAULT_ORDER
    bad = [t for t in order if t not in TERMS]
    if bad or len(set(order)) != len(order):
        raise InvalidPolicy("order", f"distinct terms from {', '.join(TERMS)}; got {', '.join(order)}")
    labels = data.get("prefer_labels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidPolicy("prefer_labels", f"expected a mapping KEY: VALUE, got {labels!r}")
    engine = data.get("engine", "fast")
    if engine not in ENGINES:
        raise InvalidPolicy("engine", f"one of {', '.join(ENGINES)}; got {engine!r}")
    limit = data.get("time_limit_s", 10.0)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        raise InvalidPolicy("time_limit_s", f"a number of seconds > 0; got {limit!r}")
    floor = data.get("cached_min_bytes", DEFAULT_CACHED_MIN_BYTES)
    if isinstance(floor, bool) or not isinstance(floor, int) or floor < 0:
        raise InvalidPolicy("cached_min_bytes", f"an integer number of bytes >= 0; got {floor!r}")
    return Policy(
        order=order + tuple(t for t in DEFAULT_ORDER if t not in order),
        prefer_clusters=_strings(data, "prefer_clusters"),
        prefer_labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        engine=str(engine),
        time_limit_s=float(limit),
        cached_min_bytes=floor,
    )
