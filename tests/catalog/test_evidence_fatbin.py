"""The device-code reader against real NVIDIA compiler output (see fixtures/devicecode/README.md)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from catalog.evidence import FatbinError, device_code, parse_fatbin, read_wheel
from catalog.evidence.fatbin import elf_sections

FIX = Path(__file__).parent / "fixtures" / "devicecode"
SO = FIX / "libsaxpy.so"
BUILT = {"sm_75", "sm_80", "sm_90a", "sm_100f", "sm_120", "compute_120"}


def _nvcc_bin() -> Path | None:
    """ptxas/fatbinary of the nvidia-cuda-nvcc wheel (a dev dependency on Linux x86_64), if installed."""
    try:
        import nvidia  # namespace package of NVIDIA's wheels
    except ImportError:
        return None
    for root in getattr(nvidia, "__path__", []):
        for sub in ("cu13/bin", "cuda_nvcc/bin"):
            b = Path(root) / sub
            if (b / "ptxas").exists() and (b / "fatbinary").exists():
                return b
    return None


def test_committed_library_lists_exactly_the_compiled_targets():
    with SO.open("rb") as f:
        entries = device_code(f)
    assert {e.name for e in entries} == BUILT
    ptx = [e for e in entries if e.kind == "ptx"]
    assert ptx and all(e.compression == "zstd" for e in ptx)  # nvcc's default: PTX compressed
    assert {e.cc for e in entries} == {"7.5", "8.0", "9.0", "10.0", "12.0"}
    assert {e.isa for e in ptx} == {"9.0"}  # nvcc 13.0 writes PTX ISA 9.0


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
def test_rebuilt_library_with_nvcc_matches(tmp_path):
    out = tmp_path / "lib.so"
    subprocess.run(["nvcc", "-shared", "-Xcompiler", "-fPIC", "-cudart", "shared", "-o", str(out), str(FIX / "saxpy.cu"),
                    "-gencode", "arch=compute_87,code=sm_87", "-gencode", "arch=compute_86,code=[sm_86,compute_86]",
                    "-gencode", "arch=compute_110,code=sm_110", "-Xfatbin", "-compress-all"],
                   check=True, capture_output=True, timeout=300)
    with out.open("rb") as f:
        entries = device_code(f)
    assert {e.name for e in entries} == {"sm_87", "sm_86", "compute_86", "sm_110"}
    assert all(e.compression != "none" for e in entries)  # -compress-all: read from the headers alone


@pytest.mark.skipif(_nvcc_bin() is None, reason="nvidia-cuda-nvcc wheel not installed")
@pytest.mark.parametrize("mode,expect", [("none", "none"), ("speed", "lz4"), ("size", "zstd")])
def test_fatbinary_from_nvidia_wheel(tmp_path, mode, expect):
    b = _nvcc_bin()
    assert b is not None
    images = []
    for arch in ("75", "80", "90a", "100f"):
        cubin = tmp_path / f"s{arch}.cubin"
        subprocess.run([str(b / "ptxas"), f"-arch=sm_{arch}", "-o", str(cubin), str(FIX / "saxpy_75.ptx")],
                       check=True, capture_output=True, timeout=120)
        images.append(f"--image3=kind=elf,sm={arch},file={cubin}")
    images.append(f"--image3=kind=ptx,sm=75,file={FIX / 'saxpy_75.ptx'}")
    fat = tmp_path / "x.fatbin"
    flags = ["--compress-all", f"--compress-mode={mode}"] if mode != "none" else ["--compress-mode=none"]
    subprocess.run([str(b / "fatbinary"), "-64", f"--create={fat}", *flags, *images],
                   check=True, capture_output=True, timeout=120)
    entries = parse_fatbin(fat.read_bytes())
    assert sorted(e.name for e in entries) == sorted(["sm_75", "sm_80", "sm_90a", "sm_100f", "compute_75"])
    assert {e.compression for e in entries} == {expect}
    if shutil.which("objcopy"):  # the same fatbin inside an ELF library's .nv_fatbin section
        lib = tmp_path / "lib.so"
        subprocess.run(["objcopy", "--remove-section", ".nv_fatbin", "--add-section", f".nv_fatbin={fat}",
                        str(SO), str(lib)], check=True, capture_output=True, timeout=60)
        with lib.open("rb") as f:
            assert sorted(e.name for e in device_code(f)) == sorted(e.name for e in entries)


def test_non_elf_and_library_without_gpu_code():
    assert device_code(io.BytesIO(b"not an elf file at all" * 10)) == []
    assert device_code(io.BytesIO(b"")) == []
    with SO.open("rb") as f:
        assert elf_sections(f, (".no_such_section",)) == {}


def test_truncated_fatbin_is_refused_with_offset():
    with SO.open("rb") as f:
        blob = elf_sections(f)[".nv_fatbin"]
    with pytest.raises(FatbinError, match="offset 0"):
        parse_fatbin(blob[:200], where="x")
    broken = bytearray(blob)
    broken[16 + 8:16 + 16] = (1 << 40).to_bytes(8, "little")  # first entry claims a huge payload
    with pytest.raises(FatbinError, match="runs past"):
        parse_fatbin(bytes(broken))


def _wheel(tmp_path: Path, metadata: str, tag: str = "cp312-cp312-manylinux_2_28_x86_64") -> Path:
    path = tmp_path / f"demo-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("demo-1.0.dist-info/METADATA", metadata)
        z.writestr("demo-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n")
        z.write(SO, "demo/lib/libsaxpy.so")
        z.writestr("demo/__init__.py", "")
    return path


def test_wheel_reader_pins_tags_and_device_code(tmp_path):
    meta = ("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >=3.10\n"
            "Requires-Dist: nvidia-cuda-runtime-cu12==12.4.127; platform_system == \"Linux\" and platform_machine == \"x86_64\"\n"
            "Requires-Dist: nvidia-cudnn-cu12==9.1.0.70; platform_system == \"Linux\"\n"
            "Requires-Dist: nvidia-nccl-cu12==2.20.5; platform_machine == \"aarch64\"\n"
            "Requires-Dist: nvidia-cublas-cu12==12.4.5.8; extra == \"and-cuda\"\n"
            "Requires-Dist: numpy>=1.26\n")
    ev = read_wheel(_wheel(tmp_path, meta))
    assert ev.project == "demo" and ev.platform == "x86_64" and ev.requires_python == ">=3.10"
    assert ev.components == {"cuda": "12.4", "cudnn": "9.1.0.70", "cublas": "12.4.5.8"}  # nccl is aarch64-only
    assert [p.extra for p in ev.pins if p.name.startswith("nvidia-cublas")] == ["and-cuda"]
    dc = ev.device_code
    assert dc["primary"] == "demo/lib/libsaxpy.so"
    # one kernel, compiled for every target: all of them are the arch list (sm_90a -> 9.0, sm_100f -> 10.0)
    assert dc["sass"] == ["7.5", "8.0", "9.0", "10.0", "12.0"] and dc["ptx"] == ["12.0"]
    assert dc["partial"] == []
    aarch = read_wheel(_wheel(tmp_path, meta, tag="cp312-cp312-manylinux_2_28_aarch64"))
    assert aarch.components == {"cudnn": "9.1.0.70", "nccl": "2.20.5", "cublas": "12.4.5.8"}


def test_arch_list_keeps_only_targets_most_kernels_carry():
    from catalog.evidence import summarise_device_code

    libs = {"big.so": {"targets": {"sm_75": 400, "sm_80": 400, "sm_90": 390, "sm_90a": 4, "sm_89": 1,
                                   "sm_100f": 300, "sm_103f": 20, "compute_90": 400}, "entries": 1915, "compressed": 0},
            "small.so": {"targets": {"sm_50": 3}, "entries": 3, "compressed": 0}}
    dc = summarise_device_code(libs)
    assert dc["primary"] == "big.so"
    assert dc["sass"] == ["7.5", "8.0", "9.0", "10.0"] and dc["ptx"] == ["9.0"]
    assert dc["partial"] == ["sm_103f", "sm_89"]  # sm_90a counts with sm_90: CC 9.0 is fully covered
    # TensorFlow 2.14's libtensorflow_cc.so.2: 245 kernels per SASS target, 606 PTX entries
    tf = summarise_device_code({"tf.so": {"targets": {"sm_35": 245, "sm_50": 245, "sm_80": 245, "compute_80": 606},
                                          "entries": 1341, "compressed": 0}})
    assert tf["sass"] == ["3.5", "5.0", "8.0"] and tf["ptx"] == ["8.0"] and tf["partial"] == []
    lone = summarise_device_code({"x.so": {"targets": {"sm_80": 400, "compute_90": 1}, "entries": 401,
                                           "compressed": 0}})
    assert lone["ptx"] == [] and lone["partial"] == ["compute_90"]


def test_not_a_wheel(tmp_path):
    from catalog.evidence import WheelError
    p = tmp_path / "x.whl"
    p.write_bytes(b"garbage")
    with pytest.raises(WheelError, match="not a wheel"):
        read_wheel(p)
