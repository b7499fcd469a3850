"""What a node's GPUs look like, independent of where the facts came from.

A :class:`DeviceSource` (NVML, null, fake) produces an immutable :class:`DeviceSnapshot`. Every
field NVML may fail to report is optional: ``None`` means "the GPU or driver did not tell us",
never "zero". "No GPU" is an empty snapshot, not an error (as in gpu-feature-discovery).

:func:`open_device_source` is the factory: NVML first, the null source when NVML is unavailable,
unless ``fail_hard`` asks for a clear error instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from node_agent.errors import DeviceSourceUnavailable

__all__ = [
    "MigDevice",
    "Gpu",
    "DeviceSnapshot",
    "DeviceSource",
    "NullDeviceSource",
    "open_device_source",
    "cuda_version_from_int",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MigDevice:
    """One MIG instance (a GPU instance + compute instance) on a MIG-enabled GPU."""

    uuid: str | None = None
    name: str | None = None  # NVML's name, e.g. "NVIDIA A100-SXM4-40GB MIG 1g.5gb"
    profile: str | None = None  # e.g. "1g.5gb"
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    in_use: bool | None = None


@dataclass(frozen=True)
class Gpu:
    """One physical GPU as NVML reports it."""

    index: int
    name: str | None = None  # the product name, exactly as NVML reports it
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    compute_capability: str | None = None  # "8.9"
    mig_enabled: bool | None = None
    mig_devices: tuple[MigDevice, ...] = ()
    in_use: bool | None = None  # None: neither processes nor utilization could be read


@dataclass(frozen=True)
class DeviceSnapshot:
    """Everything the device layer knows about a node at one moment."""

    source: str  # "nvml" | "null" | "fake:<profile>"
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # "12.4"
    gpus: tuple[Gpu, ...] = ()
    problems: tuple[str, ...] = field(default=())  # NVML calls that failed, in words


@runtime_checkable
class DeviceSource(Protocol):
    """Anything that can describe the node's GPUs. Implementations: NVML, null, fake."""

    @property
    def kind(self) -> str: ...

    def snapshot(self) -> DeviceSnapshot: ...

    def close(self) -> None: ...


class NullDeviceSource:
    """No NVIDIA driver or no GPU: an empty inventory, not an error."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    @property
    def kind(self) -> str:
        return "null"

    def snapshot(self) -> DeviceSnapshot:
        problems = (self.reason,) if self.reason else ()
        return DeviceSnapshot(source="null", problems=problems)

    def close(self) -> None:
        return None


def cuda_version_from_int(value: int) -> str:
    """NVML's system CUDA driver version integer to "major.minor": 12040 -> "12.4"."""
    if value <= 0:
        raise ValueError(f"not a CUDA driver version: {value}")
    return f"{value // 1000}.{(value % 1000) // 10}"


def open_device_source(
    *,
    fail_hard: bool = False,
    fake_profile: str | None = None,
    nvml_module: ModuleType | Any | None = None,
) -> DeviceSource:
    """Pick the device source: a fake profile when asked, else NVML, else null.

    ``nvml_module`` replaces the ``pynvml`` module (dependency injection for tests). With
    ``fail_hard`` an NVML that cannot be initialised raises :class:`DeviceSourceUnavailable`
    instead of silently reporting a CPU-only node.
    """
    if fake_profile is not None:
        from node_agent.fake import fake_source

        return fake_source(fake_profile)

    from node_agent.nvml import NvmlDeviceSource

    try:
        return NvmlDeviceSource.open(nvml_module)
    except DeviceSourceUnavailable as e:
        if fail_hard:
            raise
        log.info("NVML unavailable, reporting a CPU-only node: %s", e)
        return NullDeviceSource(reason=f"NVML unavailable: {e}")
