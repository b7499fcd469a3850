"""Pairwise compatibility rules over catalog facts: build x GPU, CUDA x driver, precision x GPU.

These are the domain rules in one place, each returning a `Check` that says which rule passed or
failed, in a sentence that names the components, the versions and the catalog records it rests
on. `rtfit catalog why` prints them; the solver precomputes its allowed-combination tables from
them, so the explanation of a refusal and the refusal itself can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from packaging.version import Version

from catalog.model import BuildRef, FrameworkBuild, GpuProduct
from catalog.versions import series, spec_allows
from catalog.view import Catalog

__all__ = [
    "Check",
    "KernelPath",
    "binary_path",
    "check_cudnn_driver",
    "check_cudnn_gpu",
    "check_driver",
    "check_kernels",
    "check_platform",
    "check_precision",
    "check_toolkit_arch",
    "driver_requirement",
    "why",
]

KernelPath = Literal["sass", "ptx", "range"]


@dataclass(frozen=True)
class Check:
    rule: str
    ok: bool
    message: str
    sources: tuple[str, ...] = ()
    suggestion: str | None = None


def _fmt_cc(ccs: tuple[Version, ...]) -> str:
    return ", ".join(str(c) for c in ccs) or "none"


def binary_path(build: FrameworkBuild, cc: Version) -> KernelPath | None:
    """How a build's GPU code reaches a GPU of compute capability `cc`.

    SASS for X.y runs on X.z with z >= y (same major); PTX for X.y is JIT-compiled for any CC
    >= X.y; a build that only states a `cc_range` (TensorRT, ONNX Runtime) counts as native
    when the CC is in range.
    """
    if any(s.major == cc.major and s <= cc for s in build.sass):
        return "sass"
    if any(p <= cc for p in build.ptx):
        return "ptx"
    if build.cc_range is not None and not build.sass and not build.ptx and spec_allows(build.cc_range, cc):
        return "range"
    return None


def check_kernels(cat: Catalog, ref: BuildRef, cc: Version) -> Check:
    b = ref.build
    path = binary_path(b, cc)
    if b.cc_range is not None and not spec_allows(b.cc_range, cc):
        return Check("no-kernel-for-gpu", False,
                     f"{ref.framework} {ref.label} supports compute capability {b.cc_range}, not {cc} "
                     f"(catalog: {ref.release.id}; {cat.cite(ref.sources)})", ref.sources,
                     f"use a GPU with compute capability {b.cc_range}, or another {ref.framework} version")
    if path is None:
        return Check("no-kernel-for-gpu", False,
                     f"{ref.framework} {ref.label} ships SASS for [{_fmt_cc(b.sass)}] and PTX for "
                     f"[{_fmt_cc(b.ptx)}]: nothing runs on compute capability {cc} "
                     f"(catalog: {ref.release.id}; {cat.cite(ref.sources)})", ref.sources)
    how = {"sass": "native SASS", "ptx": "PTX JIT-compiled by the driver", "range": "a supported CC range"}[path]
    return Check("kernels", True, f"{ref.framework} {ref.label} runs on CC {cc} through {how} "
                 f"(catalog: {ref.release.id})", ref.sources)


def check_toolkit_arch(cat: Catalog, cuda: Version, cc: Version) -> Check:
    arch = cat.architecture(cc)
    if arch is None:
        return Check("unknown-architecture", False, f"compute capability {cc} is not in the catalog", ())
    if arch.buildable_with(cuda):
        return Check("toolkit-arch", True, f"CUDA {cuda} can target {arch.name} {cc} ({arch.id})", arch.sources)
    if arch.removed_in is not None and cuda >= arch.removed_in:
        why = f"CUDA {arch.removed_in} removed {arch.name} (CC {cc})"
        hint = f"use a CUDA {arch.removed_in.major - 1}.x build"
    else:
        why = f"{arch.name} (CC {cc}) needs CUDA >= {arch.first_cuda}"
        hint = f"use a build with CUDA >= {arch.first_cuda}"
    return Check("toolkit-drops-arch", False, f"CUDA {cuda} cannot run on this GPU: {why} "
                 f"(catalog: {arch.id}; {cat.cite(arch.sources)})", arch.sources, hint)


def driver_requirement(cat: Catalog, cuda: Version, path: KernelPath) -> tuple[Version, str, tuple[str, ...]] | None:
    """(minimum driver, how, sources) for CUDA `cuda` reached through `path`; None if CUDA unknown."""
    key = ("driver_requirement", cuda, path)
    if key not in cat.memo:
        cat.memo[key] = _driver_requirement(cat, cuda, path)
    return cat.memo[key]


def _driver_requirement(cat: Catalog, cuda: Version, path: KernelPath) -> tuple[Version, str, tuple[str, ...]] | None:
    native = cat.native_min_driver(cuda)
    if native is None:
        return None
    min_native, toolkit = native
    floor = cat.mvc_floor(cuda.major)
    if path != "ptx" and floor is not None and floor.min_driver < min_native:
        return floor.min_driver, f"minor-version compatibility floor for CUDA {cuda.major}.x ({floor.id})", floor.sources
    return min_native, f"native minimum of CUDA {toolkit.label} ({toolkit.id})", toolkit.sources


def check_driver(cat: Catalog, cuda: Version, driver: Version | None, path: KernelPath, *, node: str = "") -> Check:
    on = f" on {node}" if node else ""
    if driver is None:
        return Check("no-driver", False, f"no NVIDIA driver{on}; CUDA {cuda} needs one", (),
                     f"install an NVIDIA driver{on}")
    req = driver_requirement(cat, cuda, path)
    if req is None:
        return Check("unknown-cuda", False, f"CUDA {cuda} is not in the catalog", ())
    need, how, sources = req
    if driver >= need:
        return Check("driver", True, f"driver {driver}{on} >= {need}, the {how}", sources)
    extra = " (PTX is JIT-compiled, so minor-version compatibility does not apply)" if path == "ptx" else ""
    return Check("driver-too-old", False,
                 f"driver {driver}{on} is older than {need}, the {how}, needed for CUDA {cuda}{extra} "
                 f"({cat.cite(sources)})", sources, f"upgrade the driver{on} to >= {need}")


def check_precision(cat: Catalog, precision: str | None, cc: Version) -> Check:
    if precision is None or precision == "fp32":
        return Check("precision", True, "fp32 runs on every GPU", ())
    fmt = cat.numeric_format(precision)
    if fmt is None:
        return Check("unknown-precision", False, f"precision {precision} is not in the catalog", ())
    if fmt.allows(cc):
        return Check("precision", True, f"{precision} is supported on CC {cc} ({fmt.id})", fmt.sources)
    need = f"one of CC {_fmt_cc(fmt.cc_allowed)}" if fmt.cc_allowed else f"CC >= {fmt.min_cc}"
    return Check("precision-unsupported", False, f"{precision} needs {need}; this GPU is CC {cc} "
                 f"(catalog: {fmt.id}; {cat.cite(fmt.sources)})", fmt.sources, f"use a GPU with {need} for {precision}")


def check_platform(ref: BuildRef, platform: str) -> Check:
    if platform in ref.build.platforms:
        return Check("platform", True, f"{ref.framework} {ref.label} has a {platform} build", ref.sources)
    return Check("platform-mismatch", False, f"{ref.framework} {ref.label} is built for "
                 f"{', '.join(ref.build.platforms)}, not {platform} (catalog: {ref.release.id})", ref.sources)


def gpu_platform(gpu: GpuProduct, host_arch: str | None = None) -> str:
    """The build platform a GPU needs: Jetson boards need Jetson builds; otherwise the host CPU arch."""
    if gpu.platform is not None:
        return gpu.platform
    return host_arch or "x86_64"


def why(cat: Catalog, ref: BuildRef, gpu: GpuProduct, driver: Version | None = None,
        cuda: Version | None = None) -> list[Check]:
    """Every rule that decides whether build `ref` runs on `gpu` (and `driver`, when given)."""
    checks = [check_platform(ref, gpu_platform(gpu)), check_kernels(cat, ref, gpu.cc)]
    cuda = cuda or ref.build.cuda
    if cuda is None and "cuda" in ref.build.needs:
        fits = [t.version for t in cat.cuda_toolkits if spec_allows(ref.build.needs["cuda"], t.version)]
        cuda = Version(".".join(map(str, series(max(fits))))) if fits else None
    if cuda is not None and ref.build.gpu:
        checks.append(check_toolkit_arch(cat, cuda, gpu.cc))
        cudnn = ref.build.bundled.get("cudnn")
        if cudnn is not None and cat.cudnn_release(cudnn) is not None:
            checks.append(check_cudnn_gpu(cat, cudnn, cuda, gpu.cc, by=ref.label))
        if driver is not None:
            path = binary_path(ref.build, gpu.cc) or "ptx"
            checks.append(check_driver(cat, cuda, driver, path))
    return checks


def check_cudnn_gpu(cat: Catalog, cudnn: Version, cuda: Version, cc: Version, *, by: str = "") -> Check:
    """cuDNN `cudnn` for CUDA `cuda` must list the GPU's CC where its build gives a `cc` list."""
    rec = cat.cudnn_release(cudnn)
    if rec is None:
        return Check("cudnn", True, f"cuDNN {cudnn} has no catalog record; no CC list to check", ())
    ccs = [b.cc for b in rec.builds if spec_allows(b.cuda, cuda) and b.cc is not None]
    if not ccs or any(cc in c for c in ccs):
        return Check("cudnn", True, f"cuDNN {cudnn} for CUDA {cuda} supports CC {cc} ({rec.id})", rec.sources)
    listed = sorted({c for group in ccs for c in group})
    via = f" (bundled by {by})" if by else ""
    return Check("cudnn-no-gpu-support", False, f"cuDNN {cudnn}{via} for CUDA {cuda} supports CC "
                 f"[{_fmt_cc(tuple(listed))}], not {cc} (catalog: {rec.id}; {cat.cite(rec.sources)})", rec.sources,
                 "use another cuDNN/CUDA combination or a GPU it supports")


def check_cudnn_driver(cat: Catalog, cudnn: Version, cuda: Version, driver: Version | None) -> Check:
    """cuDNN builds that state a `min_driver` need at least that driver."""
    rec = cat.cudnn_release(cudnn)
    needs = [b.min_driver for b in rec.builds if spec_allows(b.cuda, cuda)] if rec is not None else []
    if rec is None or not needs or any(n is None for n in needs):
        return Check("cudnn-driver", True, f"cuDNN {cudnn} states no driver minimum for CUDA {cuda}", ())
    need = min(n for n in needs if n is not None)
    if driver is not None and driver >= need:
        return Check("cudnn-driver", True, f"driver {driver} >= {need} for cuDNN {cudnn} ({rec.id})", rec.sources)
    return Check("driver-too-old", False, f"driver {driver or 'none'} is older than {need}, the minimum of "
                 f"cuDNN {cudnn} for CUDA {cuda} (catalog: {rec.id}; {cat.cite(rec.sources)})", rec.sources,
                 f"upgrade the driver to >= {need}")
