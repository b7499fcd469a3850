"""Typed, immutable catalog records.

One frozen dataclass per record kind of docs/catalog-format.md. Records carry where they came
from (`file`, `sources`, `confidence`) so every rule built on them can cite its evidence. No
parsing happens here (see `loader`), and nothing here knows about the solver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from packaging.specifiers import SpecifierSet
from packaging.version import Version

__all__ = [
    "Architecture",
    "BuildRef",
    "CudaToolkit",
    "CudnnBuild",
    "CudnnRelease",
    "Discrepancy",
    "DriverBranch",
    "Fact",
    "FrameworkBuild",
    "FrameworkRelease",
    "ENGINES",
    "FRAMEWORKS",
    "GpuProduct",
    "JetsonStack",
    "MvcFloor",
    "CudaImage",
    "NgcContainer",
    "NumericFormat",
    "NvidiaWheel",
    "PipChannel",
    "PLATFORMS",
    "PRECISIONS",
    "PythonSeries",
    "Record",
    "INTERCONNECTS",
    "SEGMENTS",
    "Source",
]

# Serving engines (vllm, sglang) pin an exact PyTorch build: `bundled: {pytorch: "2.14.0"}`.
FRAMEWORKS = ("pytorch", "tensorflow", "onnxruntime", "tensorrt", "jax", "vllm", "sglang", "tensorrt-llm")
ENGINES = ("vllm", "sglang", "tensorrt-llm")
PLATFORMS = ("x86_64", "aarch64", "jetson")
SEGMENTS = ("datacenter", "workstation", "consumer", "jetson")
INTERCONNECTS = ("nvlink",)     # GPU-to-GPU within a node, where a source records it
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4")
_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Source:
    id: str
    doc: str
    url: str
    quality: str
    file: str = ""

    def cite(self) -> str:
        return f"{self.doc} <{self.url}>"


@dataclass(frozen=True, kw_only=True)
class Record:
    """Fields every record has."""

    id: str
    sources: tuple[str, ...]
    file: str = ""
    confidence: str | None = None
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class DriverBranch(Record):
    branch: int
    max_cuda: Version
    lts: bool = False
    eol: str | None = None


@dataclass(frozen=True, kw_only=True)
class CudaToolkit(Record):
    version: Version
    label: str
    min_driver: Version
    min_driver_windows: str | None = None
    size_bytes: int | None = None
    size_sources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class MvcFloor(Record):
    cuda_major: int
    min_driver: Version


@dataclass(frozen=True, kw_only=True)
class Architecture(Record):
    cc: Version
    name: str
    first_cuda: Version | None = None
    deprecated_in: Version | None = None
    removed_in: Version | None = None
    last_driver_branch: int | None = None

    def buildable_with(self, cuda: Version) -> bool:
        """Can a toolkit of version `cuda` (or its series) build SASS/PTX for this CC?"""
        if self.first_cuda is not None and cuda < self.first_cuda:
            return False
        return not (self.removed_in is not None and cuda >= self.removed_in)


@dataclass(frozen=True, kw_only=True)
class GpuProduct(Record):
    name: str
    cc: Version
    architecture: str
    segment: str
    aliases: tuple[str, ...] = ()
    memory_mib: int | None = None
    platform: str | None = None
    interconnect: str | None = None     # between the GPUs of one node: "nvlink" (SXM baseboards); None: not recorded


@dataclass(frozen=True)
class CudnnBuild:
    cuda: SpecifierSet
    min_driver: Version | None = None
    cc: tuple[Version, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class CudnnRelease(Record):
    version: Version
    builds: tuple[CudnnBuild, ...]
    size_bytes: int | None = None
    size_sources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PythonSeries(Record):
    version: Version


@dataclass(frozen=True, kw_only=True)
class FrameworkBuild:
    variant: str | None
    platforms: tuple[str, ...]
    bundled: Mapping[str, Version] = field(default_factory=lambda: _EMPTY)
    needs: Mapping[str, SpecifierSet] = field(default_factory=lambda: _EMPTY)
    sass: tuple[Version, ...] = ()
    ptx: tuple[Version, ...] = ()
    sass_exact: tuple[Version, ...] = ()  # arch-specific SASS (sm_XYa): runs on exactly that CC, not later ones
    cc_range: SpecifierSet | None = None
    gpu: bool = True
    size_bytes: int | None = None
    size_sources: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    confidence: str | None = None
    toolkit: Version | None = None  # the CUDA toolkit that compiled it, when it differs from `bundled.cuda`

    @property
    def cuda(self) -> Version | None:
        """The CUDA series this build ships (bundled), if it ships one."""
        return self.bundled.get("cuda")


@dataclass(frozen=True, kw_only=True)
class FrameworkRelease(Record):
    framework: str
    series: str
    versions: tuple[Version, ...]
    python: SpecifierSet | None
    builds: tuple[FrameworkBuild, ...]
    max_opset: int | None = None


@dataclass(frozen=True)
class BuildRef:
    """One installable framework build: a release's version combined with one of its builds."""

    release: FrameworkRelease
    build: FrameworkBuild
    version: Version

    @property
    def framework(self) -> str:
        return self.release.framework

    @property
    def label(self) -> str:
        """The version string users install: "2.4.1+cu121" (no label when the build has none)."""
        if self.build.variant and self.version.local is None:
            return f"{self.version}+{self.build.variant}"
        return str(self.version)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.build.sources + self.release.sources))


@dataclass(frozen=True, kw_only=True)
class NumericFormat(Record):
    precision: str
    min_cc: Version | None = None
    cc_allowed: tuple[Version, ...] | None = None

    def allows(self, cc: Version) -> bool:
        if self.cc_allowed is not None and cc not in self.cc_allowed:
            return False
        return self.min_cc is None or cc >= self.min_cc


@dataclass(frozen=True, kw_only=True)
class JetsonStack(Record):
    jetpack: str
    l4t: str | None = None
    cuda: Version | None = None
    cudnn: Version | None = None
    tensorrt: Version | None = None
    gpus: tuple[str, ...] = ()
    driver: Version | None = None    # the (Tegra) driver number this JetPack's nvidia-smi reports, where observed


@dataclass(frozen=True, kw_only=True)
class Fact(Record):
    topic: str
    text: str


@dataclass(frozen=True, kw_only=True)
class Discrepancy(Record):
    text: str
    chosen: str | None = None
    records: tuple[str, ...] = ()


# -- how builds are installed (docs/catalog-format.md, "Install channels") -------------------

PIN_RULES = ("exact", "series", "major", "none")


@dataclass(frozen=True, kw_only=True)
class PipChannel(Record):
    """How one framework family's builds are installed with pip; the first matching row wins.

    `package` and `index_url` are templates: `{variant}` is the build's variant ("cu126"),
    `{cuda_major}` the major of the runtime's CUDA. `variant` is a regular expression the
    build's variant must match in full ("none" = a build without a variant; absent = any).
    """

    framework: str
    package: str
    gpu: bool | None = None
    variant: str | None = None
    versions: SpecifierSet | None = None
    extras: tuple[str, ...] = ()
    index_url: str | None = None
    index_role: str = "index"               # index (replaces PyPI) | extra (added to PyPI)
    pin_label: bool = False                 # pin "torch==2.6.0+cu126" rather than "torch==2.6.0"
    nvidia_wheels: tuple[str, ...] = ()     # components whose NVIDIA wheels the recipe adds
    companions: tuple[str, ...] = ()        # package templates pinned to the same version (tensorrt-{variant}-libs)
    conda_package: str | None = None
    conda_build: str | None = None          # conda build-string glob, e.g. "cuda*"

    def matches(self, *, framework: str, variant: str | None, gpu: bool, version: Version) -> bool:
        if framework != self.framework or (self.gpu is not None and self.gpu != gpu):
            return False
        if self.variant is not None:
            if self.variant == "none":
                if variant is not None:
                    return False
            elif variant is None or re.fullmatch(self.variant, variant) is None:
                return False
        return self.versions is None or self.versions.contains(version, prereleases=True)


@dataclass(frozen=True, kw_only=True)
class NvidiaWheel(Record):
    """The NVIDIA pip wheel that carries one CUDA library for one CUDA major (nvidia-cudnn-cu12)."""

    component: str              # cudnn | cuda-runtime | cublas | cufft | curand | cuda-nvrtc
    cuda_major: int
    package: str
    pin_from: str = "cuda"      # which runtime value the pin is derived from: cuda | cudnn
    pin: str = "series"         # exact | series (==12.6.*) | major (==12.*) | none
    versions: SpecifierSet | None = None   # the pin when no runtime value sets it (pin: none), e.g. ~=11.0


@dataclass(frozen=True, kw_only=True)
class CudaImage(Record):
    """One nvidia/cuda image tag NVIDIA publishes (container-images/cuda: dist/<cuda>/<os>/<flavor>/Dockerfile)."""

    cuda: Version               # full toolkit version of the tag, e.g. 12.6.3
    os: str                     # "ubuntu24.04"
    flavor: str = "base"        # base | runtime | devel
    image: str                  # "nvidia/cuda:12.6.3-base-ubuntu24.04"


@dataclass(frozen=True, kw_only=True)
class NgcContainer(Record):
    """One NGC framework container release and what it ships (NGC framework support matrix)."""

    framework: str
    release: str                # "24.10"
    kind: str = "framework"     # framework (the framework's own container) | server (e.g. Triton)
    image: str                  # "nvcr.io/nvidia/pytorch:24.10-py3"
    framework_version: str      # as shipped, e.g. "2.5.0a0+e000cf0ad9"
    cuda: Version
    cudnn: Version | None = None
    tensorrt: Version | None = None
    python: Version | None = None
    ubuntu: str | None = None
    min_driver: Version | None = None
