"""Which runtime components are already on this node (Contract 6), as ``kind/version`` strings.

A component counts only when ``<store>/<kind>/<version>/manifest.json`` exists and is a JSON
object: the store writes the manifest last, so a folder without one is half-staged. Names that
start with ``.`` (temporary staging folders) are ignored. A missing or unreadable store is
reported as a problem, not raised: the agent keeps heartbeating with what it knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["StoreScan", "scan_store"]


@dataclass(frozen=True)
class StoreScan:
    components: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


def _visible_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_store(store: str | Path | None) -> StoreScan:
    """List ``kind/version`` for every fully staged component under ``store`` (sorted)."""
    if store is None:
        return StoreScan()
    root = Path(store)
    if not root.is_dir():
        return StoreScan(problems=(f"runtime store {root} is not a folder",))
    found: list[str] = []
    problems: list[str] = []
    try:
        kinds = _visible_dirs(root)
    except OSError as e:
        return StoreScan(problems=(f"cannot list runtime store {root}: {e}",))
    for kind_dir in kinds:
        try:
            versions = _visible_dirs(kind_dir)
        except OSError as e:
            problems.append(f"cannot list {kind_dir}: {e}")
            continue
        for version_dir in versions:
            manifest = version_dir / "manifest.json"
            if not manifest.is_file():
                continue  # half-staged
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                problems.append(f"unreadable manifest {manifest}: {e}")
                continue
            if not isinstance(data, dict):
                problems.append(f"manifest {manifest} is not a JSON object")
                continue
            mismatch = [
                f"{key}={data[key]!r}"
                for key, expected in (("kind", kind_dir.name), ("version", version_dir.name))
                if key in data and str(data[key]) != expected
            ]
            if mismatch:
                problems.append(f"manifest {manifest} disagrees with its folder: {', '.join(mismatch)}")
                continue
            found.append(f"{kind_dir.name}/{version_dir.name}")
    return StoreScan(components=tuple(found), problems=tuple(problems))
