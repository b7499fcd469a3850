"""Runtime candidates: every complete runtime tuple a catalog revision allows, with its facts.

A candidate is one framework build (a `catalog.BuildRef`) completed into a runtime: the CUDA
series, cuDNN, TensorRT and Python it runs with, plus what the rules need to judge it (platforms,
kernels, the GPUs its cuDNN supports) and what the objective needs (component sizes for
"bytes already cached", a newest-versions sort key). Candidates depend only on the catalog
revision, the framework and a few request switches, so they are built once and cached per
revision; request filters and GPU/driver verdicts are applied later (`rules.py`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from catalog import BuildRef, Catalog
from catalog.compat import candidate_gaps, ptx_toolkit_gap
from catalog.versions import is_prefix, series, spec_allows

__all__ = [
    "DEFAULT_SIZES",
    "STRICT",
    "Candidate",
    "Component",
    "Target",
    "candidates_for",
    "cached_match",
    "cudnn_ccs",
    "series_version",
]

log = logging.getLogger(__name__)

# Bytes to stage when a catalog record gives no size_bytes (documented in docs/solver.md).
DEFAULT_SIZES = {
    "cuda": 3_000_000_000, "cudnn": 800_000_000, "tensorrt": 1_000_000_000, "python": 100_000_000,
    "pytorch": 2_500_000_000, "tensorflow": 600_000_000, "onnxruntime": 300_000_000,
    "jax": 1_000_000_000, "vllm": 1_000_000_000, "sglang": 500_000_000, "tensorrt-llm": 2_000_000_000,
}
_ZERO = Version("0")
# In `candidates_for`'s `extra`: the table of a strict request (its candidates carry `strict`)
STRICT = "strict"


def cached_weight(size_bytes: int, min_bytes: int) -> int:
    """What a cached component is worth to the `cached` policy term: the bytes it saves staging,
    or nothing when that is below `min_bytes` (a 0.1 GB Python never decides a selection)."""
    return size_bytes if size_bytes >= min_bytes else 0


@dataclass(frozen=True)
class Component:
    kind: str
    version: str
    size_bytes: int
    size_source: str  # "catalog:<record id>" or "default"


@dataclass(frozen=True)
class Target:
    """What a candidate is judged against: one GPU product (or CPU) on one platform and driver."""

    platform: str                   # x86_64 | aarch64 | jetson
    cc: Version | None = None       # None = CPU only
    product: str | None = None
    driver: Version | None = None

    def __post_init__(self) -> None:
        # Targets key many memo tables; hashing four Versions on every lookup is measurable.
        object.__setattr__(self, "_hash", hash((self.platform, self.cc, self.product, self.driver)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True, eq=False)
class Candidate:
    index: int
    framework: str
    build: BuildRef | None
    version: Version | None
    label: str | None
    cuda: Version | None
    cudnn: Version | None
    tensorrt: Version | None
    python: Version | None
    gpu: bool
    platforms: tuple[str, ...]
    cudnn_ccs: tuple[Version, ...] | None
    cudnn_min_driver: tuple[Version, str, tuple[str, ...]] | None
    components: tuple[Component, ...]
    newest: tuple[Any, ...]   # sort key: framework, CUDA, cuDNN, TensorRT versions, (widely supported Python, Python)
    gaps: tuple[str, ...] = ()  # facts the catalog lacks on any GPU (`compat.candidate_gaps`, ccs=())
    # `compat.ptx_toolkit_gap`: a gap only on GPUs that run the build's PTX (the pair rules judge those)
    ptx_gap: str | None = None
    strict: bool = False        # a strict request's table: the pair rules refuse PTX that rests on `ptx_gap`

    def runtime(self) -> dict[str, str]:
        """The Contract-3 runtime mapping: cuda (GPU runtimes), cudnn, tensorrt, python, framework."""
        out: dict[str, str] = {}
        if self.cuda is not None:
            out["cuda"] = str(self.cuda)
        if self.cudnn is not None:
            out["cudnn"] = str(self.cudnn)
        if self.tensorrt is not None and self.framework != "tensorrt":
            out["tensorrt"] = str(self.tensorrt)
        if self.python is not None:
            out["python"] = str(self.python)
        if self.framework != "none" and self.label is not None:
            out[self.framework] = self.label
        torch = self.bundled_torch
        if torch is not None:
            out["pytorch"] = str(torch)
        return out

    @property
    def bundled_torch(self) -> Version | None:
        """The exact PyTorch a serving engine pins (vLLM, SGLang), if this build pins one."""
        if self.build is None or self.framework == "pytorch":
            return None
        return self.build.build.bundled.get("pytorch")

    def component_version(self, kind: str) -> Version | None:
        if kind == self.framework:
            return self.build.version if self.build is not None else None
        if kind == "pytorch":
            return self.bundled_torch
        return {"cuda": self.cuda, "cudnn": self.cudnn, "tensorrt": self.tensorrt,
                "python": self.python}.get(kind)

    def __repr__(self) -> str:
        return f"Candidate({self.index}, {self.runtime()})"


def series_version(v: Version, parts: int = 2) -> Version:
    return Version(".".join(str(x) for x in series(v, parts)))


def cached_match(component: Component, cached: tuple[str, Version | None]) -> bool:
    """Does a node's cached "kind/version" provide this component?

    Equal strings match; so does a longer cached version whose release starts with the component's
    (runtime CUDA "12.4" is provided by a cached "cuda/12.4.1"); local labels must agree.
    """
    kind, version = cached
    if kind != component.kind or version is None:
        return False
    try:
        want = Version(component.version)
    except InvalidVersion:
        return False
    return version.local == want.local and is_prefix(want, version)


def cudnn_ccs(cat: Catalog, cudnn: Version | None, cuda: Version | None) -> tuple[
        tuple[Version, ...] | None, tuple[Version, str, tuple[str, ...]] | None]:
    """(GPU CCs the cuDNN build for `cuda` lists or None, (its min driver, record id, sources) or None)."""
    if cudnn is None or cuda is None:
        return None, None
    rec = cat.cudnn_release(cudnn)
    if rec is None:
        return None, None
    builds = [b for b in rec.builds if spec_allows(b.cuda, cuda)]
    ccs = [c for b in builds if b.cc is not None for c in b.cc]
    drivers = [b.min_driver for b in builds if b.min_driver is not None]
    driver = (min(drivers), rec.id, rec.sources) if drivers and len(drivers) == len(builds) else None
    return (tuple(sorted(set(ccs))) if ccs else None), driver


def _size(kind: str, size: int | None, rec_id: str) -> tuple[int, str]:
    return (size, f"catalog:{rec_id}") if size else (DEFAULT_SIZES.get(kind, 500_000_000), "default")


def _cuda_options(cat: Catalog, spec: SpecifierSet) -> list[Version]:
    out = []
    for s in cat.cuda_series():
        if any(spec_allows(spec, t.version) for t in cat.toolkits_in_series(s)) or spec_allows(spec, s):
            out.append(s)
    return out


def _cudnn_options(cat: Catalog, spec: SpecifierSet | None, cuda: Version | None) -> list[Version]:
    return [c.version for c in cat.cudnn
            if (spec is None or spec_allows(spec, c.version))
            and (cuda is None or any(spec_allows(b.cuda, cuda) for b in c.builds))]


def _trt_options(cat: Catalog, spec: SpecifierSet) -> list[Version]:
    return sorted({v for r in cat.releases("tensorrt") for v in r.versions if spec_allows(spec, v)})


def _components(cat: Catalog, framework: str, ref: BuildRef | None, cuda: Version | None,
                cudnn: Version | None, trt: Version | None, python: Version | None) -> tuple[Component, ...]:
    comps: list[Component] = []
    bundled = ref.build.bundled if ref is not None else {}
    if cuda is not None and "cuda" not in bundled:
        kits = cat.toolkits_in_series(cuda)
        size = max((t.size_bytes or 0 for t in kits), default=0) or None
        comps.append(Component("cuda", str(cuda), *_size("cuda", size, kits[-1].id if kits else "cuda")))
    if cudnn is not None and "cudnn" not in bundled:
        rec = cat.cudnn_release(cudnn)
        comps.append(Component("cudnn", str(cudnn), *_size("cudnn", rec.size_bytes if rec else None,
                                                            rec.id if rec else "cudnn")))
    if trt is not None and framework != "tensorrt" and "tensorrt" not in bundled:
        comps.append(Component("tensorrt", str(trt), *_size("tensorrt", None, "tensorrt")))
    if python is not None:
        comps.append(Component("python", str(python), *_size("python", None, "python")))
    if ref is not None:
        comps.append(Component(framework, ref.label, *_size(framework, ref.build.size_bytes, ref.release.id)))
    return tuple(comps)


def _python_options(cat: Catalog, ref: BuildRef | None) -> list[Version]:
    if ref is None:
        return cat.python_series()
    pys = cat.python_allowed(ref.release)
    need = ref.build.needs.get("python")
    return [p for p in pys if need is None or spec_allows(need, p)]


def _expand(cat: Catalog, framework: str, ref: BuildRef | None, gpu: bool,
            extra: frozenset[str]) -> list[tuple[Version | None, ...]]:
    """(cuda, cudnn, tensorrt, python) tuples that complete one build (or framework none)."""
    b = ref.build if ref is not None else None
    bundled = b.bundled if b is not None else {}
    needs = b.needs if b is not None else {}
    if not gpu:
        cudas: list[Version | None] = [None]
    elif "cuda" in bundled:
        cudas = [series_version(bundled["cuda"])]
    elif "cuda" in needs:
        cudas = list(_cuda_options(cat, needs["cuda"]))
    elif b is None:
        cudas = list(cat.cuda_series())
    else:
        cudas = []
    out: list[tuple[Version | None, ...]] = []
    for cuda in cudas:
        if "cudnn" in bundled:
            cudnns: list[Version | None] = [bundled["cudnn"]]
        elif "cudnn" in needs or ("cudnn" in extra and gpu):
            cudnns = list(_cudnn_options(cat, needs.get("cudnn"), cuda))
        else:
            cudnns = [None]
        if framework == "tensorrt" and ref is not None:
            trts: list[Version | None] = [ref.version]
        elif "tensorrt" in bundled:
            trts = [bundled["tensorrt"]]
        elif "tensorrt" in needs:
            trts = list(_trt_options(cat, needs["tensorrt"]))
        else:
            trts = [None]
        pys: list[Version | None] = list(_python_options(cat, ref))
        if ref is None and gpu and "python" not in extra:
            pys = [None]
        out.extend(itertools.product([cuda], cudnns, trts, pys))
    return out


def python_coverage(cat: Catalog, framework: str) -> dict[Version, int]:
    """Per Python series: how many catalog releases of `framework` ship wheels for it."""
    out: dict[Version, int] = {}
    for rel in cat.releases(framework):
        seen: set[Version] = set()
        for b in rel.builds:
            seen.update(_python_options(cat, BuildRef(release=rel, build=b, version=max(rel.versions))))
        for py in seen:
            out[py] = out.get(py, 0) + 1
    return out


def mature_pythons(cat: Catalog, framework: str) -> frozenset[Version]:
    """The Python series `framework` ships wheels for widely: in at least half as many catalog
    releases as its best-covered series. The `newest` term prefers these (newest first) over a
    series only the latest releases support (which much of the ecosystem does not ship yet)."""
    cover = python_coverage(cat, framework) if framework != "none" else {}
    if not cover:
        return frozenset(cat.python_series())
    best = max(cover.values())
    return frozenset(py for py, n in cover.items() if 2 * n >= best)


def candidates_for(cat: Catalog, framework: str, gpu: bool,
                   extra: frozenset[str] = frozenset()) -> tuple[Candidate, ...]:
    """Every runtime candidate of `framework` (GPU or CPU runtimes); the catalog index keeps them.

    `extra` names component kinds the request wants in the runtime even when the build does not
    need them ("python" and "cudnn" for framework none), and `STRICT` for a strict request's table.
    """
    refs: list[BuildRef | None]
    if framework == "none":
        refs = [None]
    else:
        refs = [r for r in cat.builds(framework) if r.build.gpu == gpu]
    out: list[Candidate] = []
    ccs_memo: dict[tuple, tuple] = {}
    mature = mature_pythons(cat, framework)
    for ref in refs:
        for cuda, cudnn, trt, py in _expand(cat, framework, ref, gpu, extra):
            if (cudnn, cuda) not in ccs_memo:
                ccs_memo[(cudnn, cuda)] = cudnn_ccs(cat, cudnn, cuda) if gpu else (None, None)
            ccs, cudnn_driver = ccs_memo[(cudnn, cuda)]
            # Python ranks by wide support first (`mature_pythons`), then by version.
            newest = (*(v or _ZERO for v in (ref.version if ref else None, cuda, cudnn, trt)),
                      (py is not None and series_version(py) in mature, py or _ZERO))
            out.append(Candidate(
                index=len(out), framework=framework, build=ref,
                version=ref.version if ref else None, label=ref.label if ref else None,
                cuda=cuda, cudnn=cudnn, tensorrt=trt, python=py, gpu=gpu,
                platforms=ref.build.platforms if ref else ("x86_64", "aarch64", "jetson"),
                cudnn_ccs=ccs, cudnn_min_driver=cudnn_driver,
                components=_components(cat, framework, ref, cuda, cudnn, trt, py), newest=newest,
                gaps=candidate_gaps(cat, ref, cuda, cudnn, ccs=()) if gpu or ref is not None else (),
                ptx_gap=ptx_toolkit_gap(cat, ref, cuda) if ref is not None else None,
                strict=STRICT in extra,
            ))
    result = tuple(out)
    log.debug("catalog %s: %d %s candidates for %s", cat.revision[:12], len(result), "GPU" if gpu else "CPU",
              framework)
    return result
