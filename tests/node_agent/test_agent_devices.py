"""Device layer: the NVML source over a fake pynvml module, the null source and the factory."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node_agent.devices import DeviceSnapshot, NullDeviceSource, cuda_version_from_int, open_device_source
from node_agent.errors import AgentConfigError, DeviceSourceUnavailable
from node_agent.fake import (
    FAKE_PROFILES,
    FakeDeviceSource,
    fake_a100_mig,
    fake_h100,
    fake_l4,
    fake_node,
    fake_source,
    fake_t4,
)
from node_agent.fake_nvml import FakeNvml
from node_agent.nvml import NvmlDeviceSource

SCENARIOS = {
    "no-driver": fake_node(driver=None, cuda=None),
    "driver-no-gpu": fake_node(),
    "one-h100": fake_node(fake_h100()),
    "mig-a100": fake_node(fake_a100_mig(["3g.20gb", "3g.20gb"], busy=1), driver="535.104.05", cuda="12.2"),
    "mixed": fake_node(fake_h100(), fake_l4(in_use=True), fake_t4()),
    **{f"profile:{k}": build() for k, build in FAKE_PROFILES.items()},
}


def _read(snapshot: DeviceSnapshot, **kwargs: object) -> tuple[DeviceSnapshot, FakeNvml]:
    module = FakeNvml(snapshot, **kwargs)  # type: ignore[arg-type]
    source = NvmlDeviceSource.open(module)
    try:
        return source.snapshot(), module
    finally:
        source.close()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_nvml_source_reads_back_what_the_fake_driver_holds(name: str) -> None:
    expected = SCENARIOS[name]
    got, module = _read(expected)
    # no-driver: NVML answers DriverNotLoaded for the driver version, which is a recorded problem
    problems = ("nvmlSystemGetDriverVersion: DriverNotLoaded", "nvmlSystemGetCudaDriverVersion: NotSupported")
    assert got == replace(
        expected, source="nvml", problems=problems if expected.driver_version is None else ()
    )
    assert module.calls["nvmlInit"] == 1 and not module.initialized  # shut down on close


@pytest.mark.parametrize("legacy_bytes", [False, True])
def test_bytes_and_str_from_old_and_new_nvidia_ml_py_decode_the_same(legacy_bytes: bool) -> None:
    got, _ = _read(fake_node(fake_l4()), legacy_bytes=legacy_bytes)
    assert got.driver_version == "550.54.15"
    assert got.gpus[0].name == "NVIDIA L4"
    assert got.gpus[0].uuid and got.gpus[0].uuid.startswith("GPU-")
    assert got.gpus[0].pci_bus_id == "00000000:18:00.0"


def test_mig_devices_are_walked_and_empty_slots_are_not_problems() -> None:
    got, module = _read(fake_node(fake_a100_mig(["2g.10gb", "1g.5gb", "1g.5gb"], busy=2)))
    gpu = got.gpus[0]
    assert gpu.mig_enabled is True
    assert [m.profile for m in gpu.mig_devices] == ["2g.10gb", "1g.5gb", "1g.5gb"]
    assert [m.memory_total_mib for m in gpu.mig_devices] == [9856, 4864, 4864]
    assert [m.in_use for m in gpu.mig_devices] == [True, True, False]
    assert all(m.uuid and m.uuid.startswith("MIG-") for m in gpu.mig_devices)
    assert got.problems == ()
    # utilization is not asked on MIG devices (NVML does not support it there)
    assert module.calls["nvmlDeviceGetUtilizationRates"] == 0
    assert module.calls["nvmlDeviceGetMigDeviceHandleByIndex"] == FakeNvml.MAX_MIG_SLOTS


# One NVML call fails; that field (and only that field) becomes absent, with a problem line.
SINGLE_CALL_FAILURES = [
    ("nvmlDeviceGetName", "NotSupported", lambda g: g.name is None and g.uuid is not None),
    ("nvmlDeviceGetUUID", "NoPermission", lambda g: g.uuid is None and g.name == "NVIDIA H100 80GB HBM3"),
    ("nvmlDeviceGetPciInfo", "NotSupported", lambda g: g.pci_bus_id is None),
    (
        "nvmlDeviceGetMemoryInfo",
        "GpuIsLost",
        lambda g: g.memory_total_mib is None and g.memory_used_mib is None,
    ),
    ("nvmlDeviceGetCudaComputeCapability", "FunctionNotFound", lambda g: g.compute_capability is None),
    (
        "nvmlDeviceGetComputeRunningProcesses",
        "NotSupported",
        lambda g: g.in_use is False,
    ),  # utilization says idle
    ("nvmlDeviceGetUtilizationRates", "NotSupported", lambda g: g.in_use is False),
    ("nvmlDeviceGetMaxMigDeviceCount", "Unknown", lambda g: g.mig_devices == ()),
]


@pytest.mark.parametrize(
    ("call", "error", "check"), SINGLE_CALL_FAILURES, ids=[c for c, _, _ in SINGLE_CALL_FAILURES]
)
def test_a_failing_nvml_call_makes_a_field_absent_not_a_crash(call: str, error: str, check) -> None:
    snap = fake_node(fake_h100(), fake_l4())
    if call == "nvmlDeviceGetMaxMigDeviceCount":
        snap = fake_node(fake_a100_mig(["1g.5gb"]), fake_l4())
    got, _ = _read(snap, failures={f"{call}@0": error})
    assert check(got.gpus[0])
    assert got.gpus[1] == replace(snap.gpus[1])  # the other GPU is untouched
    assert got.problems == (f"gpu 0: {call}: {error}",)


def test_in_use_is_unknown_when_neither_processes_nor_utilization_can_be_read() -> None:
    failures = {
        "nvmlDeviceGetComputeRunningProcesses": "NotSupported",
        "nvmlDeviceGetUtilizationRates": "NotSupported",
    }
    got, _ = _read(fake_node(fake_l4(in_use=True)), failures=failures)
    assert got.gpus[0].in_use is None


def test_system_level_failures() -> None:
    got, _ = _read(fake_node(fake_l4()), failures={"nvmlSystemGetCudaDriverVersion": "FunctionNotFound"})
    assert got.driver_version == "550.54.15" and got.cuda_driver_version is None and len(got.gpus) == 1
    got, _ = _read(fake_node(fake_l4()), failures={"nvmlDeviceGetCount": "Unknown"})
    assert got.gpus == () and got.problems == ("nvmlDeviceGetCount: Unknown",)
    got, _ = _read(fake_node(fake_l4(), fake_t4()), failures={"nvmlDeviceGetHandleByIndex@1": "GpuIsLost"})
    assert [g.name for g in got.gpus] == ["NVIDIA L4"]
    assert got.problems == ("gpu 1: nvmlDeviceGetHandleByIndex: GpuIsLost",)


@pytest.mark.parametrize("init_error", ["LibraryNotFound", "DriverNotLoaded", "NoPermission"])
def test_init_failure_gives_the_null_source_or_a_clear_error_with_fail_hard(init_error: str) -> None:
    module = FakeNvml(fake_node(fake_l4()), init_error=init_error)
    source = open_device_source(nvml_module=module)
    assert isinstance(source, NullDeviceSource)
    snap = source.snapshot()
    assert snap.source == "null" and snap.gpus == () and snap.driver_version is None
    assert snap.problems == (f"NVML unavailable: nvmlInit failed: {init_error}",)
    with pytest.raises(DeviceSourceUnavailable, match=f"nvmlInit failed: {init_error}"):
        open_device_source(nvml_module=module, fail_hard=True)


def test_factory_uses_nvml_when_it_initialises() -> None:
    source = open_device_source(nvml_module=FakeNvml(fake_node(fake_h100())))
    assert source.kind == "nvml"
    assert source.snapshot().gpus[0].compute_capability == "9.0"
    source.close()
    with pytest.raises(RuntimeError, match="after close"):
        source.snapshot()


def test_fake_profiles_and_unknown_profile() -> None:
    source = open_device_source(fake_profile="mixed")
    assert isinstance(source, FakeDeviceSource)
    assert source.snapshot().source == "fake:mixed"
    assert [g.name for g in source.snapshot().gpus] == [
        "NVIDIA H100 80GB HBM3",
        "NVIDIA L4",
        "NVIDIA L4",
        "Tesla T4",
    ]
    with pytest.raises(AgentConfigError, match="unknown fake profile 'h200'.*a100-mig"):
        fake_source("h200")
    with pytest.raises(ValueError, match="unknown A100-40GB MIG profile"):
        fake_a100_mig(["9g.90gb"])


def test_fake_nvml_rejects_a_misspelled_failure() -> None:
    with pytest.raises(ValueError, match="nvmlDeviceGetNmae"):
        FakeNvml(fake_node(), failures={"nvmlDeviceGetNmae": "NotSupported"})


@pytest.mark.parametrize(
    ("value", "text"), [(12040, "12.4"), (12020, "12.2"), (11080, "11.8"), (13000, "13.0")]
)
def test_cuda_driver_version_from_nvml_integer(value: int, text: str) -> None:
    assert cuda_version_from_int(value) == text


def test_cuda_driver_version_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        cuda_version_from_int(0)
