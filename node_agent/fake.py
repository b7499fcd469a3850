"""Fake GPUs for tests and demos: readable builders and a fake device source.

``fake_node(fake_h100(), fake_l4())`` reads like the machine it describes. The same snapshots
drive :class:`FakeDeviceSource` (``rtfit agent --fake mixed``) and, through
:mod:`node_agent.fake_nvml`, a fake ``pynvml`` module that exercises the real NVML code path.
Product names, memory sizes and compute capabilities are the values NVML reports for those
products (MIG slice sizes as nvidia-smi shows them on an A100-SXM4-40GB).
"""

from __future__ import annotations

import uuid as _uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

from node_agent.devices import DeviceSnapshot, Gpu, MigDevice
from node_agent.errors import AgentConfigError

__all__ = [
    "fake_gpu",
    "fake_mig_gpu",
    "fake_h100",
    "fake_a100",
    "fake_a100_mig",
    "fake_l4",
    "fake_t4",
    "fake_node",
    "FakeDeviceSource",
    "FAKE_PROFILES",
    "fake_source",
]

A100_40GB_MIG_MIB = {"1g.5gb": 4864, "2g.10gb": 9856, "3g.20gb": 19968, "4g.20gb": 19968, "7g.40gb": 40192}


def _fake_uuid(prefix: str, *parts: object) -> str:
    return f"{prefix}-{_uuid.uuid5(_uuid.NAMESPACE_OID, '/'.join(map(str, parts)))}"


def fake_gpu(
    product: str,
    *,
    memory_mib: int,
    cc: str,
    used_mib: int = 0,
    in_use: bool = False,
    index: int = 0,
) -> Gpu:
    """A whole (non-MIG) GPU. ``index``, UUID and PCI bus id are reassigned by :func:`fake_node`."""
    return Gpu(
        index=index,
        name=product,
        memory_total_mib=memory_mib,
        memory_used_mib=used_mib,
        compute_capability=cc,
        mig_enabled=False,
        in_use=in_use,
    )


def fake_mig_gpu(
    product: str,
    *,
    memory_mib: int,
    cc: str,
    slices: Sequence[tuple[str, int]],
    busy: int = 0,
) -> Gpu:
    """A MIG-enabled GPU cut into ``slices`` of (profile, memory MiB); the first ``busy`` are in use."""
    migs = tuple(
        MigDevice(
            name=f"{product} MIG {profile}",
            profile=profile,
            memory_total_mib=mib,
            memory_used_mib=0,
            gpu_instance_id=i + 1,
            compute_instance_id=0,
            in_use=i < busy,
        )
        for i, (profile, mib) in enumerate(slices)
    )
    return Gpu(
        index=0,
        name=product,
        memory_total_mib=memory_mib,
        memory_used_mib=0,
        compute_capability=cc,
        mig_enabled=True,
        mig_devices=migs,
        in_use=busy > 0,
    )


def fake_h100(*, in_use: bool = False) -> Gpu:
    return fake_gpu("NVIDIA H100 80GB HBM3", memory_mib=81559, cc="9.0", in_use=in_use)


def fake_a100(*, in_use: bool = False) -> Gpu:
    return fake_gpu("NVIDIA A100-SXM4-40GB", memory_mib=40960, cc="8.0", in_use=in_use)


def fake_a100_mig(
    profiles: Sequence[str] = ("3g.20gb", "2g.10gb", "1g.5gb", "1g.5gb"), *, busy: int = 0
) -> Gpu:
    """An A100-SXM4-40GB in MIG mode, e.g. ``fake_a100_mig(["3g.20gb", "3g.20gb"], busy=1)``."""
    unknown = [p for p in profiles if p not in A100_40GB_MIG_MIB]
    if unknown:
        raise ValueError(f"unknown A100-40GB MIG profile(s) {unknown}; known: {sorted(A100_40GB_MIG_MIB)}")
    slices = [(p, A100_40GB_MIG_MIB[p]) for p in profiles]
    return fake_mig_gpu("NVIDIA A100-SXM4-40GB", memory_mib=40960, cc="8.0", slices=slices, busy=busy)


def fake_l4(*, in_use: bool = False) -> Gpu:
    return fake_gpu("NVIDIA L4", memory_mib=23034, cc="8.9", in_use=in_use)


def fake_t4(*, in_use: bool = False) -> Gpu:
    return fake_gpu("Tesla T4", memory_mib=15360, cc="7.5", in_use=in_use)


def fake_node(
    *gpus: Gpu,
    driver: str | None = "550.54.15",
    cuda: str | None = "12.4",
    seed: str = "fake-node",
) -> DeviceSnapshot:
    """A node with these GPUs, indexed in order, with stable fake UUIDs and PCI bus ids.

    ``fake_node()`` is a node with a driver but no GPU; ``fake_node(driver=None, cuda=None)``
    has no driver at all.
    """
    placed = []
    for i, gpu in enumerate(gpus):
        migs = tuple(
            replace(m, uuid=m.uuid or _fake_uuid("MIG", seed, i, j)) for j, m in enumerate(gpu.mig_devices)
        )
        placed.append(
            replace(
                gpu,
                index=i,
                uuid=gpu.uuid or _fake_uuid("GPU", seed, i, gpu.name),
                pci_bus_id=gpu.pci_bus_id or f"00000000:{0x18 + 0x10 * i:02X}:00.0",
                mig_devices=migs,
            )
        )
    return DeviceSnapshot(source="fake", driver_version=driver, cuda_driver_version=cuda, gpus=tuple(placed))


class FakeDeviceSource:
    """Serves a fixed snapshot; :meth:`set` swaps it to simulate a change on the node."""

    def __init__(self, snapshot: DeviceSnapshot, *, name: str = "custom") -> None:
        self._snapshot = replace(snapshot, source=f"fake:{name}")
        self.name = name
        self.closed = False

    @property
    def kind(self) -> str:
        return "fake"

    def set(self, snapshot: DeviceSnapshot) -> None:
        self._snapshot = replace(snapshot, source=f"fake:{self.name}")

    def snapshot(self) -> DeviceSnapshot:
        return self._snapshot

    def close(self) -> None:
        self.closed = True


FAKE_PROFILES: dict[str, Callable[[], DeviceSnapshot]] = {
    "none": lambda: fake_node(driver=None, cuda=None),
    "driver-only": lambda: fake_node(),
    "h100x8": lambda: fake_node(*(fake_h100() for _ in range(8)), driver="550.54.15", cuda="12.4"),
    "a100-mig": lambda: fake_node(fake_a100_mig(busy=1), fake_a100(), driver="535.104.05", cuda="12.2"),
    "l4x2": lambda: fake_node(fake_l4(in_use=True), fake_l4(), driver="535.104.05", cuda="12.2"),
    "t4": lambda: fake_node(fake_t4(), driver="470.223.02", cuda="11.4"),
    "mixed": lambda: fake_node(fake_h100(), fake_l4(), fake_l4(in_use=True), fake_t4()),
}


def fake_source(profile: str) -> FakeDeviceSource:
    """The fake source for a named profile (``rtfit agent --fake PROFILE``)."""
    try:
        build = FAKE_PROFILES[profile]
    except KeyError:
        raise AgentConfigError(
            f"unknown fake profile {profile!r}; choose one of: {', '.join(sorted(FAKE_PROFILES))}"
        ) from None
    return FakeDeviceSource(build(), name=profile)
