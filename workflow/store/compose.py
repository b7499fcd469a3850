"""Composing a runtime: from a selection's `runtime` mapping to mounts and environment.

A task's runtime is `{kind: version}` (Contract 3 `runtime`, possibly extended by the task's own
`runtime:` pins). Each kind is looked up in the store; the result is the ordered list of mounts
(host folder -> path inside the task) and the PATH / LD_LIBRARY_PATH / PYTHONPATH / CUDA_HOME it
yields. Order is fixed so that the same runtime always composes the same way: frameworks first
(their packages win on PYTHONPATH), then other Python components alphabetically, then TensorRT,
cuDNN, CUDA. Kinds the base environment provides (e.g. `python` on the local backend) are
checked instead of mounted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

from workflow.errors import ComponentMissing
from workflow.store.layout import Component, RuntimeStore

__all__ = ["ComposedRuntime", "Mount", "compose", "kind_rank"]

_RANK = {"pytorch": 0, "tensorflow": 0, "onnxruntime": 0, "jax": 0, "vllm": 0, "sglang": 0, "tensorrt-llm": 0, "tensorrt": 2,
         "cudnn": 3, "cuda": 4}


def kind_rank(kind: str) -> tuple[int, str]:
    """Sort key of a component kind in a composed runtime."""
    return (_RANK.get(kind, 1), kind)


@dataclass(frozen=True)
class Mount:
    """One component made visible to a task."""

    kind: str
    version: str
    source: str          # folder in the store (host side)
    target: str          # where the task sees it
    sub_path: str        # `<kind>/<version>`, relative to the store root (PVC subPath)
    size_bytes: int
    sha256: str
    read_only: bool = True


@dataclass(frozen=True)
class ComposedRuntime:
    """Mounts plus the environment variables they produce (paths joined with ':')."""

    mounts: tuple[Mount, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    provided: Mapping[str, str] = field(default_factory=dict)

    @property
    def size_bytes(self) -> int:
        return sum(m.size_bytes for m in self.mounts)

    def to_dict(self) -> dict[str, object]:
        return {
            "mounts": [asdict(m) for m in self.mounts],
            "env": dict(self.env),
            "provided": dict(self.provided),
        }


def _version_matches(wanted: str, have: str) -> bool:
    return have == wanted or have.startswith(wanted + ".") or have.startswith(wanted + "+")


def compose(
    runtime: Mapping[str, str],
    store: RuntimeStore,
    *,
    mount_root: str | None = None,
    provided: Mapping[str, str] | None = None,
    stage_hints: Mapping[str, str] | None = None,
) -> ComposedRuntime:
    """Resolve each `kind: version` in the store and build mounts and env.

    `mount_root=None` uses the store folders in place (local backend); otherwise each component
    is mounted at `<mount_root>/<kind>/<version>` (containers). `provided` maps kinds the base
    environment already has to their version: such a kind is used from the store when staged
    there, else accepted when the versions match, else it is an error. `stage_hints` maps a kind
    to the exact `rtfit store stage` command of the answer's install recipe, quoted in the error
    when that component is missing.
    """
    provided = dict(provided or {})
    components: list[Component] = []
    used_provided: dict[str, str] = {}
    for kind in sorted(runtime, key=kind_rank):
        version = str(runtime[kind])
        component = store.find(kind, version)
        if component is not None:
            components.append(component)
            continue
        if kind in provided:
            if _version_matches(version, provided[kind]):
                used_provided[kind] = provided[kind]
                continue
            raise ComponentMissing(
                f"runtime wants {kind} {version} but the base environment has {kind} {provided[kind]} "
                f"and the store {store.root} holds no {kind} {version}"
            )
        hint = (stage_hints or {}).get(kind)
        how = hint if hint else f"rtfit store stage {kind} {version} --from DIR (or --pip SPEC)"
        raise ComponentMissing(f"component {kind} {version} is not staged in {store.root}; stage it with: {how}")
    mounts: list[Mount] = []
    paths: dict[str, list[str]] = {"PATH": [], "LD_LIBRARY_PATH": [], "PYTHONPATH": []}
    cuda_home: str | None = None
    for c in components:
        sub = f"{c.kind}/{c.version}"
        target = str(c.path) if mount_root is None else str(PurePosixPath(mount_root) / c.kind / c.version)
        mounts.append(Mount(c.kind, c.version, str(c.path), target, sub, c.manifest.size_bytes, c.manifest.sha256))
        join = os.path.join if mount_root is None else (lambda a, b: str(PurePosixPath(a) / b))
        paths["PATH"] += [join(target, p) for p in c.manifest.env.bin]
        paths["LD_LIBRARY_PATH"] += [join(target, p) for p in c.manifest.env.lib]
        paths["PYTHONPATH"] += [join(target, p) for p in c.manifest.env.python]
        if c.kind == "cuda":
            cuda_home = target
    env = {name: ":".join(values) for name, values in paths.items() if values}
    if cuda_home is not None:
        env["CUDA_HOME"] = cuda_home
    return ComposedRuntime(tuple(mounts), env, used_provided)
