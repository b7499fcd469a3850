"""Real facts pinned to their records in the bundled catalog (and the catalog validates)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from catalog import load_catalog
from catalog.compat import binary_path, check_toolkit_arch, driver_requirement, why


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_bundled_catalog_is_valid_and_covers_the_families(cat):
    counts = cat.counts()
    assert counts["gpus"] >= 25
    assert counts["driver_branches"] >= 20
    for family in ("cuda_toolkits", "mvc_floors", "architectures", "cudnn", "python", "framework_releases",
                   "numeric_formats", "jetson_stacks", "facts", "discrepancies"):
        assert counts[family] > 0, family
    for rec in cat.records():
        assert rec.sources and all(s in cat.sources for s in rec.sources), rec.id


def test_r535_supports_cuda_12_2_natively(cat):
    max_cuda, branch = cat.driver_max_cuda(Version("535.104.05"))
    assert (max_cuda, branch.id) == (Version("12.2"), "branch.r535")


def test_every_toolkit_11_0_to_13_2_has_a_native_minimum(cat):
    series = {(t.version.major, t.version.minor) for t in cat.cuda_toolkits}
    expected = {(11, m) for m in range(0, 9)} | {(12, m) for m in range(0, 10) if m != 7} | {(13, m) for m in range(0, 3)}
    assert expected <= series
    assert str(cat.native_min_driver(Version("12.4"))[0]) == "550.54.14"
    assert str(cat.native_min_driver(Version("11.8"))[0]) == "520.61.05"   # not the third-party 520.56.06


def test_minor_version_compatibility_floors(cat):
    assert {f.cuda_major: str(f.min_driver) for f in cat.mvc_floors} == {
        11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
    need, how, _ = driver_requirement(cat, Version("12.4"), "sass")
    assert str(need) == "525.60.13" and "minor-version" in how
    need, how, _ = driver_requirement(cat, Version("12.4"), "ptx")   # PTX JIT needs the native driver
    assert str(need) == "550.54.14"


def test_cuda_13_3_to_13_5_minimums_and_their_driver_branches(cat):
    # 13.3 GA / Update 1 bundle 610.43.02 (NVIDIA runfile names); 13.5 is keyed by 620.70.06, the
    # R620 driver whose forward-compatibility package is the CUDA 13.5 one (NVIDIA redist manifest)
    need, toolkit = cat.native_min_driver(Version("13.3"))
    assert (str(need), toolkit.id) == ("610.43.02", "cuda.13.3.0")
    assert str(cat.native_min_driver(Version("13.3.1"))[0]) == "610.43.02"
    need, toolkit = cat.native_min_driver(Version("13.5"))
    assert (str(need), toolkit.id) == ("620.70.06", "cuda.13.5.0")
    assert "nv_driver_redist_620_70_06" in toolkit.sources
    max_cuda, branch = cat.driver_max_cuda(Version("620.70.06"))
    assert (str(max_cuda), branch.id, branch.lts, branch.eol) == ("13.5", "branch.r620", True, "2029-09")
    assert str(cat.driver_max_cuda(Version("615.71.09"))[0]) == "13.4"   # nvidia-smi banners
    # PTX built by CUDA 13.5 needs the 13.5 driver; SASS runs on R580+ through minor-version compatibility
    need, how, _ = driver_requirement(cat, Version("13.5"), "ptx")
    assert str(need) == "620.70.06" and "13.5 GA" in how
    need, how, _ = driver_requirement(cat, Version("13.5"), "sass")
    assert str(need) == "580.65.06" and "minor-version" in how


def test_cuda_12_8_is_the_first_with_sm_120(cat):
    arch = cat.architecture(Version("12.0"))
    assert arch.id == "arch.sm_120" and arch.first_cuda == Version("12.8")
    assert not check_toolkit_arch(cat, Version("12.6"), Version("12.0")).ok
    assert check_toolkit_arch(cat, Version("12.8"), Version("12.0")).ok


def test_cuda_12_drops_kepler_and_13_drops_maxwell_pascal_volta(cat):
    assert cat.architecture(Version("3.7")).removed_in == Version("12.0")
    for cc in ("5.0", "5.2", "6.0", "6.1", "7.0", "7.2"):
        assert cat.architecture(Version(cc)).removed_in == Version("13.0"), cc
    assert cat.architecture(Version("7.5")).removed_in is None


def test_pytorch_2_7_is_the_first_blackwell_capable_release(cat):
    rtx5090 = cat.gpu("NVIDIA GeForce RTX 5090")
    assert rtx5090.cc == Version("12.0")
    capable = sorted({Version(r.release.series) for r in cat.builds("pytorch")
                      if r.build.gpu and all(c.ok for c in why(cat, r, rtx5090))})
    assert capable[0] == Version("2.7")
    ref = cat.find_build("pytorch", "2.7.0+cu128")
    assert binary_path(ref.build, Version("12.0")) == "sass"


def test_torch_2_6_cu124_refused_on_rtx_5090_with_source(cat):
    checks = why(cat, cat.find_build("pytorch", "2.6.0+cu124"), cat.gpu("NVIDIA GeForce RTX 5090"))
    failed = [c for c in checks if not c.ok]
    assert failed and failed[0].rule == "toolkit-drops-arch"
    assert "12.8" in failed[0].message and "arch.sm_120" in failed[0].message


def test_gpu_names_are_nvml_names_with_aliases(cat):
    assert cat.gpu("Tesla T4").cc == Version("7.5")
    assert cat.gpu("NVIDIA H100 80GB HBM3").cc == Version("9.0")
    assert cat.gpu("NVIDIA A100-SXM4-80GB").memory_mib >= 80 * 1000
    segments = {g.segment for g in cat.gpus}
    assert {"datacenter", "workstation", "consumer", "jetson"} <= segments


def test_numeric_formats(cat):
    assert cat.numeric_format("bf16").min_cc == Version("8.0")
    assert cat.numeric_format("fp8").min_cc == Version("8.9")
    assert not cat.numeric_format("bf16").allows(cat.gpu("Tesla T4").cc)
    fp4 = cat.numeric_format("fp4")
    assert fp4.allows(Version("10.0")) and not fp4.allows(Version("9.0"))


def test_onnxruntime_1_28_arch_specific_sass_reaches_its_cc_only(cat):
    # read from the 1.28.0 wheel: SASS sm_75 (187 of 235 kernels: a build target by the evidence rule),
    # sm_80/86/89, arch-specific sm_90a/sm_100a/sm_120a (exactly 9.0/10.0/12.0), PTX compute_120
    build = next(r.build for r in cat.builds("onnxruntime") if r.release.id == "onnxruntime.1.28")
    paths = {cc: binary_path(build, Version(cc)) for cc in ("7.5", "8.6", "9.0", "10.0", "10.3", "12.0", "12.1")}
    assert paths == {"7.5": "sass", "8.6": "sass", "9.0": "sass", "10.0": "sass", "10.3": None,
                     "12.0": "sass", "12.1": "ptx"}


def test_cudnn_9_24_gpu_support_read_from_its_wheels(cat):
    # every libcudnn_*.so.9 of nvidia-cudnn-cu13 9.24.0.43 carries sm_75/80/86/90a/100f/120f code; sm_70 only
    # in engines_precompiled: Volta is refused, Turing..Blackwell (incl. B300 10.3, GB10 12.1) verified
    from catalog.compat import check_cudnn_gpu
    ok = {cc: check_cudnn_gpu(cat, Version("9.24.0.43"), Version("13.0"), Version(cc)) for cc in
          ("7.0", "7.5", "8.9", "10.3", "12.1")}
    assert {cc: c.ok for cc, c in ok.items()} == {"7.0": False, "7.5": True, "8.9": True, "10.3": True, "12.1": True}
    assert "unverified" not in ok["8.9"].message and ok["7.0"].rule == "cudnn-no-gpu-support"


def test_cuda_13_3_minimum_rests_on_its_table_3_row(cat):
    # Table 3 of the 13.3 Update 1 release notes (quoted): 13.3 GA and Update 1 >= 610.43.02
    for tid in ("cuda.13.3.0", "cuda.13.3.1"):
        t = cat.record(tid)
        assert str(t.min_driver) == "610.43.02" and t.confidence == "high", tid
        assert {"cuda_rn_13_3_table3_quoted", "meson_cuda_driver_table"} <= set(t.sources), tid
    # 13.4 and 13.5 have no Table 3 row behind them: they must not claim more than they have
    assert {t: cat.record(t).confidence for t in ("cuda.13.4.0", "cuda.13.4.1", "cuda.13.5.0")} == {
        "cuda.13.4.0": "medium", "cuda.13.4.1": "medium", "cuda.13.5.0": "medium"}


def test_cuda_13_4_and_update_1_need_a_driver_seen_running_13_4(cat):
    # 615.71.09's nvidia-smi reports CUDA 13.4: an upper bound for the minimum, never the bare branch
    # floor 615.0, which would accept R615 drivers nobody has seen run 13.4
    need, toolkit = cat.native_min_driver(Version("13.4"))
    assert (str(need), toolkit.id) == ("615.71.09", "cuda.13.4.0")
    need, toolkit = cat.native_min_driver(Version("13.4.1"))
    assert (str(need), toolkit.id, toolkit.label) == ("615.71.09", "cuda.13.4.1", "13.4 Update 1")
    need, how, _ = driver_requirement(cat, Version("13.4"), "ptx")
    assert str(need) == "615.71.09" and "13.4 GA" in how
    assert "nvsmi_obs_615" in toolkit.sources


def test_jetpack_component_versions(cat):
    stacks = {j.id: j for j in cat.jetson_stacks}
    jp60 = stacks["jet.jp6.0"]
    assert (str(jp60.cuda), str(jp60.cudnn), str(jp60.tensorrt)) == ("12.2", "8.9.4", "8.6.2")
    assert "jp60_device_obs" in jp60.sources
    # JetPack 7.x cuDNN/TensorRT: no JetPack component table found, so unknown stays unknown
    for jid in ("jet.jp7.0", "jet.jp7.1", "jet.jp7.2"):
        assert stacks[jid].cudnn is None and stacks[jid].tensorrt is None, jid
    assert "gpu.jetson_t4000" in stacks["jet.jp7.1"].gpus


def test_torch_2_15_download_variants_are_not_guessed_from_the_nightly_matrix(cat):
    # Only the PyPI default wheels were read; the 2.15 nightly build matrix is recorded as a lead
    # (cited), not turned into +cuXYZ builds without an arch list or cuDNN pin behind them.
    rel = cat.record("pytorch.2.15")
    assert "pt_test_infra_matrix_2026_08" in cat.record("pt.fact.215_variants").sources
    assert "pt_test_infra_matrix_2026_08" not in rel.sources   # a lead must not be cited in verdicts
    assert {b.variant for b in rel.builds} == {None}
    assert {str(b.cuda) for b in rel.builds} == {"13.2"}
