"""Node Feature Discovery output: a local feature file that nfd-worker turns into node labels.

Format (NFD's local source, ``source/local/local.go``): one ``<name>=<value>`` line per feature,
``#`` comments, and the directive ``# +expiry-time=<RFC3339>`` after which NFD ignores the file,
so labels disappear on their own when the agent dies. NFD reads every file in
``/etc/kubernetes/node-feature-discovery/features.d/`` and skips dot-files, so the file is
written to a dot-named temporary in the same folder and renamed into place (atomic).

nfd-worker watches that folder and relabels on each change; :class:`NfdWriter` therefore rewrites
the file only when a feature changed or half of the expiry window has passed.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from node_agent.errors import NfdWriteError

__all__ = [
    "PREFIX",
    "features_from_inventory",
    "label_value",
    "render_features",
    "write_features",
    "NfdWriter",
]

PREFIX = "rtfit.io/"
_VALUE_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_NAME_OK = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$")


def label_value(value: Any) -> str:
    """A Kubernetes label value: <= 63 chars of [A-Za-z0-9_.-], alphanumeric at both ends."""
    text = _VALUE_BAD.sub("-", str(value).lower() if isinstance(value, bool) else str(value))
    return text[:63].strip("-_.")


def features_from_inventory(entry: Mapping[str, Any]) -> dict[str, str]:
    """The ``rtfit.io/*`` features for one Contract 2 node entry."""
    gpus = entry.get("gpus") or []
    agent = entry.get("agent") or {}
    feats: dict[str, Any] = {
        "agent": True,
        "arch": entry.get("arch"),
        "gpu.count": sum(int(g.get("count", 1)) for g in gpus),
    }
    if entry.get("driver_version"):
        feats["driver.version"] = entry["driver_version"]
        feats["driver.major"] = str(entry["driver_version"]).split(".")[0]
    if agent.get("cuda_driver_version"):
        feats["cuda.driver-version"] = agent["cuda_driver_version"]
    products = sorted({g["product"] for g in gpus})
    if products:
        feats["gpu.product"] = products[0] if len(products) == 1 else "mixed"
    ccs = sorted({g["compute_capability"] for g in gpus if g.get("compute_capability")}, key=_cc_key)
    if ccs:
        feats["gpu.compute-capability.min"] = ccs[0]
    mems = [g["memory_mib"] for g in gpus if g.get("memory_mib")]
    if mems:
        feats["gpu.memory-mib.min"] = min(mems)
    devices = agent.get("devices") or []
    if devices:
        feats["gpu.mig"] = any(d.get("mig_enabled") for d in devices)
    for component in entry.get("cached_components") or []:
        name = "cached." + label_value(str(component).replace("/", "-"))
        if _NAME_OK.match(name):  # a component too long for a label name is just not labelled
            feats[name] = True
    return {PREFIX + k: label_value(v) for k, v in feats.items() if v is not None and label_value(v)}


def _cc_key(cc: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cc.split(".") if p.isdigit())


def render_features(features: Mapping[str, str], *, expires: datetime) -> str:
    """The file text: the expiry directive first, then sorted ``name=value`` lines."""
    stamp = expires.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = ["# written by rtfit agent; NFD local feature source", f"# +expiry-time={stamp}"]
    lines += [f"{k}={v}" for k, v in sorted(features.items())]
    return "\n".join(lines) + "\n"


def write_features(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (dot-named temp file in the same folder + rename)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        raise NfdWriteError(f"cannot write NFD features file {target}: {e}") from e


class NfdWriter:
    """Keeps one features file current; rewrites only on change or when expiry is half gone."""

    def __init__(self, path: str | Path, *, ttl: timedelta) -> None:
        if ttl <= timedelta(0):
            raise ValueError("NFD expiry must be positive")
        self.path = Path(path)
        self.ttl = ttl
        self._written: dict[str, str] | None = None
        self._expires: datetime | None = None

    def update(self, features: Mapping[str, str], *, now: datetime | None = None) -> bool:
        """Write if needed; returns True when the file was (re)written."""
        now = now or datetime.now(UTC)
        fresh = self._expires is not None and now < self._expires - self.ttl / 2
        if fresh and self._written == dict(features) and self.path.exists():
            return False
        expires = now + self.ttl
        write_features(self.path, render_features(features, expires=expires))
        self._written, self._expires = dict(features), expires
        return True
