"""The node inventory (Contract 2): frozen node types and their parser.

Parsing here is structural (names, versions, counts). Resolving each GPU against the catalog
(NVML name or alias -> product, memory and compute capability) happens in `groups.py`, because
it needs a catalog; `parse_inventory(data, catalog=cat)` does both at once when one is at hand.
Fields a node agent adds beyond Contract 2 (UUIDs, the `agent` detail) are ignored. Two optional
node fields are read, for Jetson (Tegra) GPUs, whose driver numbers do not follow the desktop
driver tables (see `catalog.compat.rules_driver`): `cuda_driver_version` (the CUDA version the
driver reports: NVML nvmlSystemGetCudaDriverVersion_v2, nvidia-smi's "CUDA Version", e.g. "13.0")
and `l4t_version` (the L4T release, e.g. "36.4.3" from /etc/nv_tegra_release). On other GPUs they
change no verdict. One optional field of a `gpus` entry is read: `mig_profile` (e.g. "1g.10gb"), which says
the entry's units are MIG devices of that profile (the agent sets it from NVML's MIG device name),
not whole GPUs. A MIG device is one CUDA device: a process can use one MIG device, never several
("With CUDA 11/R450 and CUDA 12/R525, only enumeration of a single MIG instance is supported",
NVIDIA MIG User Guide, MIG Device Names - Device Enumeration), so a MIG entry offers at most one
device per replica however many it counts. Without `memory_mib`, a MIG entry's memory is the
profile's (its "Ngb" part, in decimal GB, rounded down to MiB: conservative), never the whole
GPU's; a profile name of another shape is kept as given, its memory then unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from catalog.versions import DriverVersion
from solver.errors import InvalidInventory

if TYPE_CHECKING:
    from catalog import Catalog

__all__ = ["Inventory", "MIG_PROFILE", "Node", "NodeGpu", "mig_profile_memory_mib", "parse_inventory"]

# "1g.10gb", "1g.10gb+me", "2c.3g.20gb" (a compute instance of a 3g.20gb GPU instance)
L4T = re.compile(r"^[rR]?\d+(\.\d+){0,3}$")
MIG_PROFILE = re.compile(r"^(?:(\d+)c\.)?(\d+)g\.(\d+)gb(?:\+\w+)?$")


def mig_profile_memory_mib(profile: str) -> int:
    """The memory a MIG profile's name states ("1g.10gb" -> 10 GB), in MiB, rounded down."""
    m = MIG_PROFILE.match(profile)
    if m is None:
        raise ValueError(f"not a MIG profile name: {profile!r}")
    return int(m.group(3)) * 10**9 // 2**20


@dataclass(frozen=True)
class NodeGpu:
    product: str
    count: int = 1
    free: int = 1
    memory_mib: int | None = None
    compute_capability: Version | None = None
    mig_profile: str | None = None          # the units are MIG devices of this profile

    @property
    def unit_memory_mib(self) -> int | None:
        """Memory of one unit as reported, else (MIG) the profile's; None: ask the catalog."""
        if self.memory_mib is not None or self.mig_profile is None or not MIG_PROFILE.match(self.mig_profile):
            return self.memory_mib
        return mig_profile_memory_mib(self.mig_profile)


@dataclass(frozen=True)
class Node:
    name: str
    arch: str = "x86_64"
    cluster: str | None = None
    driver_version: Version | None = None
    gpus: tuple[NodeGpu, ...] = ()
    cached_components: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = ()
    cuda_driver_version: Version | None = None   # the CUDA version the driver reports ("13.0")
    l4t_version: str | None = None               # Jetson: the L4T release ("36.4.3")

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True, eq=False)
class Inventory:
    """The nodes of one inventory revision (what the solver derives from it lives in a `FleetIndex`)."""

    nodes: tuple[Node, ...] = ()

    def node(self, name: str) -> Node | None:
        for n in self.nodes:
            if n.name == name:
                return n
        return None


def _str(value: Any, where: str, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise InvalidInventory(where, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInventory(where, f"expected a string, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise InvalidInventory(where, "must not be empty")
    return text


def _int(value: Any, where: str, default: int, minimum: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInventory(where, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _version(value: Any, where: str, driver: bool = False) -> Version | None:
    text = _str(value, where, required=False)
    if not text:
        return None
    try:
        return DriverVersion(text) if driver else Version(text)
    except InvalidVersion as e:
        raise InvalidInventory(where, f"not a valid version: {value!r}") from e


def _gpu(raw: Any, where: str) -> NodeGpu:
    if not isinstance(raw, Mapping):
        raise InvalidInventory(where, "expected a mapping with `product`")
    count = _int(raw.get("count"), f"{where}.count", 1, 1)
    free = _int(raw.get("free"), f"{where}.free", count, 0)
    if free > count:
        raise InvalidInventory(f"{where}.free", f"free ({free}) exceeds count ({count})")
    mem = raw.get("memory_mib")
    profile = _str(raw.get("mig_profile"), f"{where}.mig_profile", required=False) or None
    if profile is not None and len(profile) > 64:
        raise InvalidInventory(f"{where}.mig_profile", "longer than 64 characters (expected e.g. \"1g.10gb\")")
    return NodeGpu(
        product=_str(raw.get("product"), f"{where}.product") or "",
        count=count, free=free,
        memory_mib=_int(mem, f"{where}.memory_mib", 0, 1) if mem is not None else None,
        compute_capability=_version(raw.get("compute_capability"), f"{where}.compute_capability"),
        mig_profile=profile,
    )


def _node(raw: Any, where: str) -> Node:
    if not isinstance(raw, Mapping):
        raise InvalidInventory(where, "expected a mapping with `name`")
    name = _str(raw.get("name"), f"{where}.name") or ""
    arch = (_str(raw.get("arch"), f"{where}.arch", required=False) or "x86_64").lower()
    if arch not in ("x86_64", "aarch64"):
        raise InvalidInventory(f"{where}.arch", f"unknown CPU architecture {arch!r}; expected x86_64 or aarch64")
    gpus_raw = raw.get("gpus") or []
    if not isinstance(gpus_raw, list):
        raise InvalidInventory(f"{where}.gpus", "expected a list")
    cached = raw.get("cached_components") or []
    if not isinstance(cached, list) or not all(isinstance(c, str) and "/" in c for c in cached):
        raise InvalidInventory(f"{where}.cached_components", 'expected a list of "kind/version" strings')
    labels = raw.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidInventory(f"{where}.labels", "expected a mapping")
    cuda_drv = _version(raw.get("cuda_driver_version"), f"{where}.cuda_driver_version")
    if cuda_drv is not None and len(cuda_drv.release) < 2:
        raise InvalidInventory(f"{where}.cuda_driver_version", f"expected MAJOR.MINOR (e.g. \"13.0\"), got "
                               f"{raw.get('cuda_driver_version')!r}")
    l4t = _str(raw.get("l4t_version"), f"{where}.l4t_version", required=False) or None
    if l4t is not None and not L4T.match(l4t):
        raise InvalidInventory(f"{where}.l4t_version", f"expected an L4T release such as \"36.4.3\" (or \"R36.4.3\"), "
                               f"got {l4t!r}")
    return Node(
        name=name, arch=arch,
        cluster=_str(raw.get("cluster"), f"{where}.cluster", required=False) or None,
        driver_version=_version(raw.get("driver_version"), f"{where}.driver_version", driver=True),
        gpus=tuple(_gpu(g, f"{where}.gpus[{j}]") for j, g in enumerate(gpus_raw)),
        cached_components=frozenset(c.strip() for c in cached),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        cuda_driver_version=cuda_drv,
        l4t_version=l4t.lstrip("rR") if l4t is not None else None,
    )


def parse_inventory(data: Mapping[str, Any] | list[Any], catalog: Catalog | None = None) -> Inventory:
    """Parse Contract 2 (`{"nodes": [...]}` or a bare list of nodes).

    With `catalog`, every GPU is also resolved against it now (see `groups.resolve_gpu`), so an
    unknown product without a compute capability is reported here.
    """
    raw_nodes = data.get("nodes") if isinstance(data, Mapping) else data
    if raw_nodes is None:
        raw_nodes = []
    if not isinstance(raw_nodes, list):
        raise InvalidInventory("nodes", "expected a list of nodes")
    nodes = tuple(_node(raw, f"nodes[{i}]") for i, raw in enumerate(raw_nodes))
    seen: set[str] = set()
    for i, n in enumerate(nodes):
        if n.name in seen:
            raise InvalidInventory(f"nodes[{i}].name", f"duplicate node name {n.name!r}")
        seen.add(n.name)
    inv = Inventory(nodes=nodes)
    if catalog is not None:
        from solver.facts.groups import resolve_inventory

        resolve_inventory(catalog, inv)
    return inv
