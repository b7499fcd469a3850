"""The compiled catalog cache: a validated `Catalog` kept as a pickle, keyed by content.

Parsing and cross-checking the YAML costs about half a second; every `rtfit` command that needs
the catalog would pay it. The key is a SHA-256 over the bytes of every catalog file in the folder
(names included) and of this package's own source, so editing a record, adding a file or
upgrading rtfit all give a new key, and a stale entry is never read. Only catalogs that
validated are cached: an invalid folder is parsed (and reported) every time.

Where: `RTFIT_CACHE_DIR`, else `$XDG_CACHE_HOME/rtfit`, else `~/.cache/rtfit` — never the
install folder, so a read-only install (a system package, a container image) still caches in
the user's folder. `RTFIT_CACHE_DIR=off` disables it; an unwritable folder disables it silently.
Writes are atomic (temp file + rename); the newest `KEEP` entries are kept.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

from catalog.view import Catalog

__all__ = ["KEEP", "cache_dir", "cache_key", "cached_catalog"]

KEEP = 8
_FORMAT = b"rtfit-catalog-cache/1"
_PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path | None:
    env = os.environ.get("RTFIT_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rtfit"


def _catalog_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".json") and p.is_file())


def cache_key(folder: Path) -> str:
    h = hashlib.sha256(_FORMAT)
    for group, root in (("code", _PACKAGE), ("data", folder)):
        files = sorted(_PACKAGE.glob("*.py")) if group == "code" else _catalog_files(folder)
        for f in files:
            h.update(f"\0{group}\0{f.relative_to(root).as_posix()}\0".encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def _read(path: Path) -> Catalog | None:
    try:
        with path.open("rb") as f:
            state = pickle.load(f)  # noqa: S301 - our own file in the user's cache folder
        cat = object.__new__(Catalog)
        cat.__dict__.update(state)
        os.utime(path)  # most recently used
        return cat
    except Exception:  # noqa: BLE001 - a broken entry is a miss, never an error
        return None


def _write(directory: Path, path: Path, cat: Catalog) -> None:
    state = dict(cat.__dict__)
    if "memo" in state:
        state["memo"] = {}  # per-process answers, rebuilt on use
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".catalog-", dir=directory)
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        entries = sorted(directory.glob("catalog-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # read-only or full: run without a cache


def cached_catalog(folder: Path, build: Callable[[], Catalog]) -> Catalog:
    """The catalog of `folder` from the cache, or `build()` it (and cache it when it is valid)."""
    directory = cache_dir()
    if directory is None:
        return build()
    try:
        key = cache_key(folder)
    except OSError:
        return build()
    path = directory / f"catalog-{key[:32]}.pickle"
    if path.is_file():
        cat = _read(path)
        if cat is not None:
            return cat
    cat = build()
    _write(directory, path, cat)
    return cat
