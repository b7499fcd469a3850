"""The NVML device source: the only module that touches ``pynvml`` (nvidia-ml-py).

It is imported lazily inside :meth:`NvmlDeviceSource.open`, so importing the agent costs nothing
on a machine without the driver, and tests inject a fake module object in its place.

NVML is queried through its management API only: no CUDA context is created, so the agent costs
no GPU memory. Every per-GPU call goes through :meth:`NvmlDeviceSource._call`, which turns an
``NVMLError`` (NotSupported, NoPermission, FunctionNotFound on an old driver, GpuIsLost ...) into
an absent field plus one line in ``DeviceSnapshot.problems``; it never crashes the agent.
Only a failed ``nvmlInit`` is an error (:class:`DeviceSourceUnavailable`).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from node_agent.devices import DeviceSnapshot, Gpu, MigDevice, cuda_version_from_int
from node_agent.errors import DeviceSourceUnavailable

__all__ = ["NvmlDeviceSource"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_MIB = 1024 * 1024
_MIG_ENABLE = 1  # NVML_DEVICE_MIG_ENABLE


def _text(value: Any) -> str:
    """nvidia-ml-py returns str in new versions and bytes in old ones."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class _Absent(Exception):
    """Internal: one NVML call failed; the caller records the field as absent."""


class NvmlDeviceSource:
    """Reads the node's GPUs through NVML. Create it with :meth:`open`."""

    def __init__(self, nvml: ModuleType | Any) -> None:
        self._nvml = nvml
        self._error: type[BaseException] = nvml.NVMLError
        self._lock = threading.Lock()
        self._closed = False
        self._problems: list[str] = []

    @classmethod
    def open(cls, nvml_module: ModuleType | Any | None = None) -> NvmlDeviceSource:
        """Load and initialise NVML; :class:`DeviceSourceUnavailable` if that is impossible."""
        if nvml_module is None:
            try:
                nvml_module = importlib.import_module("pynvml")
            except ImportError as e:
                raise DeviceSourceUnavailable(f"cannot import pynvml (nvidia-ml-py): {e}") from e
        try:
            nvml_module.nvmlInit()
        except nvml_module.NVMLError as e:
            raise DeviceSourceUnavailable(f"nvmlInit failed: {e}") from e
        except OSError as e:  # a broken libnvidia-ml.so that ctypes cannot load
            raise DeviceSourceUnavailable(f"cannot load libnvidia-ml: {e}") from e
        return cls(nvml_module)

    @property
    def kind(self) -> str:
        return "nvml"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._nvml.nvmlShutdown()
            except self._error as e:
                log.debug("nvmlShutdown failed: %s", e)

    # -- one call, failure = absent -------------------------------------------------------------

    def _call(self, what: str, fn: Callable[..., T], *args: Any, quiet: bool = False) -> T:
        try:
            return fn(*args)
        except self._error as e:
            if not quiet:
                self._problems.append(f"{what}: {e}")
                log.debug("NVML %s failed: %s", what, e)
            raise _Absent(what) from e

    def _get(self, what: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return self._call(what, fn, *args)
        except _Absent:
            return None

    # -- the snapshot ---------------------------------------------------------------------------

    def snapshot(self) -> DeviceSnapshot:
        with self._lock:
            if self._closed:
                raise RuntimeError("NVML device source used after close()")
            self._problems = []
            nv = self._nvml
            driver = self._get("nvmlSystemGetDriverVersion", nv.nvmlSystemGetDriverVersion)
            cuda_int = self._get("nvmlSystemGetCudaDriverVersion", nv.nvmlSystemGetCudaDriverVersion)
            cuda = None
            if cuda_int:
                try:
                    cuda = cuda_version_from_int(int(cuda_int))
                except ValueError as e:
                    self._problems.append(f"nvmlSystemGetCudaDriverVersion: {e}")
            count = self._get("nvmlDeviceGetCount", nv.nvmlDeviceGetCount) or 0
            gpus = []
            for index in range(int(count)):
                gpu = self._gpu(index)
                if gpu is not None:
                    gpus.append(gpu)
            return DeviceSnapshot(
                source="nvml",
                driver_version=_text(driver) if driver is not None else None,
                cuda_driver_version=cuda,
                gpus=tuple(gpus),
                problems=tuple(self._problems),
            )

    def _gpu(self, index: int) -> Gpu | None:
        nv = self._nvml
        handle = self._get(f"gpu {index}: nvmlDeviceGetHandleByIndex", nv.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return None
        tag = f"gpu {index}"
        name = self._get(f"{tag}: nvmlDeviceGetName", nv.nvmlDeviceGetName, handle)
        uuid = self._get(f"{tag}: nvmlDeviceGetUUID", nv.nvmlDeviceGetUUID, handle)
        pci = self._get(f"{tag}: nvmlDeviceGetPciInfo", nv.nvmlDeviceGetPciInfo, handle)
        total, used = self._memory(tag, handle)
        cc = self._get(
            f"{tag}: nvmlDeviceGetCudaComputeCapability", nv.nvmlDeviceGetCudaComputeCapability, handle
        )
        mig_enabled, mig_devices = self._mig(tag, handle)
        in_use = self._in_use(tag, handle, utilization=not mig_enabled)
        if mig_devices:
            in_use = any(bool(m.in_use) for m in mig_devices) or bool(in_use)
        return Gpu(
            index=index,
            name=_text(name) if name is not None else None,
            uuid=_text(uuid) if uuid is not None else None,
            pci_bus_id=_text(pci.busId) if pci is not None else None,
            memory_total_mib=total,
            memory_used_mib=used,
            compute_capability=f"{cc[0]}.{cc[1]}" if cc is not None else None,
            mig_enabled=mig_enabled,
            mig_devices=mig_devices,
            in_use=in_use,
        )

    def _memory(self, tag: str, handle: Any) -> tuple[int | None, int | None]:
        mem = self._get(f"{tag}: nvmlDeviceGetMemoryInfo", self._nvml.nvmlDeviceGetMemoryInfo, handle)
        if mem is None:
            return None, None
        return int(mem.total) // _MIB, int(mem.used) // _MIB

    def _in_use(self, tag: str, handle: Any, *, utilization: bool = True) -> bool | None:
        """Busy = a compute process is running, or (when readable) utilization above zero."""
        nv = self._nvml
        procs = self._get(
            f"{tag}: nvmlDeviceGetComputeRunningProcesses", nv.nvmlDeviceGetComputeRunningProcesses, handle
        )
        signals: list[bool] = []
        if procs is not None:
            signals.append(len(procs) > 0)
        if utilization:
            util = self._get(
                f"{tag}: nvmlDeviceGetUtilizationRates", nv.nvmlDeviceGetUtilizationRates, handle
            )
            if util is not None:
                signals.append(int(util.gpu) > 0)
        return any(signals) if signals else None

    def _mig(self, tag: str, handle: Any) -> tuple[bool | None, tuple[MigDevice, ...]]:
        nv = self._nvml
        try:
            # GPUs without MIG answer NotSupported: that is "MIG disabled", not a problem.
            current, _pending = self._call(
                f"{tag}: nvmlDeviceGetMigMode", nv.nvmlDeviceGetMigMode, handle, quiet=True
            )
        except _Absent:
            return False, ()
        if int(current) != getattr(nv, "NVML_DEVICE_MIG_ENABLE", _MIG_ENABLE):
            return False, ()
        slots = (
            self._get(f"{tag}: nvmlDeviceGetMaxMigDeviceCount", nv.nvmlDeviceGetMaxMigDeviceCount, handle)
            or 0
        )
        devices = []
        for slot in range(int(slots)):
            try:  # empty slots answer NotFound: expected, not a problem
                mig = self._call(
                    f"{tag} mig {slot}", nv.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot, quiet=True
                )
            except _Absent:
                continue
            devices.append(self._mig_device(f"{tag} mig {slot}", mig))
        return True, tuple(devices)

    def _mig_device(self, tag: str, handle: Any) -> MigDevice:
        nv = self._nvml
        name = self._get(f"{tag}: nvmlDeviceGetName", nv.nvmlDeviceGetName, handle)
        uuid = self._get(f"{tag}: nvmlDeviceGetUUID", nv.nvmlDeviceGetUUID, handle)
        total, used = self._memory(tag, handle)
        gi = self._get(f"{tag}: nvmlDeviceGetGpuInstanceId", nv.nvmlDeviceGetGpuInstanceId, handle)
        ci = self._get(f"{tag}: nvmlDeviceGetComputeInstanceId", nv.nvmlDeviceGetComputeInstanceId, handle)
        name_s = _text(name) if name is not None else None
        profile = name_s.rsplit(" MIG ", 1)[1].strip() if name_s and " MIG " in name_s else None
        return MigDevice(
            uuid=_text(uuid) if uuid is not None else None,
            name=name_s,
            profile=profile,
            memory_total_mib=total,
            memory_used_mib=used,
            gpu_instance_id=int(gi) if gi is not None else None,
            compute_instance_id=int(ci) if ci is not None else None,
            in_use=self._in_use(tag, handle, utilization=False),
        )
