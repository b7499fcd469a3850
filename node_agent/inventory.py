"""Turn a device snapshot plus host facts into one Contract 2 node entry (the heartbeat payload).

The top-level keys are Contract 2's (name, cluster, arch, driver_version, gpus, cached_components,
labels) and its optional driver facts: ``cuda_driver_version`` (the CUDA version the driver
reports, NVML nvmlSystemGetCudaDriverVersion; null when unknown) and, on a Jetson (a readable
/etc/nv_tegra_release), ``l4t_version``: Jetson driver numbers are not desktop driver numbers, so
the solver judges a Jetson's driver by them (docs/formats.md). The agent's extra detail (UUIDs, PCI ids, MIG layout, memory used,
problems) lives under one nested ``agent`` key that consumers of Contract 2 may ignore.

GPUs are grouped: identical devices (same product, memory and compute capability) become one
entry with ``count`` and ``free``; a GPU that is in use counts as not free. A MIG-enabled GPU is
not allocatable whole: each of its MIG devices is one allocatable unit, grouped by slice memory,
with the parent product name (so the catalog still knows the product, its architecture and its
compute capability), the slice's own ``memory_mib`` and its ``mig_profile`` (e.g. "1g.10gb", from
NVML's MIG device name): the solver gives a replica at most one MIG device.
"""

from __future__ import annotations

import platform
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from node_agent.devices import DeviceSnapshot, Gpu
from service_protocol.inventory import VOLATILE_KEYS, inventory_hash

__all__ = [
    "HostFacts",
    "host_facts",
    "normalize_arch",
    "read_l4t_version",
    "gpu_groups",
    "build_inventory",
    "inventory_hash",
    "VOLATILE_KEYS",
]

_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}

# `inventory_hash` and `VOLATILE_KEYS` (memory in use: it changes every sample without changing
# what the node can run) live in service_protocol.inventory, shared with the service.


@dataclass(frozen=True)
class HostFacts:
    hostname: str
    arch: str
    l4t_version: str | None = None   # Jetson: the L4T release of /etc/nv_tegra_release ("36.4.3")


NV_TEGRA_RELEASE = "/etc/nv_tegra_release"
# "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: ..."
_L4T = re.compile(r"^#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+(?:\.\d+)*)")


def read_l4t_version(path: str = NV_TEGRA_RELEASE) -> str | None:
    """The L4T release a Jetson's /etc/nv_tegra_release names ("# R36 (release), REVISION: 4.3" ->
    "36.4.3"); None without the file (not a Jetson) or in another shape."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except OSError:
        return None
    m = _L4T.match(first.strip())
    return f"{m.group(1)}.{m.group(2)}" if m else None


def normalize_arch(machine: str) -> str:
    """``platform.machine()`` to Contract 1/2 arch names: AMD64 -> x86_64, arm64 -> aarch64."""
    key = machine.strip().lower()
    return _ARCH_ALIASES.get(key, key or "unknown")


def host_facts() -> HostFacts:
    return HostFacts(hostname=socket.gethostname(), arch=normalize_arch(platform.machine()),
                     l4t_version=read_l4t_version())


def _units(gpu: Gpu) -> list[tuple[str, int | None, str | None, str | None, bool]]:
    """The allocatable units of one GPU: (product, memory MiB, compute capability, MIG profile, in use)."""
    assert gpu.name is not None
    if gpu.mig_enabled:
        return [
            (gpu.name, m.memory_total_mib, gpu.compute_capability, m.profile, bool(m.in_use))
            for m in gpu.mig_devices
        ]
    return [(gpu.name, gpu.memory_total_mib, gpu.compute_capability, None, bool(gpu.in_use))]


def gpu_groups(gpus: Iterable[Gpu]) -> list[dict[str, Any]]:
    """Contract 2 ``gpus`` entries, in order of first appearance. Nameless GPUs are left out."""
    groups: dict[tuple[str, int | None, str | None, str | None], dict[str, Any]] = {}
    for gpu in gpus:
        if gpu.name is None:
            continue
        for product, memory, cc, profile, busy in _units(gpu):
            entry = groups.get((product, memory, cc, profile))
            if entry is None:
                entry = {"product": product}
                if memory is not None:
                    entry["memory_mib"] = memory
                if cc is not None:
                    entry["compute_capability"] = cc
                if profile is not None:
                    entry["mig_profile"] = profile
                entry.update(count=0, free=0)
                groups[(product, memory, cc, profile)] = entry
            entry["count"] += 1
            entry["free"] += 0 if busy else 1
    return list(groups.values())


def _device_detail(gpu: Gpu) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "index": gpu.index,
        "name": gpu.name,
        "uuid": gpu.uuid,
        "pci_bus_id": gpu.pci_bus_id,
        "memory_total_mib": gpu.memory_total_mib,
        "memory_used_mib": gpu.memory_used_mib,
        "compute_capability": gpu.compute_capability,
        "in_use": gpu.in_use,
        "mig_enabled": gpu.mig_enabled,
    }
    if gpu.mig_enabled:
        detail["mig_devices"] = [
            {
                "uuid": m.uuid,
                "profile": m.profile,
                "memory_total_mib": m.memory_total_mib,
                "memory_used_mib": m.memory_used_mib,
                "gpu_instance_id": m.gpu_instance_id,
                "compute_instance_id": m.compute_instance_id,
                "in_use": m.in_use,
            }
            for m in gpu.mig_devices
        ]
    return detail


def build_inventory(
    snapshot: DeviceSnapshot,
    *,
    name: str,
    host: HostFacts,
    cluster: str | None = None,
    cached_components: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
    problems: Iterable[str] = (),
    agent_version: str | None = None,
) -> dict[str, Any]:
    """One Contract 2 node entry, plus the ``agent`` detail object."""
    entry: dict[str, Any] = {"name": name}
    if cluster:
        entry["cluster"] = cluster
    entry.update(
        arch=host.arch,
        driver_version=snapshot.driver_version,
        cuda_driver_version=snapshot.cuda_driver_version,
    )
    if host.l4t_version:
        entry["l4t_version"] = host.l4t_version
    entry.update(
        gpus=gpu_groups(snapshot.gpus),
        cached_components=sorted(set(cached_components)),
        labels=dict(sorted((labels or {}).items())),
        agent={
            "version": agent_version,
            "source": snapshot.source,
            "hostname": host.hostname,
            "cuda_driver_version": snapshot.cuda_driver_version,
            "devices": [_device_detail(g) for g in snapshot.gpus],
            "problems": [*snapshot.problems, *problems],
        },
    )
    return entry

