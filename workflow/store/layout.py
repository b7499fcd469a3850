"""The runtime store on disk: `<store>/<kind>/<version>/` folders, each with a manifest.

Reading side only: find, list and verify staged components. A folder without `manifest.json`
(a half-copied one, or a staging folder, whose names start with '.') is never returned. Writing
lives in `stage.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from workflow.errors import StoreError
from workflow.store.manifest import (
    MANIFEST_NAME,
    Manifest,
    Progress,
    check_segment,
    content_digest,
    read_manifest,
)

__all__ = ["DEFAULT_STORE", "Component", "RuntimeStore", "VerifyResult", "default_store_path"]

DEFAULT_STORE = ".rtfit/store"


def default_store_path() -> Path:
    """`RTFIT_STORE` or `./.rtfit/store`."""
    return Path(os.environ.get("RTFIT_STORE") or DEFAULT_STORE)


@dataclass(frozen=True)
class Component:
    """A staged component: where it is and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def ref(self) -> str:
        """`kind/version`, the form node inventories use for cached components."""
        return f"{self.kind}/{self.version}"


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of re-hashing one component."""

    component: Component
    ok: bool
    message: str


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


class RuntimeStore:
    """A folder of staged components (Contract 6)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).absolute()

    def folder(self, kind: str, version: str) -> Path:
        """The folder a component lives in (checked to be a safe path; may not exist)."""
        return self.root / check_segment(kind, what="kind") / check_segment(version, what="version")

    def get(self, kind: str, version: str) -> Component | None:
        """The staged component `kind/version`, or None when it is absent or has no manifest."""
        folder = self.folder(kind, version)
        if not (folder / MANIFEST_NAME).is_file():
            return None
        manifest = read_manifest(folder)
        if manifest.kind != kind or manifest.version != version:
            raise StoreError(
                f"{folder}: manifest says {manifest.kind}/{manifest.version}, folder says {kind}/{version}"
            )
        return Component(folder, manifest)

    def find(self, kind: str, version: str) -> Component | None:
        """Exact match first; else the newest staged version that extends `version`.

        The solver may name a series ("3.11", "12.4"); the store holds full versions ("3.11.9",
        "12.4.1"). "12.4" matches "12.4.1" and "12.4.1+x", never "12.40".
        """
        exact = self.get(kind, version)
        if exact is not None:
            return exact
        check_segment(version, what="version")
        candidates = [
            c for c in self.list(kind) if c.version.startswith(version + ".") or c.version.startswith(version + "+")
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda c: _version_key(c.version))

    def list(self, kind: str | None = None) -> list[Component]:
        """Every staged component (optionally of one kind), sorted by kind then version."""
        if not self.root.is_dir():
            return []
        kinds = [kind] if kind is not None else sorted(p.name for p in self.root.iterdir() if p.is_dir())
        found: list[Component] = []
        for k in kinds:
            if k.startswith("."):
                continue
            kind_dir = self.root / check_segment(k, what="kind")
            if not kind_dir.is_dir():
                continue
            for version_dir in kind_dir.iterdir():
                if version_dir.name.startswith(".") or not version_dir.is_dir():
                    continue
                component = self.get(k, version_dir.name)
                if component is not None:
                    found.append(component)
        return sorted(found, key=lambda c: (c.kind, _version_key(c.version)))

    def verify(self, kind: str | None = None,
               progress: Callable[[Component], Progress | None] | None = None) -> list[VerifyResult]:
        """Recompute each component's digest and compare it with its manifest.

        `progress(component)` may return a `(done, total)` byte callback for that component.
        """
        results = []
        for component in self.list(kind):
            size, digest = content_digest(component.path, progress(component) if progress is not None else None)
            m = component.manifest
            if digest != m.sha256:
                msg = f"sha256 mismatch: manifest {m.sha256[:12]}..., content {digest[:12]}..."
                results.append(VerifyResult(component, False, msg))
            elif size != m.size_bytes:
                results.append(VerifyResult(component, False, f"size {size} != manifest {m.size_bytes}"))
            else:
                results.append(VerifyResult(component, True, "ok"))
        return results
