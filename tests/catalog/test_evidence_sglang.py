"""SGLang's GPU code is in the kernel wheel its release pins (`sglang-kernel`, `sgl-kernel` before
0.4), not in the sglang wheel. The evidence of both wheels is stored; the kernel wheel's evidence
maps to the sglang build that bundles that kernel version, and its arch list is that of the
library `sgl_kernel/__init__.py` loads (`common_ops`), not of the largest library (`flash_ops`,
FlashAttention 3, which only the FA3 backend imports).

Offline: the bundled catalog and the stored evidence files (read from PyPI with HTTP ranges).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from packaging.version import Version

from catalog import load_catalog
from catalog.compat import why
from catalog.evidence import EVIDENCE_DIR, check_evidence, find_build, load_evidence, summarise_device_code
from catalog.evidence.pins import components, nvidia_pins
from catalog.model import BuildRef


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def kernel_x86():
    return load_evidence(EVIDENCE_DIR / "sglang-kernel-0.4.10-x86_64.json")


def test_the_loaded_library_is_primary_not_the_largest(kernel_x86):
    libs = kernel_x86.device_code["libraries"]
    # flash_ops holds the most device code: by size alone the arch list would be 8.0, 8.6, 9.0 (no Blackwell)
    by_size = summarise_device_code(libs)
    assert by_size["primary"] == "sgl_kernel/flash_ops.abi3.so"
    assert by_size["sass"] == ["8.0", "8.6", "9.0"]
    loaded = summarise_device_code(libs, project="sglang-kernel")
    assert loaded["primary"] == "sgl_kernel/sm100/common_ops.abi3.so"
    assert loaded["sass"] == ["8.0", "8.9", "9.0", "10.0", "12.0"] and loaded["arch_specific"] == ["12.0"]
    # the stored file is re-derived on load with the same rule
    assert kernel_x86.device_code["primary"] == loaded["primary"]
    # the sm90 variant (loaded on CC 9.0 only) has the same targets in this release
    assert libs["sgl_kernel/sm90/common_ops.abi3.so"]["targets"] == libs["sgl_kernel/sm100/common_ops.abi3.so"]["targets"]


def test_sglang_pins_its_torch_and_kernel_wheel():
    pins = nvidia_pins(["torch==2.14.1", "sglang-kernel==0.4.10", "torchvision", "torchaudio==2.11.0",
                        "nvidia-cutlass-dsl[cu13]==4.8.0"], python="3.12", machine="x86_64")
    assert components(pins) == {"pytorch": "2.14.1", "sglang-kernel": "0.4.10"}


@pytest.mark.parametrize("platform", ["x86_64", "aarch64"])
def test_both_wheels_map_to_the_sglang_build_and_agree(cat, platform):
    for name in (f"sglang-0.5.23-{platform}.json", f"sglang-kernel-0.4.10-{platform}.json"):
        ev = load_evidence(EVIDENCE_DIR / name)
        ref = find_build(cat, ev)
        assert ref is not None and ref.release.id == "sglang.0.5.23" and platform in ref.build.platforms, name
        assert name in ref.build.evidence
        assert check_evidence(cat, ev) == [], name


def test_a_wrong_arch_list_or_kernel_pin_is_a_mismatch(cat, kernel_x86):
    ref = find_build(cat, kernel_x86)
    old = replace(ref.build, sass=tuple(Version(v) for v in ("8.0", "8.6", "8.9", "9.0", "10.0")), sass_exact=())
    fields = {m.field: m for m in check_evidence(cat, kernel_x86, BuildRef(ref.release, old, ref.version))}
    assert set(fields) == {"sass", "sass_exact"}
    assert fields["sass"].catalog == "[8.0, 8.6, 8.9, 9.0, 10.0]"
    # a kernel version no build bundles matches no build
    other = replace(kernel_x86, version="0.4.9")
    assert find_build(cat, other) is None
    assert [m.field for m in check_evidence(cat, other)] == ["build"]
    # the sglang wheel's pin is compared with bundled.sglang-kernel
    wheel = load_evidence(EVIDENCE_DIR / "sglang-0.5.23-x86_64.json")
    unpinned = replace(ref.build, bundled={k: v for k, v in ref.build.bundled.items() if k != "sglang-kernel"})
    assert [m.field for m in check_evidence(cat, wheel, BuildRef(ref.release, unpinned, ref.version))] \
        == ["bundled.sglang-kernel"]


@pytest.mark.parametrize("gpu,arch,runs", [
    ("NVIDIA A10", "x86_64", True),                  # sm_80 SASS, binary compatible with 8.6
    ("NVIDIA B200", "x86_64", True),                 # sm_100f
    ("NVIDIA GeForce RTX 5090", "x86_64", True),     # sm_120a: exactly 12.0
    ("Tesla T4", "x86_64", False),                   # nothing below 8.0
    ("NVIDIA GH200 480GB", "aarch64", True),         # sm_90
    ("NVIDIA GB10", "aarch64", True),                # sm_121a
])
def test_kernels_verdicts_follow_the_kernel_wheel(cat, gpu, arch, runs):
    ref = next(r for r in cat.builds("sglang") if str(r.version) == "0.5.23" and arch in r.build.platforms)
    checks = why(cat, ref, cat.gpu(gpu), Version("580.65.06"), host_arch=arch)
    kernels = next(c for c in checks if c.rule in ("kernels", "no-kernel-for-gpu"))
    assert kernels.ok is runs, kernels.message
