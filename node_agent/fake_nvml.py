"""A stand-in for the ``pynvml`` module, built from a fake :class:`DeviceSnapshot`.

Injected into :class:`node_agent.nvml.NvmlDeviceSource` in place of the real module, it lets
tests run the real NVML code path (decoding, unit conversion, MIG walking, error handling)
without a GPU and without importing nvidia-ml-py. It mirrors the behaviour of NVML that the
agent depends on: bytes for PCI bus ids, memory in bytes, ``NotSupported`` for utilization on
MIG devices and for the MIG mode of GPUs without MIG, ``NotFound`` for empty MIG slots.

Failures are injected by function name: ``FakeNvml(snap, failures={"nvmlDeviceGetName": "NotSupported"})``
fails that call on every device; ``"nvmlDeviceGetName@1"`` only on GPU index 1;
``init_error="DriverNotLoaded"`` makes ``nvmlInit`` fail.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from node_agent.devices import DeviceSnapshot, Gpu, MigDevice

__all__ = ["FakeNvml", "NVML_ERROR_CODES"]

_MIB = 1024 * 1024
NVML_ERROR_CODES = {
    "Uninitialized": 1,
    "InvalidArgument": 2,
    "NotSupported": 3,
    "NoPermission": 4,
    "NotFound": 6,
    "DriverNotLoaded": 9,
    "LibraryNotFound": 12,
    "FunctionNotFound": 13,
    "GpuIsLost": 15,
    "Unknown": 999,
}


class _FakeNVMLError(Exception):
    """Same shape as pynvml.NVMLError: ``.value`` is the NVML return code."""

    value = 999

    def __str__(self) -> str:
        return type(self).__name__.removeprefix("NVMLError_")


@dataclass(frozen=True)
class _Handle:
    gpu: int
    mig: int | None = None


class FakeNvml:
    """Module-like object with the pynvml functions the agent calls."""

    NVML_DEVICE_MIG_ENABLE = 1
    NVML_DEVICE_MIG_DISABLE = 0
    MAX_MIG_SLOTS = 7

    def __init__(
        self,
        snapshot: DeviceSnapshot,
        *,
        failures: Mapping[str, str] | None = None,
        init_error: str | None = None,
        legacy_bytes: bool = False,
    ) -> None:
        self.snapshot = snapshot
        self.failures = dict(failures or {})
        self.init_error = init_error
        self.legacy_bytes = legacy_bytes
        self.calls: Counter[str] = Counter()
        self.initialized = False
        self.NVMLError = type("NVMLError", (_FakeNVMLError,), {})
        for name, code in NVML_ERROR_CODES.items():
            cls = type(f"NVMLError_{name}", (self.NVMLError,), {"value": code})
            setattr(self, f"NVMLError_{name}", cls)
        unknown = {k.split("@")[0] for k in self.failures} - {n for n in dir(self) if n.startswith("nvml")}
        if unknown:
            raise ValueError(f"failures name unknown NVML functions: {sorted(unknown)}")

    # -- plumbing --------------------------------------------------------------------------------

    def _raise(self, error: str) -> None:
        raise getattr(self, f"NVMLError_{error}")()

    def _enter(self, fn: str, handle: _Handle | None = None) -> None:
        self.calls[fn] += 1
        if fn not in ("nvmlInit", "nvmlShutdown") and not self.initialized:
            self._raise("Uninitialized")
        error = self.failures.get(fn)
        if handle is not None:
            error = self.failures.get(f"{fn}@{handle.gpu}", error)
        if error:
            self._raise(error)

    def _str(self, value: str) -> str | bytes:
        return value.encode() if self.legacy_bytes else value

    def _gpu(self, handle: _Handle) -> Gpu:
        return self.snapshot.gpus[handle.gpu]

    def _device(self, handle: _Handle) -> Gpu | MigDevice:
        gpu = self._gpu(handle)
        return gpu if handle.mig is None else gpu.mig_devices[handle.mig]

    def _field(self, handle: _Handle, value: Any) -> Any:
        if value is None:  # the fake device does not know it: NVML would say NotSupported
            self._raise("NotSupported")
        return value

    # -- system ----------------------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.init_error:
            self._raise(self.init_error)
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str | bytes:
        self._enter("nvmlSystemGetDriverVersion")
        if self.snapshot.driver_version is None:
            self._raise("DriverNotLoaded")
        return self._str(self.snapshot.driver_version or "")

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        if self.snapshot.cuda_driver_version is None:
            self._raise("NotSupported")
        major, minor = (self.snapshot.cuda_driver_version or "0.0").split(".")
        return int(major) * 1000 + int(minor) * 10

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.snapshot.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        handle = _Handle(index)
        self._enter("nvmlDeviceGetHandleByIndex", handle)
        if not 0 <= index < len(self.snapshot.gpus):
            self._raise("InvalidArgument")
        return handle

    # -- per device (GPU or MIG handle) ---------------------------------------------------------

    def nvmlDeviceGetName(self, handle: _Handle) -> str | bytes:
        self._enter("nvmlDeviceGetName", handle)
        return self._str(self._field(handle, self._device(handle).name))

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str | bytes:
        self._enter("nvmlDeviceGetUUID", handle)
        return self._str(self._field(handle, self._device(handle).uuid))

    def nvmlDeviceGetPciInfo(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetPciInfo", handle)
        bus = self._field(handle, self._gpu(handle).pci_bus_id)
        return SimpleNamespace(busId=bus.encode(), busIdLegacy=bus[4:].encode())

    def nvmlDeviceGetMemoryInfo(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetMemoryInfo", handle)
        dev = self._device(handle)
        total = self._field(handle, dev.memory_total_mib) * _MIB
        used = (dev.memory_used_mib or 0) * _MIB
        return SimpleNamespace(total=total, used=used, free=total - used)

    def nvmlDeviceGetCudaComputeCapability(self, handle: _Handle) -> tuple[int, int]:
        self._enter("nvmlDeviceGetCudaComputeCapability", handle)
        major, minor = self._field(handle, self._gpu(handle).compute_capability).split(".")
        return int(major), int(minor)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[SimpleNamespace]:
        self._enter("nvmlDeviceGetComputeRunningProcesses", handle)
        busy = self._device(handle).in_use
        return [SimpleNamespace(pid=4242, usedGpuMemory=512 * _MIB)] if busy else []

    def nvmlDeviceGetUtilizationRates(self, handle: _Handle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        if handle.mig is not None:
            self._raise("NotSupported")
        return SimpleNamespace(gpu=37 if self._gpu(handle).in_use else 0, memory=0)

    # -- MIG -------------------------------------------------------------------------------------

    def nvmlDeviceGetMigMode(self, handle: _Handle) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = self._gpu(handle).mig_enabled
        if mode is None:
            self._raise("NotSupported")
        return [int(bool(mode)), int(bool(mode))]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return self.MAX_MIG_SLOTS

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        if index >= len(self._gpu(handle).mig_devices):
            self._raise("NotFound")
        return _Handle(handle.gpu, index)

    def nvmlDeviceGetGpuInstanceId(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        dev = self._device(handle)
        return self._field(handle, dev.gpu_instance_id if isinstance(dev, MigDevice) else None)

    def nvmlDeviceGetComputeInstanceId(self, handle: _Handle) -> int:
        self._enter("nvmlDeviceGetComputeInstanceId", handle)
        dev = self._device(handle)
        return self._field(handle, dev.compute_instance_id if isinstance(dev, MigDevice) else None)
