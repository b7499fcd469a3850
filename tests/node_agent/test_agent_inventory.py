"""Inventory payload (Contract 2 entry), grouping, hashing, host facts and the store scan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from node_agent.devices import DeviceSnapshot
from node_agent.fake import fake_a100, fake_a100_mig, fake_h100, fake_l4, fake_node, fake_t4
from node_agent.inventory import (
    HostFacts,
    build_inventory,
    gpu_groups,
    inventory_hash,
    normalize_arch,
    read_l4t_version,
)
from node_agent.store import scan_store

HOST = HostFacts(hostname="edge-01.local", arch="x86_64")
CONTRACT2_KEYS = ["name", "cluster", "arch", "driver_version", "cuda_driver_version", "gpus", "cached_components",
                  "labels"]

H100 = {"product": "NVIDIA H100 80GB HBM3", "memory_mib": 81559, "compute_capability": "9.0"}
L4 = {"product": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9"}
T4 = {"product": "Tesla T4", "memory_mib": 15360, "compute_capability": "7.5"}
A100 = {"product": "NVIDIA A100-SXM4-40GB", "compute_capability": "8.0"}

GROUPING = [
    ("no-gpu", fake_node(), []),
    ("two-l4-one-busy", fake_node(fake_l4(in_use=True), fake_l4()), [{**L4, "count": 2, "free": 1}]),
    (
        "mixed-products",
        fake_node(fake_h100(), fake_l4(), fake_t4(in_use=True), fake_l4()),
        [{**H100, "count": 1, "free": 1}, {**L4, "count": 2, "free": 2}, {**T4, "count": 1, "free": 0}],
    ),
    (
        "mig-slices-are-the-units",
        fake_node(fake_a100_mig(["3g.20gb", "1g.5gb", "1g.5gb"], busy=2), fake_a100()),
        [
            {**A100, "memory_mib": 19968, "mig_profile": "3g.20gb", "count": 1, "free": 0},
            {**A100, "memory_mib": 4864, "mig_profile": "1g.5gb", "count": 2, "free": 1},
            {**A100, "memory_mib": 40960, "count": 1, "free": 1},
        ],
    ),
    ("mig-enabled-without-instances-offers-nothing", fake_node(fake_a100_mig([])), []),
]


@pytest.mark.parametrize(("name", "snapshot", "expected"), GROUPING, ids=[g[0] for g in GROUPING])
def test_gpu_groups(name: str, snapshot: DeviceSnapshot, expected: list[dict]) -> None:
    assert gpu_groups(snapshot.gpus) == expected


def test_entry_has_exactly_the_contract2_keys_plus_agent_detail() -> None:
    snap = fake_node(fake_l4(), fake_l4(in_use=True), driver="535.104.05", cuda="12.2")
    entry = build_inventory(
        snap,
        name="edge-01",
        host=HOST,
        cluster="edge-seoul",
        cached_components=["python/3.11.9", "cuda/12.2.2"],
        labels={"zone": "a"},
    )
    assert list(entry) == [*CONTRACT2_KEYS, "agent"]
    assert entry["driver_version"] == "535.104.05" and entry["cuda_driver_version"] == "12.2"
    assert "l4t_version" not in entry   # not a Jetson (no /etc/nv_tegra_release)
    assert entry["gpus"] == [{**L4, "count": 2, "free": 1}]
    assert entry["cached_components"] == ["cuda/12.2.2", "python/3.11.9"]
    agent = entry["agent"]
    assert agent["cuda_driver_version"] == "12.2" and agent["hostname"] == "edge-01.local"
    assert [d["uuid"] for d in agent["devices"]] == [g.uuid for g in snap.gpus]
    assert agent["devices"][0]["pci_bus_id"] == "00000000:18:00.0"
    json.dumps(entry)  # plain JSON


def test_cpu_only_entry_has_null_driver_and_no_gpus_and_omits_absent_cluster() -> None:
    entry = build_inventory(DeviceSnapshot(source="null"), name="cpu-1", host=HOST)
    assert entry["driver_version"] is None and entry["gpus"] == [] and "cluster" not in entry


def test_hash_ignores_memory_used_but_not_what_the_node_can_run() -> None:
    base = build_inventory(fake_node(fake_l4()), name="n", host=HOST)
    busy_memory = build_inventory(fake_node(replace(fake_l4(), memory_used_mib=9000)), name="n", host=HOST)
    busy_gpu = build_inventory(fake_node(fake_l4(in_use=True)), name="n", host=HOST)
    cached = build_inventory(fake_node(fake_l4()), name="n", host=HOST, cached_components=["cuda/12.4.1"])
    assert inventory_hash(base) == inventory_hash(busy_memory)
    assert len({inventory_hash(base), inventory_hash(busy_gpu), inventory_hash(cached)}) == 3
    assert len(inventory_hash(base)) == 64


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        ("x86_64", "x86_64"),
        ("AMD64", "x86_64"),
        ("aarch64", "aarch64"),
        ("arm64", "aarch64"),
        ("ppc64le", "ppc64le"),
    ],
)
def test_normalize_arch(machine: str, arch: str) -> None:
    assert normalize_arch(machine) == arch


def _stage(root: Path, kind: str, version: str, manifest: object | None = None) -> Path:
    folder = root / kind / version
    folder.mkdir(parents=True)
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        (folder / "manifest.json").write_text(text)
    return folder


def test_store_scan_lists_only_fully_staged_components(tmp_path: Path) -> None:
    _stage(tmp_path, "cuda", "12.2.2", {"kind": "cuda", "version": "12.2.2", "size_bytes": 1})
    _stage(tmp_path, "python", "3.11.9", {})
    _stage(tmp_path, "pytorch", "2.4.1+cu124", {"kind": "pytorch"})
    _stage(tmp_path, "cudnn", "9.1.0")  # half-staged: no manifest yet
    _stage(tmp_path, "cuda", ".12.4.1.staging", {})  # temporary staging folder
    _stage(tmp_path, ".tmp", "x", {})
    (tmp_path / "README").write_text("not a kind")
    scan = scan_store(tmp_path)
    assert scan.components == ("cuda/12.2.2", "python/3.11.9", "pytorch/2.4.1+cu124")
    assert scan.problems == ()


def test_store_scan_reports_broken_manifests_and_missing_store(tmp_path: Path) -> None:
    _stage(tmp_path, "cuda", "12.2.2", "{not json")
    _stage(tmp_path, "cuda", "12.4.1", {"kind": "cudnn", "version": "12.4.1"})
    _stage(tmp_path, "python", "3.12.4", [1, 2])
    scan = scan_store(tmp_path)
    assert scan.components == ()
    assert len(scan.problems) == 3
    assert "12.2.2/manifest.json" in scan.problems[0]
    assert "disagrees with its folder: kind='cudnn'" in scan.problems[1]
    assert "not a JSON object" in scan.problems[2]
    assert scan_store(tmp_path / "nope").problems == (f"runtime store {tmp_path / 'nope'} is not a folder",)
    assert scan_store(None).components == ()


@pytest.mark.parametrize(("first_line", "l4t"), [
    ("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025",
     "36.4.3"),
    ("# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023",
     "35.4.1"),
    ("# R38 (release), REVISION: 2.1", "38.2.1"),
    ("not a release line", None),
])
def test_l4t_version_is_read_from_nv_tegra_release(tmp_path: Path, first_line: str, l4t: str | None) -> None:
    f = tmp_path / "nv_tegra_release"
    f.write_text(first_line + "\n# KERNEL_VARIANT: oot\n", encoding="utf-8")
    assert read_l4t_version(str(f)) == l4t
    assert read_l4t_version(str(tmp_path / "absent")) is None


def test_a_jetson_entry_carries_its_driver_facts_and_the_solver_places_it() -> None:
    """A Jetson AGX Thor as the agent reports it (driver 580.00, CUDA 13.0, L4T 38.2.1): the entry
    carries cuda_driver_version and l4t_version, and the solver judges the driver by them (a Tegra
    driver number is not a desktop one: 580.00 is below CUDA 13.0's desktop minimum)."""
    import solver
    from catalog import load_catalog
    from node_agent.fake import fake_gpu

    thor = fake_gpu("NVIDIA Thor", memory_mib=125748, cc="11.0")
    jetson = HostFacts(hostname="thor", arch="aarch64", l4t_version="38.2.1")
    entry = build_inventory(fake_node(thor, driver="580.01", cuda="13.0"), name="thor", host=jetson)
    assert (entry["cuda_driver_version"], entry["l4t_version"]) == ("13.0", "38.2.1")
    cat = load_catalog()
    out = solver.select(cat, {"framework": "pytorch", "framework_version": "==2.15.0"}, {"nodes": [entry]})
    assert out.feasible and out.confidence == "verified", out.to_dict()
    entry.pop("cuda_driver_version")
    entry.pop("l4t_version")   # an agent of before: the unrecorded Tegra number alone is no CUDA 13 driver
    assert not solver.select(cat, {"framework": "pytorch", "framework_version": "==2.15.0"}, {"nodes": [entry]}).feasible
