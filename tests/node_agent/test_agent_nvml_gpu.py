"""On a real NVIDIA machine: NVML through nvidia-ml-py gives a plausible inventory.

Marked ``gpu``; skips cleanly where NVML cannot start. It never imports pynvml itself: the
agent's factory does (with ``fail_hard`` so the test can tell "no NVML" from a wrong answer).
"""

from __future__ import annotations

import re

import pytest

from node_agent.devices import open_device_source
from node_agent.errors import DeviceSourceUnavailable
from node_agent.inventory import build_inventory, host_facts

pytestmark = pytest.mark.gpu


@pytest.fixture
def nvml_source():
    try:
        source = open_device_source(fail_hard=True)
    except DeviceSourceUnavailable as e:
        pytest.skip(f"no usable NVML here: {e}")
    yield source
    source.close()


def test_real_nvml_snapshot_is_plausible(nvml_source) -> None:
    snap = nvml_source.snapshot()
    assert snap.source == "nvml"
    assert snap.driver_version and re.fullmatch(r"\d+\.\d+(\.\d+)?", snap.driver_version)
    assert snap.cuda_driver_version and re.fullmatch(r"\d+\.\d+", snap.cuda_driver_version)
    assert snap.gpus, "NVML started but reported no GPU"
    for gpu in snap.gpus:
        assert gpu.name and gpu.uuid and gpu.uuid.startswith("GPU-")
        assert gpu.pci_bus_id and re.fullmatch(
            r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]", gpu.pci_bus_id
        )
        assert gpu.memory_total_mib and gpu.memory_total_mib >= 1024
        major, minor = (int(p) for p in (gpu.compute_capability or "0.0").split("."))
        assert (major, minor) >= (3, 0)
        assert gpu.mig_enabled in (True, False)
        for mig in gpu.mig_devices:
            assert mig.uuid and mig.memory_total_mib and mig.memory_total_mib < gpu.memory_total_mib


def test_real_inventory_entry_counts_every_unit(nvml_source) -> None:
    snap = nvml_source.snapshot()
    entry = build_inventory(snap, name="gpu-test", host=host_facts())
    units = sum(len(g.mig_devices) if g.mig_enabled else 1 for g in snap.gpus if g.name)
    assert sum(g["count"] for g in entry["gpus"]) == units
    assert all(0 <= g["free"] <= g["count"] for g in entry["gpus"])
