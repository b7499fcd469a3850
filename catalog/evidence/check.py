"""Compare an artifact's evidence with the catalog build it is (`rtfit catalog evidence --check`).

The matching build: the framework of the project (torch -> pytorch, onnxruntime-gpu ->
onnxruntime, ...), the release whose `versions` hold the version, and the build with the same
variant (the local label, `+cu130`; none for the registry's default wheel) that lists the
artifact's platform. Each field the evidence knows is compared; every disagreement is one
`Mismatch` naming the field, the catalog value and the artifact value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from catalog.errors import Problem
from catalog.evidence.pins import KERNEL_PACKAGES, component_of
from catalog.evidence.record import Evidence, EvidenceInvalid, load_evidence
from catalog.model import BuildRef, FrameworkRelease
from catalog.versions import spec_allows
from catalog.view import Catalog

__all__ = ["FRAMEWORK_OF", "Mismatch", "check_evidence", "checkable", "compared_fields", "evidence_problems",
           "find_build", "same_range", "split_arch_specific"]

FRAMEWORK_OF = {
    "torch": "pytorch", "tensorflow": "tensorflow", "tensorflow-gpu": "tensorflow",
    "onnxruntime-gpu": "onnxruntime", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt", "tensorrt-cu12": "tensorrt",
    "tensorrt-cu13": "tensorrt", "jax-cuda12-plugin": "jax", "jax-cuda13-plugin": "jax", "jax-cuda12-pjrt": "jax",
    "jax-cuda13-pjrt": "jax", "tensorrt-cu11-bindings": "tensorrt", "tensorrt-cu12-bindings": "tensorrt",
    "tensorrt-cu13-bindings": "tensorrt", "vllm": "vllm",
    "sglang": "sglang", "tensorrt-llm": "tensorrt-llm",
    # SGLang's GPU code: the kernel wheel its release pins (`bundled.sglang-kernel` of the build)
    "sglang-kernel": "sglang", "sgl-kernel": "sglang",
}
_COMPONENTS = ("cuda", "cudnn", "cublas", "nccl", "pytorch", "sglang-kernel")
_CUDA_COMPONENTS = ("cuda", "cudnn", "cublas", "nccl")
# projects that publish only one kind of build of a framework whose releases hold both: onnxruntime-gpu's
# wheels are the GPU builds, the CPU package onnxruntime's the CPU-only ones (same version numbers)
_GPU_PROJECT = {"onnxruntime-gpu": True, "onnxruntime": False}
_UNMODELLED_RANGES = ("cublas", "nccl", "pytorch", "sglang-kernel")  # a range on these is not compared
_PLUGIN_VARIANT = {"jax-cuda12-plugin": "cuda12", "jax-cuda13-plugin": "cuda13",  # the pip extra each serves
                   "jax-cuda12-pjrt": "cuda12", "jax-cuda13-pjrt": "cuda13",
                   # TensorRT's Python bindings wheel per CUDA major (the libraries come from NVIDIA's index)
                   "tensorrt-cu11-bindings": "cu11", "tensorrt-cu12-bindings": "cu12", "tensorrt-cu13-bindings": "cu13"}


@dataclass(frozen=True)
class Mismatch:
    field: str
    catalog: str
    artifact: str
    record: str = ""

    def __str__(self) -> str:
        where = f"{self.record}: " if self.record else ""
        return f"{where}{self.field}: catalog says {self.catalog}, artifact says {self.artifact}"

    def to_dict(self) -> dict[str, str]:
        return {"record": self.record, "field": self.field, "catalog": self.catalog, "artifact": self.artifact}


def find_build(cat: Catalog, ev: Evidence) -> BuildRef | None:
    framework = FRAMEWORK_OF.get(ev.project)
    if framework is None:
        return None
    try:
        version = Version(ev.version)
    except InvalidVersion:
        return None
    public = Version(version.public)
    if ev.project in KERNEL_PACKAGES:  # the releases whose builds pin this kernel wheel
        return next((BuildRef(r, b, r.versions[0]) for same_platform in (True, False) for r in cat.releases(framework)
                     for b in r.builds if b.bundled.get("sglang-kernel") == public and r.versions
                     and (ev.platform in b.platforms or not same_platform)), None)
    releases = [r for r in cat.releases(framework) if public in r.versions or version in r.versions]
    for same_platform in (True, False):  # else: the build of this variant, but for another platform
        for rank in range(3):  # the label (or no label) first in every release, then the fallbacks
            for release in releases:
                variants = _variants(release, ev, version.local)
                for variant in variants[rank:rank + 1] if rank < 2 else variants[2:]:
                    for build in release.builds:
                        if build.variant == variant and (ev.platform in build.platforms or not same_platform) \
                                and _GPU_PROJECT.get(ev.project, build.gpu) == build.gpu:
                            return BuildRef(release, build, public)
    return None


def _variants(release: FrameworkRelease, ev: Evidence, local: str | None) -> list[str | None]:
    """Variants the artifact can be: its local label; for a registry default wheel (no label) the
    catalog's default build, else the labelled build with the same CUDA series, else `cpu`."""
    if local is not None:
        return [local]
    if ev.project in _PLUGIN_VARIANT:  # a JAX CUDA plugin: the catalog variant is the pip extra it serves
        return [_PLUGIN_VARIANT[ev.project]]
    out: list[str | None] = [None]
    cuda = ev.components.get("cuda")
    if cuda and cuda[0].isdigit():
        out += [b.variant for b in release.builds if b.variant and b.cuda is not None
                and f"{b.cuda.major}.{b.cuda.minor}" == cuda]
    elif cuda:  # a range (or only a -cuXY name): the labelled builds whose CUDA it allows
        try:
            art = SpecifierSet(cuda)
        except InvalidSpecifier:
            art = None
        for b in release.builds:
            need = b.needs.get("cuda")
            if art is not None and b.variant and need is not None and any(
                    spec_allows(need, v) and spec_allows(art, v) for v in _SERIES):
                out.append(b.variant)
    elif ev.device_code is not None and not ev.device_code["sass"] and not ev.device_code["ptx"]:
        out.append("cpu")
    return out


def checkable(ev: Evidence) -> bool:
    """Whether the catalog has a family to compare this artifact with (frameworks, cuDNN)."""
    return ev.project in FRAMEWORK_OF or ev.project.startswith("nvidia-cudnn")


def _check_cudnn(cat: Catalog, ev: Evidence) -> list[Mismatch]:
    try:
        rec = cat.cudnn_release(Version(ev.version))
    except InvalidVersion:
        rec = None
    if rec is None:
        return [Mismatch("cudnn", "no record", f"{ev.project} {ev.version} exists", "cudnn")]
    return []


def _from_extras(ev: Evidence, comp: str) -> bool:
    mine = [p for p in ev.pins if component_of(p.name) == comp]
    return bool(mine) and all(p.extra for p in mine)


def _fmt(values: tuple[str, ...] | list[str] | None) -> str:
    return "[" + ", ".join(values or ()) + "]"


def _ccs(values: tuple[Version, ...]) -> tuple[str, ...]:
    return tuple(f"{v.major}.{v.minor}" for v in values)


# CCs CUDA renumbered: Jetson Thor was sm_101 in CUDA 12.8/12.9 and is sm_110 from CUDA 13.0 (arch.sm_110)
RENUMBERED = {"10.1": "11.0"}
_PARTS = {"cuda": 2, "cudnn": 3}
_SERIES = [Version(f"{major}.{minor}") for major in (10, 11, 12, 13, 14) for minor in range(10)]  # the granularity of the catalog's records: CUDA series, cuDNN x.y.z


def _coarse(spec: str, parts: int) -> SpecifierSet:
    """A requirement range at the catalog's granularity: `>=12.5.82` -> `>=12.5` for CUDA series.

    Bounds are cut to `parts` numbers (a series holds every longer version of it); `~=` keeps its
    own meaning and is left as written.
    """
    out = []
    for sp in SpecifierSet(spec):
        version = sp.version
        if sp.operator in (">=", ">", "<", "<=", "==", "!=") and "*" not in version:
            try:
                release = Version(version).release
            except InvalidVersion:
                release = ()
            if len(release) > parts:
                version = ".".join(map(str, release[:parts]))
        out.append(f"{sp.operator}{version}")
    return SpecifierSet(",".join(out))


def same_range(cat: Catalog, comp: str, need: SpecifierSet, artifact: str) -> bool:
    """Whether the catalog's `needs` range and an artifact's requirement range admit the same
    catalog records (CUDA series, cuDNN releases); other components compare as written."""
    try:
        art = _coarse(artifact, _PARTS.get(comp, 99))
    except (InvalidSpecifier, InvalidVersion):
        return False
    if comp == "cuda":
        known = cat.cuda_series()
    elif comp == "cudnn":
        known = sorted(c.version for c in cat.cudnn)
    else:
        return str(need) == str(art)
    return [v for v in known if spec_allows(need, v)] == [v for v in known if spec_allows(art, v)]


def split_arch_specific(cat: Catalog, ev: Evidence) -> tuple[list[str], list[str]]:
    """The artifact's SASS as the catalog states it: (`sass`, `sass_exact`).

    A CC present only as arch-specific code (`sm_100a`) runs on exactly that CC. When no later CC
    of its major exists in the catalog's architectures (9.0, 12.1) that is what `sass` says
    anyway; otherwise (10.0 next to 10.3, 12.0 next to 12.1) it belongs in `sass_exact`, or the
    binary-compatibility rule would carry it to GPUs it does not run on.
    """
    known = [a.cc for a in cat.architectures]
    sass, exact = [], []
    for cc in ev.sass or ():
        v = Version(cc)
        if cc in RENUMBERED and v not in known:
            continue  # an old name of an architecture the catalog records under its new CC
        later = any(k.major == v.major and k > v for k in known)
        (exact if cc in ev.arch_specific and later else sass).append(cc)
    return sass, exact


def _within(cat: Catalog, need: SpecifierSet, artifact: str) -> bool:
    """Every CUDA series the catalog's range admits is one the artifact allows (and there is one)."""
    allowed = [v for v in cat.cuda_series() if spec_allows(need, v)]
    return bool(allowed) and all(spec_allows(SpecifierSet(artifact), v) for v in allowed)


def check_evidence(cat: Catalog, ev: Evidence, ref: BuildRef | None = None) -> list[Mismatch]:
    """Every field on which the catalog build disagrees with the artifact ([] = all agree).

    `ref`: compare with this build instead of the one the artifact maps to (a labelled variant
    citing the registry's default wheel as the same build).
    """
    if ev.project.startswith("nvidia-cudnn"):
        return _check_cudnn(cat, ev)
    if not checkable(ev):
        return []
    ref = ref or find_build(cat, ev)
    if ref is None:
        framework = FRAMEWORK_OF.get(ev.project, "?")
        return [Mismatch("build", "none", f"{ev.project} {ev.version} ({ev.platform}) exists",
                         f"{framework} {ev.version}")]
    return [m for m, ok in compared_fields(cat, ev, ref) if not ok]


def compared_fields(cat: Catalog, ev: Evidence, ref: BuildRef) -> list[tuple[Mismatch, bool]]:
    """Every field of `ref` the evidence speaks to: (field, catalog value, artifact value), agrees?"""
    b = ref.build
    rec = f"{ref.release.id} [{b.variant or 'default'}]"
    out: list[tuple[Mismatch, bool]] = []

    def add(field: str, catalog: str, artifact: str, ok: bool) -> None:
        out.append((Mismatch(field, catalog, artifact, rec), ok))

    add("platforms", _fmt(list(b.platforms)), f"a {ev.platform} wheel ({ev.file})", ev.platform in b.platforms)
    kernels = [p.name for p in ev.pins if component_of(p.name) == "sglang-kernel" and not p.extra]
    uses_cuda = any(c in ev.components for c in _CUDA_COMPONENTS) or bool(kernels) or bool(
        ev.device_code and (ev.device_code["sass"] or ev.device_code["ptx"]))
    if ev.device_code is not None or uses_cuda:
        what = ("CUDA pins or device code" + (f" (GPU code in the pinned {kernels[0]})" if kernels else "")
                if uses_cuda else "no CUDA pins and no device code")
        add("gpu", str(b.gpu).lower(), what, uses_cuda == b.gpu)
    for comp in _COMPONENTS:
        art = ev.components.get(comp)
        have = b.bundled.get(comp)
        if art is None:
            continue
        if have is None and comp in b.needs and art[0].isdigit() and _from_extras(ev, comp):
            # an optional extra's pin (tensorflow[and-cuda]): one combination the build's needs must allow
            add(f"needs.{comp}", str(b.needs[comp]), f"{art} (pinned by an extra)",
                spec_allows(b.needs[comp], Version(art)))
            continue
        if art[0] in "<>=!~":  # a range, not a pin: compare with `needs`
            need = b.needs.get(comp)
            if need is None and comp in _UNMODELLED_RANGES:
                continue  # not modelled by the catalog for this build: nothing to disagree with
            if comp == "cuda" and re.fullmatch(r"==\d+\.\*", art):
                # only a -cuXY package name speaks (unversioned requirements): a major, not a range
                add("needs.cuda", str(need) if need is not None else "absent", f"CUDA {art[2:]} (package names)",
                    need is not None and _within(cat, need, art))
                continue
            add(f"needs.{comp}", str(need) if need is not None else "absent", art,
                need is not None and same_range(cat, comp, need, art))
            continue
        if have is None and comp in ("cublas", "nccl"):
            continue  # not modelled by the catalog for this build: nothing to disagree with
        add(f"bundled.{comp}", str(have) if have is not None else "absent", art, have is not None and str(have) == art)
    # an engine wheel without GPU code whose kernels are a pinned wheel: that wheel's evidence has the arch list
    in_kernel_wheel = bool(kernels) and ev.device_code is not None and not ev.device_code["sass"] \
        and not ev.device_code["ptx"]
    if ev.device_code is not None and not in_kernel_wheel:
        sass, ptx, exact = _ccs(b.sass), _ccs(b.ptx), _ccs(b.sass_exact)
        art_sass, art_exact = split_arch_specific(cat, ev)
        note = f" (sm_XYa code for [{', '.join(art_exact)}]: runs on exactly that CC)" if art_exact else ""
        renamed = [cc for cc in ev.sass or () if cc in RENUMBERED and Version(cc) not in {a.cc for a in cat.architectures}]
        note += "".join(f" (sm_{cc.replace('.', '')} is CUDA 12's name for CC {RENUMBERED[cc]}: not compared)"
                        for cc in renamed)
        add("sass", _fmt(sass), _fmt(art_sass) + note, tuple(art_sass) == sass)
        if art_exact or exact:
            add("sass_exact", _fmt(exact), _fmt(art_exact), tuple(art_exact) == exact)
        add("ptx", _fmt(ptx), _fmt(ev.device_code["ptx"]), tuple(ev.device_code["ptx"]) == ptx)
    out.extend(_python(cat, ref, ev, rec))
    return out


def _python(cat: Catalog, ref: BuildRef, ev: Evidence, rec: str) -> list[tuple[Mismatch, bool]]:
    spec = ref.release.python
    if spec is None:  # no range in the catalog: a gap the artifact can fill, not an agreement
        have = sorted((p for p in ev.python_files or () if p[0].isdigit()), key=Version)
        return [(Mismatch("python", "absent", "wheels for " + ", ".join(have), rec), False)] if have else []
    known = [f"{p.major}.{p.minor}" for p in cat.python_series()]
    if ev.python_files is not None:
        have = {p for p in ev.python_files if p[0].isdigit()}
        if any(not p[0].isdigit() for p in ev.python_files):
            return []  # abi3 / py3 wheels: the range comes from Requires-Python, not the files
        allowed = {p for p in known if spec_allows(spec, Version(p))}
        have_known = have & set(known)
        return [(Mismatch("python", f"{spec} ({', '.join(sorted(allowed, key=Version))})",
                          "wheels for " + ", ".join(sorted(have, key=Version)), rec), have_known == allowed)]
    out = []
    for tag in ev.tags:
        interp = tag.split("-", 1)[0]
        if interp.startswith("cp3") and interp[3:].isdigit():
            py = Version(f"3.{interp[3:]}")
            out.append((Mismatch("python", str(spec), f"a wheel for Python {py} ({ev.file})", rec),
                        spec_allows(spec, py)))
    return out


def evidence_problems(cat: Catalog, folder: str | Path) -> list[Problem]:
    """Problems of the builds that cite evidence: a missing or unreadable file, or a disagreement.

    Offline: reads only the JSON files in `folder` (the catalog's `evidence/`).
    """
    problems: list[Problem] = []
    folder = Path(folder)
    for release in cat.frameworks:
        for i, build in enumerate(release.builds):
            for name in build.evidence:
                where = f"builds[{i}].evidence"
                try:
                    ev = load_evidence(folder / name)
                except EvidenceInvalid as e:
                    problems.append(Problem(release.file, release.id, where, str(e)))
                    continue
                ref = find_build(cat, ev)
                if ref is None or ref.release is not release:
                    found = f"{ref.release.id} ({ref.build.variant or 'default'})" if ref else "no build"
                    problems.append(Problem(release.file, release.id, where,
                                            f"{name} describes {ev.project} {ev.version} ({ev.platform}), which "
                                            f"matches {found}, not this release"))
                    continue
                # the build the file maps to, or another build of the release citing it as the same build
                mine = BuildRef(release, build, ref.version)
                for m in check_evidence(cat, ev, mine):
                    problems.append(Problem(release.file, release.id, f"builds[{i}].{m.field}",
                                            f"catalog says {m.catalog}, artifact says {m.artifact} ({name})"))
    return problems
