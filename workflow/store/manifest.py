"""The manifest of one staged component and the content digest it carries.

A component folder `<store>/<kind>/<version>/` is only a component once `manifest.json` is in it.
The digest is deterministic: it walks the folder's files and symlinks in sorted relative-path
order (POSIX separators, `manifest.json` itself excluded) and hashes, per entry, its kind, path,
size and bytes (or link target). Two stores holding the same bytes agree on the digest whatever
the file timestamps, owners or directory order.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.errors import InvalidComponentName, StoreError

__all__ = [
    "MANIFEST_NAME",
    "ComponentEnv",
    "Progress",
    "Manifest",
    "check_segment",
    "content_digest",
    "read_manifest",
    "write_manifest",
]

MANIFEST_NAME = "manifest.json"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_CHUNK = 1 << 20


def check_segment(value: str, *, what: str) -> str:
    """Return `value` if it is a safe single path segment for the store, else raise.

    Refuses '/', '\\', '..', a leading dot or dash, and anything beyond [A-Za-z0-9._+-].
    """
    if not isinstance(value, str) or not _SEGMENT.match(value) or ".." in value:
        raise InvalidComponentName(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_', '+', '-' "
            "(no '/', no '..', not starting with '.' or '-')"
        )
    return value


@dataclass(frozen=True)
class ComponentEnv:
    """Paths, relative to the component folder, that the component adds to the environment."""

    bin: tuple[str, ...] = ()
    lib: tuple[str, ...] = ()
    python: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"bin": list(self.bin), "lib": list(self.lib), "python": list(self.python)}


@dataclass(frozen=True)
class Manifest:
    """Contract 6 manifest: what a component folder holds and what it contributes."""

    kind: str
    version: str
    size_bytes: int
    sha256: str
    env: ComponentEnv = field(default_factory=ComponentEnv)
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "env": self.env.to_dict(),
            "source": dict(self.source),
        }


Progress = Callable[[int, int], None]   # (bytes hashed so far, bytes to hash)


def content_digest(root: Path, progress: Progress | None = None) -> tuple[int, str]:
    """Return (total file bytes, sha256 hex) of everything under `root` except the manifest.

    `progress(done, total)` is called as bytes are hashed (progress bars; gigabytes take a while).
    """
    digest = hashlib.sha256()
    total = 0
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in filenames + [d for d in dirnames if (base / d).is_symlink()]:
            path = base / name
            rel = path.relative_to(root).as_posix()
            if rel == MANIFEST_NAME:
                continue
            entries.append((rel, path))
    entries.sort()
    todo = sum(p.stat().st_size for _, p in entries if not p.is_symlink()) if progress is not None else 0
    for rel, path in entries:
        if path.is_symlink():
            target = os.readlink(path)
            digest.update(f"L\0{rel}\0{target}\0".encode())
            continue
        size = path.stat().st_size
        total += size
        digest.update(f"F\0{rel}\0{size}\0".encode())
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if progress is not None:
                    done = total - size + fh.tell()
                    progress(done, todo)
    return total, digest.hexdigest()


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StoreError(f"{where}: expected a list of relative paths")
    for v in value:
        if v.startswith("/") or ".." in Path(v).parts:
            raise StoreError(f"{where}: {v!r} must be a path inside the component folder")
    return tuple(value)


def read_manifest(folder: Path) -> Manifest:
    """Parse `folder/manifest.json`; raise StoreError naming the file when it is malformed."""
    path = folder / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise StoreError(f"{path}: no manifest (not a staged component)") from e
    except (OSError, json.JSONDecodeError) as e:
        raise StoreError(f"{path}: unreadable manifest: {e}") from e
    if not isinstance(data, dict):
        raise StoreError(f"{path}: manifest must be a JSON object")
    try:
        env = data.get("env") or {}
        return Manifest(
            kind=str(data["kind"]),
            version=str(data["version"]),
            size_bytes=int(data["size_bytes"]),
            sha256=str(data["sha256"]),
            env=ComponentEnv(
                bin=_str_list(env.get("bin", []), f"{path}: env.bin"),
                lib=_str_list(env.get("lib", []), f"{path}: env.lib"),
                python=_str_list(env.get("python", []), f"{path}: env.python"),
            ),
            source=dict(data.get("source") or {}),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise StoreError(f"{path}: manifest field missing or malformed: {e}") from e


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write the manifest (sorted keys, trailing newline) into `folder`."""
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST_NAME).write_text(text, encoding="utf-8")
