"""The inventory hash: what the agent sends with every heartbeat and the service compares.

One function on both sides. A liveness heartbeat carries only this digest; the service renews
the node's lease when it equals the stored one and answers 409 otherwise, so the two sides must
agree byte for byte on what is hashed: the canonical JSON of the node's Contract 2 entry
(sorted keys, no spaces, ASCII), without the volatile keys that change between rounds while the
node does not (memory in use).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["VOLATILE_KEYS", "inventory_hash"]

VOLATILE_KEYS = frozenset({"memory_used_mib"})


def _strip_volatile(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list | tuple):
        return [_strip_volatile(v) for v in value]
    return value


def inventory_hash(entry: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of `entry` without `VOLATILE_KEYS`."""
    canonical = json.dumps(_strip_volatile(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
