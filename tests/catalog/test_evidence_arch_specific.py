"""Arch-specific SASS (`sm_XYa`) runs on exactly one CC; the evidence summary and the kernel rule
say so (ONNX Runtime 1.27-1.31 ship their Hopper and Blackwell code only as sm_90a/sm_100a/sm_120a)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from catalog import load_catalog
from catalog.compat import binary_path, why
from catalog.evidence import summarise_device_code
from catalog.model import FrameworkBuild


def _lib(targets: dict[str, int]) -> dict:
    return {"lib.so": {"targets": targets, "entries": sum(targets.values()), "compressed": 0}}


def test_arch_specific_code_does_not_set_the_bar():
    # onnxruntime-gpu 1.30.0: twice as many sm_90a kernels as general ones; sm_75 is still a full target
    dc = summarise_device_code(_lib({"sm_75": 230, "sm_80": 278, "sm_86": 278, "sm_89": 278, "sm_90a": 569,
                                     "sm_120a": 287}))
    assert dc["sass"] == ["7.5", "8.0", "8.6", "8.9", "9.0", "12.0"]
    assert dc["arch_specific"] == ["9.0", "12.0"] and dc["partial"] == []
    # family code (sm_100f) is general: not arch-specific
    dc = summarise_device_code(_lib({"sm_80": 40, "sm_100f": 40, "sm_103a": 2}))
    assert dc["sass"] == ["8.0", "10.0"] and dc["arch_specific"] == [] and dc["partial"] == ["sm_103a"]


def test_exact_sass_runs_on_its_cc_only():
    b = FrameworkBuild(variant=None, platforms=("x86_64",), sass=(Version("8.0"),), sass_exact=(Version("12.0"),))
    assert binary_path(b, Version("12.0")) == "sass"
    assert binary_path(b, Version("12.1")) is None
    assert binary_path(b, Version("8.6")) == "sass"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def _kernels(cat, version: str, gpu: str, arch: str = "x86_64"):
    ref = next(r for r in cat.builds("onnxruntime") if str(r.version) == version and arch in r.build.platforms
               and r.build.gpu)  # the onnxruntime-gpu build, not the CPU package of the same version
    checks = why(cat, ref, cat.gpu(gpu), Version("580.65.06"), host_arch=arch)
    return next(c for c in checks if c.rule in ("kernels", "no-kernel-for-gpu"))


def test_onnxruntime_1_31_runs_on_cc_12_0_but_not_10_0(cat):
    assert _kernels(cat, "1.31.1", "NVIDIA GeForce RTX 5090").ok           # sm_120a: exactly 12.0
    assert _kernels(cat, "1.31.1", "Tesla T4").ok                            # sm_75: 217 of 308 kernels
    assert not _kernels(cat, "1.31.1", "NVIDIA B200").ok                     # no sm_100, no PTX
    assert _kernels(cat, "1.28.0", "NVIDIA B200").ok                         # sm_100a: exactly 10.0
    assert _kernels(cat, "1.31.1", "NVIDIA GB10", "aarch64").ok              # aarch64 wheel: sm_121a
