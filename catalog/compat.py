"""Pairwise compatibility rules over catalog facts: build x GPU, CUDA x driver, precision x GPU.

These are the domain rules in one place, each returning a `Check` that says which rule passed or
failed, in a sentence that names the components, the versions and the catalog records it rests
on. `rtfit catalog why` prints them; the solver precomputes its allowed-combination tables from
them, so the explanation of a refusal and the refusal itself can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from packaging.version import Version

from catalog.model import BuildRef, FrameworkBuild, GpuProduct
from catalog.versions import DriverVersion, TegraDriver, is_prefix, series, spec_allows
from catalog.view import Catalog

__all__ = [
    "Check",
    "KernelPath",
    "binary_path",
    "build_toolkit",
    "candidate_gaps",
    "check_driver_window",
    "check_ptx_verified",
    "ptx_toolkit_gap",
    "runs_ptx",
    "check_needs_components",
    "runtime_options",
    "why_best",
    "why_best_option",
    "why_gaps",
    "current_driver",
    "unselectable_builds",
    "cudnn_supports",
    "driver_cuda",
    "check_cudnn_driver",
    "check_cudnn_gpu",
    "check_driver",
    "check_kernels",
    "check_platform",
    "check_precision",
    "check_toolkit_arch",
    "driver_requirement",
    "gpu_host_arch",
    "gpu_platform",
    "is_tegra",
    "rules_driver",
    "tegra_cuda",
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
    # What a program acts on (a refusal's structured fields; empty when the check passed):
    # the component judged, what the rule needs, what this case has, the catalog records used.
    component: str = ""
    need: str = ""
    have: str = ""
    records: tuple[str, ...] = ()


def _fmt_cc(ccs: tuple[Version, ...]) -> str:
    return ", ".join(str(c) for c in ccs) or "none"


def binary_path(build: FrameworkBuild, cc: Version) -> KernelPath | None:
    """How a build's GPU code reaches a GPU of compute capability `cc`.

    SASS for X.y runs on X.z with z >= y (same major); arch-specific SASS (`sass_exact`, built
    as sm_XYa) runs on X.y alone; PTX for X.y is JIT-compiled for any CC >= X.y; a build that
    only states a `cc_range` (TensorRT, ONNX Runtime) counts as native when the CC is in range.
    """
    if any(s.major == cc.major and s <= cc for s in build.sass) or cc in build.sass_exact:
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
                     f"use a GPU with compute capability {b.cc_range}, or another {ref.framework} version",
                     component=ref.framework, need=f"compute capability {b.cc_range}", have=f"compute capability {cc}",
                     records=(ref.release.id,))
    if path is None:
        return Check("no-kernel-for-gpu", False,
                     f"{ref.framework} {ref.label} ships SASS for [{_fmt_cc(b.sass)}]"
                     + (f", arch-specific SASS for exactly [{_fmt_cc(b.sass_exact)}]" if b.sass_exact else "")
                     + " and PTX for "
                     f"[{_fmt_cc(b.ptx)}]: nothing runs on compute capability {cc} "
                     f"(catalog: {ref.release.id}; {cat.cite(ref.sources)})", ref.sources,
                     component=ref.framework, need=f"SASS {cc.major}.x <= {cc} or PTX <= {cc}",
                     have=f"SASS [{_fmt_cc(b.sass)}], PTX [{_fmt_cc(b.ptx)}]", records=(ref.release.id,))
    how = {"sass": "native SASS", "ptx": "PTX JIT-compiled by the driver", "range": "a supported CC range"}[path]
    return Check("kernels", True, f"{ref.framework} {ref.label} runs on CC {cc} through {how} "
                 f"(catalog: {ref.release.id})", ref.sources, records=(ref.release.id,))


def check_toolkit_arch(cat: Catalog, cuda: Version, cc: Version) -> Check:
    arch = cat.architecture(cc)
    if arch is None:
        return Check("unknown-architecture", False, f"compute capability {cc} is not in the catalog", (),
                     component="gpu", need="a catalog architecture", have=f"compute capability {cc}")
    if arch.buildable_with(cuda):
        return Check("toolkit-arch", True, f"CUDA {cuda} can target {arch.name} {cc} ({arch.id})", arch.sources,
                     records=(arch.id,))
    if arch.removed_in is not None and cuda >= arch.removed_in:
        why = f"CUDA {arch.removed_in} removed {arch.name} (CC {cc})"
        hint = f"use a CUDA {arch.removed_in.major - 1}.x build"
        need = f"CUDA < {arch.removed_in}"
    else:
        why = f"{arch.name} (CC {cc}) needs CUDA >= {arch.first_cuda}"
        hint = f"use a build with CUDA >= {arch.first_cuda}"
        need = f"CUDA >= {arch.first_cuda}"
    return Check("toolkit-drops-arch", False, f"CUDA {cuda} cannot run on this GPU: {why} "
                 f"(catalog: {arch.id}; {cat.cite(arch.sources)})", arch.sources, hint,
                 component="cuda", need=need, have=f"CUDA {cuda}", records=(arch.id,))


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


def is_tegra(gpu: GpuProduct | None) -> bool:
    """A Jetson (Tegra, integrated) GPU: its driver comes with JetPack/L4T and is numbered apart."""
    return gpu is not None and gpu.segment == "jetson"


def tegra_cuda(cat: Catalog, *, cuda_driver: Version | None = None, l4t: str | None = None,
               driver: Version | None = None) -> tuple[Version, str] | None:
    """(CUDA version, where it came from) of a Jetson node's driver; None when unknown.

    In this order: the CUDA version the driver reports (`cuda_driver_version`: NVML
    nvmlSystemGetCudaDriverVersion, nvidia-smi's "CUDA Version"); the JetPack of the node's L4T
    release (`l4t_version`, /etc/nv_tegra_release; the oldest CUDA among the jetson_stacks records
    whose `l4t` starts it); the JetPack whose record names the reported driver number (`driver`).
    """
    if cuda_driver is not None:
        return Version(".".join(map(str, series(cuda_driver)))), "cuda_driver_version"
    if l4t:
        try:
            rel = Version(l4t.strip().lstrip("rR"))
        except ValueError:
            rel = None
        if rel is not None:
            stacks = [j for j in cat.jetson_stacks if j.l4t and j.cuda is not None
                      and is_prefix(Version(j.l4t), rel)]
            if stacks:
                j = min(stacks, key=lambda j: j.cuda)  # type: ignore[arg-type,return-value]
                return Version(".".join(map(str, series(j.cuda)))), f"L4T {l4t} = JetPack {j.jetpack}, {j.id}"  # type: ignore[arg-type]
    if driver is not None:
        stacks = [j for j in cat.jetson_stacks if j.driver is not None and j.driver == driver and j.cuda is not None]
        if stacks:
            j = min(stacks, key=lambda j: j.cuda)  # type: ignore[arg-type,return-value]
            return Version(".".join(map(str, series(j.cuda)))), f"driver {driver} = JetPack {j.jetpack}, {j.id}"  # type: ignore[arg-type]
    return None


def rules_driver(cat: Catalog, gpu: GpuProduct | None, driver: Version | None, *, cuda_driver: Version | None = None,
                 l4t: str | None = None) -> Version | None:
    """The driver the rules judge for a node's `driver` on `gpu` (one definition for select, why, validate).

    A desktop/data-center GPU: `driver` itself (`cuda_driver` is not used). A Jetson GPU
    (`is_tegra`): a `TegraDriver` that compares as the desktop minimum of the CUDA version the
    node's driver supports (`tegra_cuda`), since Table 3 minimums and driver-branch windows do not
    apply to Tegra driver numbers; None when the node reports neither a driver nor those facts
    (no NVIDIA driver). A CUDA older than every catalog CUDA compares below every minimum; one
    newer than the catalog's newest as that newest (conservative).
    """
    if not is_tegra(gpu):
        return driver
    found = tegra_cuda(cat, cuda_driver=cuda_driver, l4t=l4t, driver=driver)
    reported = str(driver) if driver is not None else None
    if found is None:
        return TegraDriver(reported, driver, None, "unknown") if driver is not None else None
    cuda, basis = found
    known = cat.cuda_series()
    native = cat.native_min_driver(cuda)
    if native is None and known and cuda > known[-1]:
        native = cat.native_min_driver(known[-1])
    equivalent: Version = native[0] if native is not None else DriverVersion("0")
    return TegraDriver(reported, equivalent, cuda, basis)


def check_driver(cat: Catalog, cuda: Version, driver: Version | None, path: KernelPath, *, node: str = "") -> Check:
    on = f" on {node}" if node else ""
    if driver is None:
        return Check("no-driver", False, f"no NVIDIA driver{on}; CUDA {cuda} needs one", (),
                     f"install an NVIDIA driver{on}", component="driver", need=f"a driver for CUDA {cuda}",
                     have="none")
    req = driver_requirement(cat, cuda, path)
    if req is None:
        return Check("unknown-cuda", False, f"CUDA {cuda} is not in the catalog", (),
                     component="cuda", need="a catalog CUDA release", have=f"CUDA {cuda}")
    need, how, sources = req
    if driver >= need:
        return Check("driver", True, f"driver {driver}{on} >= {need}, the {how}", sources,
                     component="driver", need=f">= {need}", have=str(driver), records=_record_of(how))
    extra = " (PTX is JIT-compiled, so minor-version compatibility does not apply)" if path == "ptx" else ""
    return Check("driver-too-old", False,
                 f"driver {driver}{on} is older than {need}, the {how}, needed for CUDA {cuda}{extra} "
                 f"({cat.cite(sources)})", sources, _upgrade(driver, need, on),
                 component="driver", need=f">= {need}", have=str(driver), records=_record_of(how))


def _upgrade(driver: Version | None, need: Version, on: str) -> str:
    """The suggestion for a driver below `need`: a Jetson's driver comes with its JetPack."""
    if isinstance(driver, TegraDriver) and driver.cuda is None:
        return (f"report the CUDA version of the Jetson driver{on} (inventory cuda_driver_version, as nvidia-smi's "
                "'CUDA Version', or l4t_version from /etc/nv_tegra_release): its number is not a desktop driver number")
    if isinstance(driver, TegraDriver):
        return (f"upgrade JetPack{on} to a release whose CUDA has a desktop minimum >= {need} "
                "(the jetson_stacks records give each JetPack's CUDA)")
    return f"upgrade the driver{on} to >= {need}"


def _record_of(how: str) -> tuple[str, ...]:
    """The catalog record a `driver_requirement` explanation ends with: "... (mvc.12)" -> ("mvc.12",)."""
    at = how.rfind("(")
    return (how[at + 1:].rstrip(")"),) if at >= 0 and how.endswith(")") else ()


def check_precision(cat: Catalog, precision: str | None, cc: Version) -> Check:
    if precision is None or precision == "fp32":
        return Check("precision", True, "fp32 runs on every GPU", ())
    fmt = cat.numeric_format(precision)
    if fmt is None:
        return Check("unknown-precision", False, f"precision {precision} is not in the catalog", (),
                     component="precision", need="a catalog numeric format", have=precision)
    if fmt.allows(cc):
        return Check("precision", True, f"{precision} is supported on CC {cc} ({fmt.id})", fmt.sources,
                     records=(fmt.id,))
    need = f"one of CC {_fmt_cc(fmt.cc_allowed)}" if fmt.cc_allowed else f"CC >= {fmt.min_cc}"
    return Check("precision-unsupported", False, f"{precision} needs {need}; this GPU is CC {cc} "
                 f"(catalog: {fmt.id}; {cat.cite(fmt.sources)})", fmt.sources, f"use a GPU with {need} for {precision}",
                 component="gpu", need=need, have=f"CC {cc}", records=(fmt.id,))


def check_platform(ref: BuildRef, platform: str) -> Check:
    if platform in ref.build.platforms:
        return Check("platform", True, f"{ref.framework} {ref.label} has a {platform} build", ref.sources,
                     records=(ref.release.id,))
    return Check("platform-mismatch", False, f"{ref.framework} {ref.label} is built for "
                 f"{', '.join(ref.build.platforms)}, not {platform} (catalog: {ref.release.id})", ref.sources,
                 component=ref.framework, need=f"a {platform} build", have=", ".join(ref.build.platforms),
                 records=(ref.release.id,))


def gpu_host_arch(gpu: GpuProduct) -> str | None:
    """The one host CPU arch `gpu` exists on, None when it is sold for several.

    Every Jetson module (segment jetson: Nano, Xavier, Orin, Thor, T4000) is an aarch64 system;
    a record with `platform: aarch64` (Grace superchips, GB10) or `platform: x86_64` names its arch.
    """
    if gpu.segment == "jetson" or gpu.platform in ("jetson", "aarch64"):
        return "aarch64"
    if gpu.platform == "x86_64":
        return "x86_64"
    return None


def gpu_platform(gpu: GpuProduct, host_arch: str | None = None) -> str:
    """The build platform a GPU needs: Jetson boards need Jetson builds; otherwise the host CPU arch
    (default: the one arch the GPU exists on, `gpu_host_arch`, else x86_64)."""
    if gpu.platform is not None:
        return gpu.platform
    return host_arch or gpu_host_arch(gpu) or "x86_64"


def runtime_options(cat: Catalog, ref: BuildRef) -> list[tuple[Version | None, Version | None]]:
    """The (CUDA series, cuDNN) pairs that complete a build, newest first (as the solver forms them).

    Bundled components are fixed; `needs.cuda` ranges over the catalog's CUDA series, `needs.cudnn`
    over the cuDNN releases with a build for that series.
    """
    b = ref.build
    if not b.gpu:
        return [(None, None)]
    if b.cuda is not None:
        cudas: list[Version] = [Version(".".join(map(str, series(b.cuda))))]
    elif "cuda" in b.needs:
        cudas = [s for s in cat.cuda_series() if spec_allows(b.needs["cuda"], s)
                 or any(spec_allows(b.needs["cuda"], t.version) for t in cat.toolkits_in_series(s))]
    else:
        return [(None, None)]
    out: list[tuple[Version | None, Version | None]] = []
    for c in sorted(cudas, reverse=True):
        if "cudnn" in b.bundled:
            out.append((c, b.bundled["cudnn"]))
        elif "cudnn" in b.needs:
            out += [(c, r.version) for r in sorted(cat.cudnn, key=lambda r: r.version, reverse=True)
                    if spec_allows(b.needs["cudnn"], r.version) and any(spec_allows(x.cuda, c) for x in r.builds)]
        else:
            out.append((c, None))
    return out


def why_best(cat: Catalog, ref: BuildRef, gpu: GpuProduct, driver: Version | None = None, *,
             host_arch: str | None = None) -> list[Check]:
    """`why` for the first runtime option of the build that passes every rule (newest first), else
    for its newest option: the build is compatible iff some (CUDA, cuDNN) completion is, exactly
    as the solver decides. A build whose needs match no component fails `no-component`."""
    return why_best_option(cat, ref, gpu, driver, host_arch=host_arch)[0]


def why_best_option(cat: Catalog, ref: BuildRef, gpu: GpuProduct, driver: Version | None = None, *,
                    host_arch: str | None = None,
                    strict: bool = False) -> tuple[list[Check], Version | None, Version | None]:
    """`why_best` and the (CUDA, cuDNN) completion it judged, so the answer's gaps
    (`candidate_gaps`) are those of that completion, as `select` reports them for its choice.

    `strict`: the first completion that passes *and* has no gap on this GPU, as a strict
    `select` takes (a newer cuDNN without a GPU support list gives way to an older one with one);
    when none does, the completion a plain answer judges.
    """
    options = runtime_options(cat, ref)
    if not options:
        return [check_platform(ref, gpu_platform(gpu, host_arch)), check_needs_components(cat, ref, None)], None, None
    first: tuple[list[Check], Version | None, Version | None] | None = None
    passing: tuple[list[Check], Version | None, Version | None] | None = None
    for cuda, cudnn in options:
        checks = why(cat, ref, gpu, driver, cuda=cuda, cudnn=cudnn, host_arch=host_arch)
        if all(c.ok for c in checks):
            if not strict or not candidate_gaps(cat, ref, cuda, cudnn, ccs=[gpu.cc]):
                return checks, cuda, cudnn
            passing = passing or (checks, cuda, cudnn)
        first = first or (checks, cuda, cudnn)
    return passing or first or ([], None, None)


def why(cat: Catalog, ref: BuildRef, gpu: GpuProduct, driver: Version | None = None,
        cuda: Version | None = None, cudnn: Version | None = None, *, host_arch: str | None = None) -> list[Check]:
    """Every rule that decides whether build `ref` runs on `gpu` (and `driver`, when given), for
    one completion (`cuda`, `cudnn`; default: the bundled ones, else the newest CUDA its needs allow)."""
    checks = [check_platform(ref, gpu_platform(gpu, host_arch)), check_kernels(cat, ref, gpu.cc)]
    cuda = cuda or ref.build.cuda
    if cuda is None and "cuda" in ref.build.needs:
        fits = [t.version for t in cat.cuda_toolkits if spec_allows(ref.build.needs["cuda"], t.version)]
        cuda = Version(".".join(map(str, series(max(fits))))) if fits else None
    cudnn = cudnn or ref.build.bundled.get("cudnn")
    if ref.build.gpu and "cudnn" in ref.build.needs:
        checks.append(check_needs_components(cat, ref, cuda, cudnn))
    if cuda is not None and ref.build.gpu:
        checks.append(check_toolkit_arch(cat, cuda, gpu.cc))
        if cudnn is not None:
            checks.append(check_cudnn_gpu(cat, cudnn, cuda, gpu.cc, by=ref.label))
            if driver is not None:
                checks.append(check_cudnn_driver(cat, cudnn, cuda, driver))
        if driver is not None:
            checks.append(check_driver_window(cat, gpu.cc, driver))
            path = binary_path(ref.build, gpu.cc) or "ptx"
            checks.append(check_driver(cat, driver_cuda(cat, ref.build, cuda, path), driver, path))
    return checks


def check_cudnn_gpu(cat: Catalog, cudnn: Version, cuda: Version, cc: Version, *, by: str = "") -> Check:
    """cuDNN `cudnn` for CUDA `cuda` must list the GPU's CC where its build gives a `cc` list."""
    rec = cat.cudnn_release(cudnn)
    if rec is None:
        return Check("cudnn-unknown", False, f"cuDNN {cudnn} has no catalog record: its GPU support is unknown", (),
                     "add the cuDNN release to the catalog (cudnn.yaml)")
    ccs = [b.cc for b in rec.builds if spec_allows(b.cuda, cuda) and b.cc is not None]
    if not ccs:
        return Check("cudnn", True, f"cuDNN {cudnn} for CUDA {cuda}: the catalog has no GPU support list "
                     f"({rec.id}), so CC {cc} is unverified", rec.sources, records=(rec.id,))
    if any(cudnn_supports(c, cc) for c in ccs):
        return Check("cudnn", True, f"cuDNN {cudnn} for CUDA {cuda} supports CC {cc} ({rec.id})", rec.sources,
                     records=(rec.id,))
    listed = sorted({c for group in ccs for c in group})
    via = f" (bundled by {by})" if by else ""
    return Check("cudnn-no-gpu-support", False, f"cuDNN {cudnn}{via} for CUDA {cuda} supports CC "
                 f"[{_fmt_cc(tuple(listed))}], not {cc} (catalog: {rec.id}; {cat.cite(rec.sources)})", rec.sources,
                 "use another cuDNN/CUDA combination or a GPU it supports",
                 component="cudnn", need=f"CC {cc} in its list", have=f"CC [{_fmt_cc(tuple(listed))}]",
                 records=(rec.id,))


def cudnn_supports(ccs: tuple[Version, ...], cc: Version) -> bool:
    """Does a cuDNN build listing `ccs` run on CC `cc`?

    cuDNN's support matrices list one CC per architecture generation (5.0 for Maxwell, 6.0/6.1
    for Pascal); the library's SASS reaches the rest of the generation by the same binary
    compatibility as any SASS: same major, listed minor <= the GPU's (5.0 -> 5.2, not 5.2 -> 5.0).
    """
    return any(c.major == cc.major and c <= cc for c in ccs)


def check_cudnn_driver(cat: Catalog, cudnn: Version, cuda: Version, driver: Version | None) -> Check:
    """cuDNN builds that state a `min_driver` need at least that driver."""
    rec = cat.cudnn_release(cudnn)
    needs = [b.min_driver for b in rec.builds if spec_allows(b.cuda, cuda)] if rec is not None else []
    if rec is None or not needs or any(n is None for n in needs):
        return Check("cudnn-driver", True, f"cuDNN {cudnn} states no driver minimum for CUDA {cuda}", ())
    need = min(n for n in needs if n is not None)
    if driver is not None and driver >= need:
        return Check("cudnn-driver", True, f"driver {driver} >= {need} for cuDNN {cudnn} ({rec.id})", rec.sources,
                     records=(rec.id,))
    return Check("driver-too-old", False, f"driver {driver or 'none'} is older than {need}, the minimum of "
                 f"cuDNN {cudnn} for CUDA {cuda} (catalog: {rec.id}; {cat.cite(rec.sources)})", rec.sources,
                 _upgrade(driver, need, ""),
                 component="driver", need=f">= {need}", have=str(driver or "none"), records=(rec.id,))


def build_toolkit(cat: Catalog, build: FrameworkBuild) -> tuple[Version | None, bool]:
    """(the CUDA series that compiled `build`, whether the catalog states it).

    `toolkit` when recorded, else the bundled CUDA (a wheel ships the runtime it was built
    with). A build that only states `needs.cuda` (ONNX Runtime, TensorFlow) without `toolkit`
    is assumed built with the newest catalog CUDA its range allows (conservative), unverified.
    """
    if build.toolkit is not None:
        return Version(".".join(map(str, series(build.toolkit)))), True
    if build.cuda is not None:
        return Version(".".join(map(str, series(build.cuda)))), True
    spec = build.needs.get("cuda")
    if spec is None:
        return None, False
    fits = [s for s in cat.cuda_series() if spec_allows(spec, s)
            or any(spec_allows(spec, t.version) for t in cat.toolkits_in_series(s))]
    return (max(fits) if fits else None), False


def driver_cuda(cat: Catalog, build: FrameworkBuild | None, cuda: Version, path: KernelPath) -> Version:
    """The CUDA whose driver minimum applies to a runtime of CUDA `cuda` reaching the GPU by `path`.

    SASS: the runtime's CUDA (minor-version compatibility may lower the floor). PTX: the driver
    JIT-compiles PTX only of a toolkit it natively supports, so the toolkit that compiled the
    build counts when it is newer than the runtime's CUDA (ONNX Runtime built with 12.4 running
    on a CUDA 12.0 runtime still needs a 12.4 driver to JIT its PTX).
    """
    if path != "ptx" or build is None:
        return cuda
    toolkit, _known = build_toolkit(cat, build)
    return toolkit if toolkit is not None and toolkit > cuda else cuda


def check_driver_window(cat: Catalog, cc: Version, driver: Version | None, *, node: str = "") -> Check:
    """A driver supports a GPU architecture only within its window of driver branches.

    Too old: a driver older than the native minimum of the first CUDA that supports the
    architecture does not know the GPU (Blackwell needs an R570-era driver). Too new: after the
    architecture's last driver branch (R580 for Maxwell, Pascal and Volta) it is not supported.
    """
    on = f" on {node}" if node else ""
    arch = cat.architecture(cc)
    if driver is None or arch is None:
        return Check("driver-window", True, "no driver/architecture to compare", ())
    if arch.last_driver_branch is not None and driver.major > arch.last_driver_branch:
        return Check("driver-too-new-for-gpu", False,
                     f"driver {driver}{on} is branch R{driver.major}; R{arch.last_driver_branch} is the last driver "
                     f"branch that supports {arch.name} (CC {cc}) (catalog: {arch.id}; {cat.cite(arch.sources)})",
                     arch.sources, f"install an R{arch.last_driver_branch} (or older) driver{on}, or use a newer GPU",
                     component="driver", need=f"branch <= R{arch.last_driver_branch}", have=f"R{driver.major}",
                     records=(arch.id,))
    if arch.first_cuda is not None:
        first = cat.native_min_driver(arch.first_cuda)
        if first is not None and driver < first[0]:
            need, toolkit = first
            return Check("driver-too-old-for-gpu", False,
                         f"driver {driver}{on} predates {arch.name} (CC {cc}): the GPU needs a driver >= {need}, "
                         f"the minimum of CUDA {arch.first_cuda}, the first CUDA that supports it "
                         f"(catalog: {arch.id}, {toolkit.id}; {cat.cite(arch.sources + toolkit.sources)})",
                         arch.sources + toolkit.sources, _upgrade(driver, need, on),
                         component="driver", need=f">= {need}", have=str(driver), records=(arch.id, toolkit.id))
    return Check("driver-window", True, f"driver {driver} supports {arch.name} (CC {cc}) ({arch.id})", arch.sources,
                 records=(arch.id,))


def check_needs_components(cat: Catalog, ref: BuildRef, cuda: Version | None,
                           cudnn: Version | None = None) -> Check:
    """A build that needs a cuDNN (TensorFlow, ONNX Runtime) must find one covering its CUDA.

    `cudnn`: the cuDNN of the completion being judged; when it meets the need it is the one named,
    so the verdict names the same cuDNN as the rules judged after it (not the catalog's first match)."""
    spec = ref.build.needs.get("cudnn")
    if spec is None or not ref.build.gpu:
        return Check("components", True, "no component needs to be found", ())
    judged = cat.cudnn_release(cudnn) if cudnn is not None and cuda is not None else None
    if judged is not None and spec_allows(spec, judged.version) and any(spec_allows(b.cuda, cuda) for b in judged.builds):
        return Check("components", True, f"cuDNN {judged.version} ({judged.id}) covers CUDA {cuda} and "
                     f"{ref.framework} {ref.label}'s need cuDNN {spec}", judged.sources)
    cudas = [cuda] if cuda is not None else []
    if cuda is None and "cuda" in ref.build.needs:
        cudas = [s for s in cat.cuda_series() if spec_allows(ref.build.needs["cuda"], s)
                 or any(spec_allows(ref.build.needs["cuda"], t.version) for t in cat.toolkits_in_series(s))]
    for c in cudas:
        for rec in cat.cudnn:
            if spec_allows(spec, rec.version) and any(spec_allows(b.cuda, c) for b in rec.builds):
                return Check("components", True, f"cuDNN {rec.version} ({rec.id}) covers CUDA {c} and "
                             f"{ref.framework} {ref.label}'s need cuDNN {spec}", rec.sources)
    want = f"CUDA {', '.join(str(c) for c in cudas)}" if cudas else "any catalog CUDA"
    return Check("no-component", False, f"{ref.framework} {ref.label} needs cuDNN {spec} for {want}; no cuDNN record "
                 f"in the catalog covers it (catalog: {ref.release.id})", ref.sources,
                 "add the cuDNN release that supports this CUDA to the catalog, or use another build",
                 component="cudnn", need=f"cuDNN {spec} for {want}", have="no catalog record", records=(ref.release.id,))


def ptx_toolkit_gap(cat: Catalog, ref: BuildRef, cuda: Version | None) -> str | None:
    """The gap of a build whose PTX was compiled by a toolkit the catalog does not record (None: no gap).

    It matters only on a GPU that runs the build's PTX (`binary_path` "ptx"): the driver JITs PTX
    only of a toolkit it supports natively, so the driver that needs is assumed, not known. A GPU
    the build's SASS covers never JITs, and the toolkit is irrelevant there.
    """
    if not ref.build.gpu or cuda is None or not ref.build.ptx:
        return None
    _toolkit, known = build_toolkit(cat, ref.build)
    if known:
        return None
    return (f"the CUDA toolkit that compiled {ref.framework} {ref.label} is not recorded: the "
            "driver needed to JIT its PTX is assumed from the newest CUDA its range allows")


def runs_ptx(build: FrameworkBuild, cc: Version) -> bool:
    """Whether a GPU of CC `cc` runs `build` through PTX JIT (no SASS of the build covers it)."""
    return binary_path(build, cc) == "ptx"


def candidate_gaps(cat: Catalog, ref: BuildRef | None, cuda: Version | None, cudnn: Version | None,
                   ccs: Iterable[Version] | None = None) -> tuple[str, ...]:
    """Facts a verdict on this runtime would need but the catalog lacks ("unverified" answers).

    Each entry is a sentence naming the gap. Empty: every rule had the facts it needs.
    `ccs`: the compute capabilities of the GPUs the runtime is judged on (`why`: its GPU;
    `select`: the chosen GPU). The unrecorded-toolkit gap (`ptx_toolkit_gap`) counts only on a GPU
    that runs the build's PTX; `None` (no GPU known) counts it, `()` leaves it out.
    """
    gaps: list[str] = []
    if ref is not None:
        if ref.release.python is None:
            gaps.append(f"{ref.release.id} states no Python range: the Python version is unverified")
        if ref.build.gpu and ref.build.confidence == "low":
            gaps.append(f"{ref.framework} {ref.label}'s arch list has low confidence in the catalog "
                        f"({ref.release.id}: not read from the artifact or a primary table)")
        ptx_gap = ptx_toolkit_gap(cat, ref, cuda)
        if ptx_gap is not None and (ccs is None or any(runs_ptx(ref.build, cc) for cc in ccs)):
            gaps.append(ptx_gap)
    if cudnn is not None and cuda is not None:
        rec = cat.cudnn_release(cudnn)
        if rec is None:
            gaps.append(f"cuDNN {cudnn} has no catalog record: its GPU support is unknown")
        elif not any(b.cc for b in rec.builds if spec_allows(b.cuda, cuda)):
            gaps.append(f"cuDNN {cudnn} for CUDA {cuda} has no GPU support list in the catalog ({rec.id})")
    return tuple(gaps)


def check_ptx_verified(cat: Catalog, ref: BuildRef, cuda: Version | None, cc: Version) -> Check:
    """Strict selection: a GPU that runs the build's PTX needs the toolkit that compiled it recorded.

    The pair form of `ptx_toolkit_gap` (the same definition): it fails exactly when
    `candidate_gaps(..., ccs=[cc])` names that gap.
    """
    gap = ptx_toolkit_gap(cat, ref, cuda)
    if gap is None or not runs_ptx(ref.build, cc):
        return Check("ptx-verified", True, f"{ref.framework} {ref.label} on CC {cc}: no PTX JIT rests on an "
                     "unrecorded toolkit", ref.sources, records=(ref.release.id,))
    return Check("unverified-ptx", False, f"{ref.framework} {ref.label} runs on CC {cc} only through PTX JIT, and "
                 f"{gap} (strict refuses it; catalog: {ref.release.id})", ref.sources,
                 "record the build's toolkit in the catalog, use a GPU its SASS covers, or select without strict",
                 component=ref.framework, need="the toolkit that compiled its PTX", have="not recorded",
                 records=(ref.release.id,))


def why_gaps(cat: Catalog, ref: BuildRef, cuda: Version | None = None,
             ccs: Iterable[Version] | None = None) -> tuple[str, ...]:
    """`candidate_gaps` for a build as `why` judges it (its bundled cuDNN, or the cuDNN its needs find)."""
    cuda = cuda or ref.build.cuda
    cudnn = ref.build.bundled.get("cudnn")
    return candidate_gaps(cat, ref, cuda, cudnn, ccs)


def current_driver(cat: Catalog, cc: Version | None = None) -> Version | None:
    """A current driver for a GPU of CC `cc`: the newest minimum any catalog CUDA toolkit needs,
    kept within the architecture's last driver branch (R580 for Maxwell, Pascal, Volta)."""
    arch = cat.architecture(cc) if cc is not None else None
    last = arch.last_driver_branch if arch is not None else None
    return max((t.min_driver for t in cat.cuda_toolkits if last is None or t.min_driver.major <= last),
               default=None)


def unselectable_builds(cat: Catalog) -> list[tuple[BuildRef, str]]:
    """GPU builds no catalog GPU runs with a current driver, each with the most common reason.

    An invariant of `rtfit catalog validate`: a build that can never be selected is a catalog
    error (a missing component record, an arch list no GPU matches, a platform no GPU has).
    """
    out: list[tuple[BuildRef, str]] = []
    for ref in cat.builds():
        if not ref.build.gpu:
            continue
        reasons: dict[str, int] = {}
        found = False
        for gpu in cat.gpus:
            for host in ("x86_64", "aarch64"):
                if gpu.platform is not None and host != "x86_64":
                    continue  # a GPU tied to a platform is judged once
                if gpu_platform(gpu, host) not in ref.build.platforms:
                    continue
                checks = why_best(cat, ref, gpu, current_driver(cat, gpu.cc), host_arch=host)
                bad = [c for c in checks if not c.ok]
                if not bad:
                    found = True
                    break
                reasons[bad[0].message] = reasons.get(bad[0].message, 0) + 1
            if found:
                break
        if not found:
            why_not = max(reasons, key=lambda m: reasons[m]) if reasons else (
                f"no catalog GPU has a {'/'.join(ref.build.platforms)} platform")
            out.append((ref, why_not))
    return out
