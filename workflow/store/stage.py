"""Staging components into the runtime store, atomically.

Every stage builds the component in a hidden folder next to its final place
(`<store>/<kind>/.staging-<version>-<random>`), writes the manifest, makes the tree read-only and
only then renames it to `<store>/<kind>/<version>`. A crash leaves a hidden folder that readers
ignore; a reader never sees a component without its manifest. Staged components are immutable:
staging an existing `kind/version` is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workflow.errors import StageFailed, StoreError
from workflow.store.layout import Component, RuntimeStore
from workflow.store.manifest import ComponentEnv, Manifest, Progress, content_digest, write_manifest

__all__ = ["detect_env", "stage_archive", "stage_folder", "stage_pip"]

_LIB_DIRS = ("lib64", "lib", "targets/x86_64-linux/lib", "targets/sbsa-linux/lib")


def detect_env(folder: Path) -> ComponentEnv:
    """What a folder contributes: `bin/`, library folders, `site-packages/` (and their bins)."""
    bins = [d for d in ("bin", "site-packages/bin") if (folder / d).is_dir()]
    libs = [d for d in _LIB_DIRS if (folder / d).is_dir() and not (folder / d / "python").exists()]
    python = [d for d in ("site-packages",) if (folder / d).is_dir()]
    return ComponentEnv(bin=tuple(bins), lib=tuple(libs), python=tuple(python))


def _make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        for name in dirnames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(0o555)
    root.chmod(0o555)


def _remove_tree(root: Path) -> None:
    def _onerror(func: Any, path: str, _exc: Any) -> None:
        os.chmod(os.path.dirname(path), 0o755)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o755)
        func(path)

    if root.exists():
        for dirpath, dirnames, _ in os.walk(root):
            for name in dirnames:
                p = os.path.join(dirpath, name)
                if not os.path.islink(p):
                    os.chmod(p, 0o755)
        root.chmod(0o755)
        shutil.rmtree(root, onerror=_onerror)


class _Staging:
    """Context manager: a hidden temp folder that becomes `<kind>/<version>` on `commit`."""

    def __init__(self, store: RuntimeStore, kind: str, version: str, progress: Progress | None = None) -> None:
        self.store = store
        self.progress = progress
        self.kind = kind
        self.version = version
        self.final = store.folder(kind, version)
        if store.get(kind, version) is not None:
            raise StoreError(f"{kind}/{version} is already staged in {store.root} (components are immutable)")
        if self.final.exists():
            raise StoreError(f"{self.final} exists but has no manifest; remove it before staging {kind}/{version}")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".staging-{version}-", dir=self.final.parent))

    def __enter__(self) -> _Staging:
        return self

    def commit(self, *, env: ComponentEnv | None, source: dict[str, Any],
               expect: tuple[int, str] | None = None) -> Component:
        """Write the manifest, make the tree read-only and publish it.

        `expect=(size_bytes, sha256)`: refuse (publishing nothing) unless the content matches.
        """
        size, digest = content_digest(self.tmp, self.progress)
        if expect is not None and (size, digest) != expect:
            raise StageFailed(
                f"{self.kind}/{self.version}: content is {size} bytes, sha256 {digest[:16]}...; "
                f"expected {expect[0]} bytes, sha256 {expect[1][:16]}... (refused, store unchanged)"
            )
        manifest = Manifest(
            kind=self.kind,
            version=self.version,
            size_bytes=size,
            sha256=digest,
            env=env if env is not None else detect_env(self.tmp),
            source=source,
        )
        write_manifest(self.tmp, manifest)
        _make_read_only(self.tmp)
        try:
            os.rename(self.tmp, self.final)
        except OSError as e:
            raise StageFailed(f"could not publish {self.kind}/{self.version}: {e} (staged concurrently?)") from e
        return Component(self.final, manifest)

    def __exit__(self, *exc: object) -> None:
        _remove_tree(self.tmp)


def stage_folder(
    store: RuntimeStore, kind: str, version: str, source: Path, *, env: ComponentEnv | None = None,
    progress: Progress | None = None,
) -> Component:
    """Copy a folder's contents into the store as `kind/version`."""
    source = Path(source)
    if not source.is_dir():
        raise StoreError(f"{source}: not a folder")
    with _Staging(store, kind, version, progress) as st:
        shutil.copytree(source, st.tmp, symlinks=True, dirs_exist_ok=True)
        return st.commit(env=env, source={"from": str(source.absolute())})


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not str(target).startswith(str(dest.resolve()) + os.sep) and target != dest.resolve():
                raise StoreError(f"{archive}: member {info.filename!r} escapes the component folder")
        zf.extractall(dest)


def stage_archive(
    store: RuntimeStore, kind: str, version: str, archive: Path, *, env: ComponentEnv | None = None,
    progress: Progress | None = None,
) -> Component:
    """Unpack a .tar[.gz|.xz|.bz2]/.tgz/.zip into the store as `kind/version`.

    Tar members are extracted with Python's `data` filter (no absolute paths, no '..', no device
    files, no links pointing outside).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise StoreError(f"{archive}: not a file")
    with _Staging(store, kind, version, progress) as st:
        try:
            if zipfile.is_zipfile(archive):
                _extract_zip(archive, st.tmp)
            else:
                with tarfile.open(archive) as tf:
                    tf.extractall(st.tmp, filter="data")
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as e:
            raise StageFailed(f"{archive}: cannot unpack: {e}") from e
        return st.commit(env=env, source={"archive": str(archive.absolute())})


def stage_pip(
    store: RuntimeStore,
    kind: str,
    version: str,
    specs: Sequence[str],
    *,
    python: str | None = None,
    pip_args: Sequence[str] = (),
    log: Any = None,
    progress: Progress | None = None,
) -> Component:
    """`python -m pip install --target <tmp>/site-packages SPEC...` and publish the result.

    pip reads its usual configuration (find-links, indexes, constraints), so local wheels are
    reused. The installed packages' console scripts land in `site-packages/bin`.
    """
    if not specs:
        raise StoreError("stage with --pip needs at least one requirement spec")
    interpreter = python or sys.executable
    with _Staging(store, kind, version, progress) as st:
        target = st.tmp / "site-packages"
        argv = [
            interpreter, "-m", "pip", "install", "--target", str(target),
            "--no-warn-script-location", "--disable-pip-version-check",
            # a component is its own folder, composed onto a bare base: pip's check against the
            # runner's environment reported conflicts (ERROR ...) that do not apply to it
            "--no-warn-conflicts", *pip_args, *specs,
        ]
        proc = subprocess.run(argv, stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = (proc.stdout or "")[-2000:]
            raise StageFailed(f"pip install for {kind}/{version} failed (exit {proc.returncode}): {tail}")
        source: dict[str, Any] = {"pip": list(specs), "python": interpreter}
        if pip_args:
            source["pip_args"] = list(pip_args)
        return st.commit(env=None, source=source)
