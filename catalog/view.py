"""The read-only catalog view the solver, the service and the CLI consume.

`Catalog` holds the typed records of one revision plus indexes for the lookups every consumer
needs (GPU by NVML name or alias, driver branch by driver version, native driver minimum of a
CUDA series, cuDNN release of a bundled version...). It never changes after construction; a new
catalog revision is a new `Catalog`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.version import InvalidVersion, Version

from catalog.model import (
    Architecture,
    BuildRef,
    CudaImage,
    CudaToolkit,
    CudnnRelease,
    Discrepancy,
    DriverBranch,
    Fact,
    FrameworkRelease,
    GpuProduct,
    JetsonStack,
    MvcFloor,
    NgcContainer,
    NumericFormat,
    NvidiaWheel,
    PipChannel,
    PythonSeries,
    Record,
    Source,
)
from catalog.versions import is_prefix, same_series, series, spec_allows

__all__ = ["Catalog"]


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").split())


@dataclass(frozen=True, eq=False)
class Catalog:
    revision: str
    documents: Mapping[str, Any]
    sources: Mapping[str, Source]
    driver_branches: tuple[DriverBranch, ...] = ()
    cuda_toolkits: tuple[CudaToolkit, ...] = ()
    mvc_floors: tuple[MvcFloor, ...] = ()
    architectures: tuple[Architecture, ...] = ()
    gpus: tuple[GpuProduct, ...] = ()
    cudnn: tuple[CudnnRelease, ...] = ()
    python: tuple[PythonSeries, ...] = ()
    frameworks: tuple[FrameworkRelease, ...] = ()
    numeric_formats: tuple[NumericFormat, ...] = ()
    jetson_stacks: tuple[JetsonStack, ...] = ()
    facts: tuple[Fact, ...] = ()
    discrepancies: tuple[Discrepancy, ...] = ()
    pip_channels: tuple[PipChannel, ...] = ()
    nvidia_wheels: tuple[NvidiaWheel, ...] = ()
    ngc_containers: tuple[NgcContainer, ...] = ()
    cuda_images: tuple[CudaImage, ...] = ()
    _gpu_index: dict[str, GpuProduct] = field(default_factory=dict, repr=False)
    _by_id: dict[str, Record] = field(default_factory=dict, repr=False)
    _arch_index: dict[Version, Architecture] = field(default_factory=dict, repr=False)
    # Lookups the solver repeats millions of times; a Catalog never changes, so answers are kept.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for rec in self.records():
            self._by_id.setdefault(rec.id, rec)
        for gpu in self.gpus:
            for name in (gpu.name, *gpu.aliases):
                self._gpu_index.setdefault(_norm(name), gpu)
        for arch in self.architectures:
            self._arch_index.setdefault(arch.cc, arch)

    # -- whole-catalog views -------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        for group in (self.driver_branches, self.cuda_toolkits, self.mvc_floors, self.architectures, self.gpus,
                      self.cudnn, self.python, self.frameworks, self.numeric_formats, self.jetson_stacks,
                      self.facts, self.discrepancies, self.pip_channels, self.nvidia_wheels, self.ngc_containers,
                      self.cuda_images):
            yield from group

    def record(self, record_id: str) -> Record | None:
        return self._by_id.get(record_id)

    def counts(self) -> dict[str, int]:
        return {
            "sources": len(self.sources),
            "driver_branches": len(self.driver_branches),
            "cuda_toolkits": len(self.cuda_toolkits),
            "mvc_floors": len(self.mvc_floors),
            "architectures": len(self.architectures),
            "gpus": len(self.gpus),
            "cudnn": len(self.cudnn),
            "python": len(self.python),
            "framework_releases": len(self.frameworks),
            "framework_builds": sum(1 for _ in self.builds()),
            "numeric_formats": len(self.numeric_formats),
            "jetson_stacks": len(self.jetson_stacks),
            "facts": len(self.facts),
            "discrepancies": len(self.discrepancies),
            "pip_channels": len(self.pip_channels),
            "nvidia_wheels": len(self.nvidia_wheels),
            "ngc_containers": len(self.ngc_containers),
            "cuda_images": len(self.cuda_images),
        }

    def cite(self, source_ids: tuple[str, ...] | list[str]) -> str:
        """A short human citation: "CUDA 13.2 U2 Release Notes <url>; ..." for the given ids."""
        parts = [self.sources[s].cite() for s in source_ids if s in self.sources]
        return "; ".join(parts) if parts else "(no source)"

    def to_documents(self) -> dict[str, Any]:
        return {name: doc for name, doc in self.documents.items()}

    # -- GPUs -----------------------------------------------------------------------------
    def gpu(self, name: str) -> GpuProduct | None:
        """A GPU product by its NVML name or an alias, case- and space-insensitively."""
        found = self._gpu_index.get(_norm(name))
        if found is None and _norm(name).startswith("nvidia "):
            found = self._gpu_index.get(_norm(name)[len("nvidia "):])
        if found is None:
            found = self._gpu_index.get("nvidia " + _norm(name))
        return found

    def architecture(self, cc: Version) -> Architecture | None:
        return self._arch_index.get(cc)

    # -- drivers and CUDA -----------------------------------------------------------------
    def driver_branch(self, driver: Version) -> DriverBranch | None:
        """The branch record of a driver version (R535 for 535.104.05), or None if unknown."""
        for b in self.driver_branches:
            if b.branch == driver.major:
                return b
        return None

    def driver_max_cuda(self, driver: Version) -> tuple[Version, DriverBranch] | None:
        """The newest CUDA a driver supports natively.

        An unknown branch between two known ones gets the older branch's value (conservative);
        a driver older than every known branch gets None.
        """
        key = ("driver_max_cuda", driver.major)
        if key not in self.memo:
            known = [b for b in self.driver_branches if b.branch <= driver.major]
            best = max(known, key=lambda b: b.branch) if known else None
            self.memo[key] = (best.max_cuda, best) if best is not None else None
        return self.memo[key]

    def toolkits_in_series(self, cuda: Version) -> list[CudaToolkit]:
        key = ("toolkits", cuda)
        if key not in self.memo:
            parts = 3 if len(cuda.release) >= 3 else 2
            self.memo[key] = [t for t in self.cuda_toolkits if series(t.version, parts) == series(cuda, parts)]
        return self.memo[key]

    def native_min_driver(self, cuda: Version) -> tuple[Version, CudaToolkit] | None:
        """The smallest Table-3 driver for a CUDA version or series (12.4 -> 12.4 GA's driver)."""
        key = ("native_min_driver", cuda)
        if key not in self.memo:
            found = self.toolkits_in_series(cuda)
            best = min(found, key=lambda t: (t.min_driver, t.version)) if found else None
            self.memo[key] = (best.min_driver, best) if best is not None else None
        return self.memo[key]

    def mvc_floor(self, cuda_major: int) -> MvcFloor | None:
        key = ("mvc_floor", cuda_major)
        if key not in self.memo:
            self.memo[key] = next((f for f in self.mvc_floors if f.cuda_major == cuda_major), None)
        return self.memo[key]

    def cuda_series(self) -> list[Version]:
        """Every CUDA major.minor series the catalog has a toolkit for, oldest first (memoised:
        building one framework's candidate table asks about 20,000 times)."""
        key = ("cuda_series",)
        if key not in self.memo:
            self.memo[key] = tuple(sorted({Version(".".join(map(str, series(t.version)))) for t in self.cuda_toolkits}))
        return list(self.memo[key])

    # -- components -----------------------------------------------------------------------
    def cudnn_release(self, version: Version) -> CudnnRelease | None:
        """The cuDNN release record a (possibly longer, bundled) version belongs to."""
        key = ("cudnn_release", version)
        if key not in self.memo:
            matches = [c for c in self.cudnn if is_prefix(c.version, version) or c.version == version]
            self.memo[key] = max(matches, key=lambda c: len(c.version.release)) if matches else None
        return self.memo[key]

    def python_series(self) -> list[Version]:
        return sorted(p.version for p in self.python)

    def numeric_format(self, precision: str) -> NumericFormat | None:
        for f in self.numeric_formats:
            if f.precision == precision:
                return f
        return None

    def releases(self, framework: str | None = None) -> list[FrameworkRelease]:
        return [r for r in self.frameworks if framework is None or r.framework == framework]

    def builds(self, framework: str | None = None) -> Iterator[BuildRef]:
        """Every installable build (version x variant) of a framework, newest first per release."""
        for rel in self.releases(framework):
            for version in sorted(rel.versions, reverse=True):
                for build in rel.builds:
                    yield BuildRef(release=rel, build=build, version=version)

    def find_build(self, framework: str, label: str) -> BuildRef | None:
        """A build by the string users write: "2.6.0+cu124", "2.6.0" (its first build), "2.6"."""
        want = Version(label)
        candidates = []
        for ref in self.builds(framework):
            if want.local is not None:
                if ref.version.public == want.public and _local(ref.build.variant) == want.local:
                    return ref
            elif ref.version == want or same_series(ref.version, want) and len(want.release) == 2:
                candidates.append(ref)
        if not candidates:
            return None
        top = max(c.version for c in candidates)
        return next(c for c in candidates if c.version == top)

    def python_allowed(self, release: FrameworkRelease) -> list[Version]:
        if release.python is None:
            return self.python_series()
        return [p for p in self.python_series() if spec_allows(release.python, p)]

    def component_rows(self, kind: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        """Flat rows for listings and `GET /v1/catalog/components` (kind, name, version, id, sources)."""
        rows: list[dict[str, Any]] = []

        def add(k: str, n: str, version: str, rec_id: str, sources: tuple[str, ...], **extra: Any) -> None:
            if (kind is None or kind == k) and (name is None or name.lower() in n.lower()):
                rows.append({"kind": k, "name": n, "version": version, "id": rec_id, "source": list(sources), **extra})

        for b in self.driver_branches:
            add("driver", f"R{b.branch}", str(b.branch), b.id, b.sources, max_cuda=str(b.max_cuda))
        for t in self.cuda_toolkits:
            add("cuda", "cuda", str(t.version), t.id, t.sources, min_driver=str(t.min_driver), size_bytes=t.size_bytes)
        for c in self.cudnn:
            add("cudnn", "cudnn", str(c.version), c.id, c.sources)
        for p in self.python:
            add("python", "python", str(p.version), p.id, p.sources)
        for g in self.gpus:
            add("gpu", g.name, str(g.cc), g.id, g.sources, memory_mib=g.memory_mib, segment=g.segment)
        for ref in self.builds():
            add(ref.framework, ref.framework, ref.label, ref.release.id, ref.sources,
                cuda=str(ref.build.cuda) if ref.build.cuda else None, size_bytes=ref.build.size_bytes)
        return rows


def _local(variant: str | None) -> str | None:
    """A build variant as a version's normalised local label ("nv23.05" -> "nv23.5"), or itself."""
    if variant is None:
        return None
    try:
        return Version(f"0+{variant}").local
    except InvalidVersion:
        return variant
