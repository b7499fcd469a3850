"""The validator's rules: slots (what a node offers), request/node rules and runtime rules.

Split from `validate.py` (the executable spec; see its docstring for the conventions), which
re-exports every public name here. Like `validate.py`, this module imports nothing from the
solver's facts, rules, groups or engines: it re-reads the catalog records an answer names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from catalog import BuildRef, Catalog
from catalog.compat import (
    binary_path,
    check_driver,
    check_driver_window,
    check_kernels,
    check_precision,
    check_toolkit_arch,
    cudnn_supports,
    driver_cuda,
    rules_driver,
)
from catalog.gpunames import inventory_product
from catalog.versions import is_prefix, same_series, spec_allows
from solver.inputs.inventory import Inventory
from solver.inputs.request import ModelRequest

__all__ = [
    "COMPONENT_KEYS",
    "Slot",
    "Violation",
    "allowed_series",
    "find_builds",
    "pair_violations",
    "planning_slots",
    "runtime_only_violations",
    "runtime_violations",
    "slot_violations",
    "slots_of",
]

COMPONENT_KEYS = ("cuda", "cudnn", "tensorrt", "python")


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str
    where: str = "choice"


@dataclass(frozen=True)
class Slot:
    """One place an answer can point at: a GPU product on a node (or a node's CPU, or a product)."""

    node: str | None
    cluster: str | None
    arch: str                  # host CPU arch
    platform: str              # build platform the slot needs: x86_64 | aarch64 | jetson
    product: str | None        # catalog name when known; None for a CPU slot
    cc: Version | None
    memory_mib: int | None
    count: int
    free: int
    driver: Version | None
    mig_profile: str | None = None   # a MIG slot: `count` is 1 (one MIG device per process), `free` its free devices


def _v(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def allowed_series(spec: SpecifierSet, v: Version) -> bool:
    """A series version ("3.11") is allowed when it or one of its patch releases is.

    The versions a specifier set admits form intervals bounded by the versions it names, so it is
    enough to test the series' first and a very late patch release plus every bound inside the
    series and its neighbours (exact, and cheap compared with scanning patch numbers).
    """
    if spec_allows(spec, v):
        return True
    if len(v.release) > 2:
        return False
    rel = tuple(v.release) + (0,) * (2 - len(v.release))
    probes = {f"{rel[0]}.{rel[1]}.0", f"{rel[0]}.{rel[1]}.999999"}
    for item in spec:
        try:
            b = Version(item.version.rstrip(".*"))
        except InvalidVersion:
            continue
        r = tuple(b.release)
        if r[:2] == rel and len(r) >= 3:
            probes.update({".".join(map(str, r)), ".".join(map(str, (*r[:-1], r[-1] + 1))), ".".join(map(str, r)) + ".1",
                           ".".join(map(str, (*r[:-1], max(r[-1] - 1, 0))))})
    return any(spec_allows(spec, Version(p)) for p in probes)


# -- inventory side ---------------------------------------------------------------------------
def slots_of(catalog: Catalog, inventory: Inventory, *, gpu: bool) -> list[Slot]:
    """Every GPU slot (node x product, entries of one product merged) or every CPU slot (node)."""
    out: list[Slot] = []
    for node in inventory.nodes:
        if not gpu:
            out.append(Slot(node.name, node.cluster, node.arch, node.arch, None, None, None,
                            sum(g.count for g in node.gpus), sum(g.free for g in node.gpus), node.driver_version))
            continue
        merged: dict[tuple, list[int]] = {}
        for g in node.gpus:
            known = inventory_product(catalog, g.product, g.memory_mib)   # a shared name: its smallest module
            name = known.name if known else g.product
            mem = g.unit_memory_mib or (known.memory_mib if known and g.mig_profile is None else None)
            cc = g.compute_capability or (known.cc if known else None)
            platform = known.platform if known and known.platform else node.arch
            driver = node.driver_version
            if node.cuda_driver_version is not None or node.l4t_version is not None or driver is not None:
                driver = rules_driver(catalog, known, driver, cuda_driver=node.cuda_driver_version, l4t=node.l4t_version)
            tot = merged.setdefault((name, mem, cc, platform, g.mig_profile, driver), [0, 0])
            tot[0] += g.count
            tot[1] += g.free
        for (name, mem, cc, platform, mig, driver), (count, free) in merged.items():
            out.append(Slot(node.name, node.cluster, node.arch, platform, name, cc, mem,
                            1 if mig is not None else count, free, driver, mig))
    return out


def planning_slots(catalog: Catalog, request: ModelRequest) -> list[Slot]:
    """Hardware planning: each catalog product, on a host the request allows, with a current driver."""
    driver = max((t.min_driver for t in catalog.cuda_toolkits), default=None)
    allowed = request.arch or ("x86_64", "aarch64")
    host = "x86_64" if "x86_64" in allowed else allowed[0]
    out = []
    for g in catalog.gpus:
        if g.segment not in request.planning_segments:  # the request's (or the default) planning segments
            continue
        platform = g.platform or host
        arch = "aarch64" if platform in ("jetson", "aarch64") else "x86_64"
        n = max(request.gpu_count, 1)
        out.append(Slot(None, None, arch, platform, g.name, g.cc, g.memory_mib, n, n, driver))
    return out


def slot_violations(catalog: Catalog, request: ModelRequest, slot: Slot) -> list[Violation]:
    """Node rules: CPU arch, GPU presence, memory, count, free GPUs, precision, engine CC."""
    out: list[Violation] = []
    if request.arch is not None and slot.arch not in request.arch:
        out.append(Violation("arch-not-allowed", f"{slot.node} is {slot.arch}, request allows {request.arch}"))
    if not request.uses_gpu:
        return out
    if slot.cc is None:
        return [*out, Violation("no-gpu", f"{slot.node} offers no GPU")]
    need = request.min_memory_mib
    if need and (slot.memory_mib is None or slot.memory_mib < need):
        out.append(Violation("gpu-memory", f"{slot.product} has {slot.memory_mib} MiB < {need} MiB"))
    if slot.count < request.gpu_count:
        out.append(Violation("gpu-count", f"{slot.node} has {slot.count} x {slot.product} < {request.gpu_count}"))
    elif slot.free < request.gpu_count:
        out.append(Violation("no-free-gpu", f"{slot.node} has {slot.free} free {slot.product} < {request.gpu_count}"))
    prec = check_precision(catalog, request.precision, slot.cc)
    if not prec.ok:
        out.append(Violation(prec.rule, prec.message))
    fmt = request.format
    if fmt is not None and fmt.kind == "tensorrt-engine" and fmt.compute_capability is not None \
            and fmt.compute_capability != slot.cc:
        out.append(Violation("trt-engine-cc", f"engine built on CC {fmt.compute_capability}, GPU is {slot.cc}"))
    return out


# -- runtime side -----------------------------------------------------------------------------
def find_builds(catalog: Catalog, framework: str, label: str) -> list[BuildRef]:
    """Every catalog build whose label is `label` (several builds may share an unlabelled version)."""
    want = _v(label)
    if want is None:
        return []
    return [BuildRef(rel, b, ver) for rel in catalog.releases(framework) for ver in rel.versions
            for b in rel.builds if ver.public == want.public and Version(BuildRef(rel, b, ver).label) == want]


def _expect(out: list[Violation], present: bool, wanted: bool, key: str, why: str) -> None:
    if present and not wanted:
        out.append(Violation("runtime-shape", f"runtime has `{key}` but {why}"))
    elif wanted and not present:
        out.append(Violation("runtime-shape", f"runtime lacks `{key}`: {why}"))


def _cudnn_ok(catalog: Catalog, cudnn: Version, cuda: Version, cc: Version | None,
              driver: Version | None) -> Violation | None:
    rec = catalog.cudnn_release(cudnn)
    if rec is None:
        return Violation("unknown-cudnn", f"cuDNN {cudnn} is not in the catalog")
    builds = [b for b in rec.builds if spec_allows(b.cuda, cuda)]
    if not builds:
        return Violation("cudnn-cuda", f"cuDNN {cudnn} ({rec.id}) has no build for CUDA {cuda}")
    if cc is None:
        return None
    if not any(b.cc is None or cudnn_supports(b.cc, cc) for b in builds):
        return Violation("cudnn-no-gpu-support", f"cuDNN {cudnn} for CUDA {cuda} ({rec.id}) does not list CC {cc}")
    if not any((b.cc is None or cudnn_supports(b.cc, cc)) and (b.min_driver is None or (driver is not None and driver >= b.min_driver))
               for b in builds):
        return Violation("driver-too-old", f"driver {driver} is below cuDNN {cudnn}'s minimum for CUDA {cuda}")
    return None


def _shape(request: ModelRequest, ref: BuildRef | None, rt: Mapping[str, Version]) -> list[Violation]:
    out: list[Violation] = []
    fw = request.framework
    gpu = request.uses_gpu
    bundled = ref.build.bundled if ref else {}
    needs = ref.build.needs if ref else {}
    if ref is not None and ref.build.gpu != gpu:
        out.append(Violation("build-kind", f"{fw} {ref.label} is a {'GPU' if ref.build.gpu else 'CPU'} build; "
                             f"the request is {'GPU' if gpu else 'CPU-only'}"))
    _expect(out, "cuda" in rt, gpu, "cuda", "GPU runtimes name their CUDA, CPU runtimes have none")
    _expect(out, "python" in rt, fw != "none" or not gpu or request.python is not None
            or request.required("python") is not None, "python", "framework and CPU runtimes name Python")
    want_cudnn = gpu and ("cudnn" in bundled or "cudnn" in needs
                          or (fw == "none" and request.required("cudnn") is not None))
    _expect(out, "cudnn" in rt, want_cudnn, "cudnn", "cuDNN appears when the build bundles or needs it")
    if fw != "tensorrt":
        _expect(out, "tensorrt" in rt, "tensorrt" in bundled or "tensorrt" in needs, "tensorrt",
                "TensorRT appears when the build bundles or needs it")
    return out


def _parse_runtime(request: ModelRequest, runtime: Mapping[str, str], ref: BuildRef | None
                   ) -> tuple[dict[str, Version], list[Violation]]:
    fw = request.framework
    known = set(COMPONENT_KEYS) | ({fw} if fw != "none" else set())
    torch = ref.build.bundled.get("pytorch") if ref is not None and fw != "pytorch" else None
    if torch is not None:
        known.add("pytorch")
    out = [Violation("runtime-shape", f"unknown runtime key `{k}`") for k in runtime if k not in known]
    if torch is not None and _v(runtime.get("pytorch", "")) != torch:
        out.append(Violation("runtime-shape", f"{fw} {ref.label} pins torch {torch}; the runtime says "
                             f"{runtime.get('pytorch')!r}"))
    rt: dict[str, Version] = {}
    for k, text in runtime.items():
        v = _v(text)
        if v is None:
            out.append(Violation("runtime-shape", f"runtime `{k}` = {text!r} is not a version"))
        elif k in COMPONENT_KEYS:
            rt[k] = v
    if fw == "tensorrt" and ref is not None:
        rt["tensorrt"] = ref.version
    return rt, out


def runtime_violations(catalog: Catalog, request: ModelRequest, runtime: Mapping[str, str],
                       slot: Slot, ref: BuildRef | None) -> list[Violation]:
    """Every rule a runtime (built on `ref`, None for framework none) breaks on `slot`."""
    return runtime_only_violations(catalog, request, runtime, ref) + pair_violations(
        catalog, request, runtime, slot, ref)


def pair_violations(catalog: Catalog, request: ModelRequest, runtime: Mapping[str, str], slot: Slot,
                    ref: BuildRef | None) -> list[Violation]:
    """The rules that read the slot: platform, kernels, toolkit arch, driver, cuDNN CC and driver."""
    rt, _ = _parse_runtime(request, runtime, ref)
    cuda, cudnn = rt.get("cuda"), rt.get("cudnn")
    out = _pair(catalog, request, slot, ref, cuda)
    if cudnn is not None and cuda is not None and request.uses_gpu and slot.cc is not None:
        bad = _cudnn_ok(catalog, cudnn, cuda, slot.cc, slot.driver)
        if bad is not None and bad.rule in ("cudnn-no-gpu-support", "driver-too-old"):
            out.append(bad)
    return out


def runtime_only_violations(catalog: Catalog, request: ModelRequest,  # noqa: C901
                            runtime: Mapping[str, str], ref: BuildRef | None) -> list[Violation]:
    """The rules a runtime breaks whatever the slot: shape, versions, request filters."""
    fw = request.framework
    rt, out = _parse_runtime(request, runtime, ref)
    out += _shape(request, ref, rt)
    bundled = ref.build.bundled if ref else {}
    needs = ref.build.needs if ref else {}
    if ref is not None and request.framework_version is not None and not spec_allows(
            request.framework_version, Version(ref.label)):
        out.append(Violation("framework-version", f"{fw} {ref.label} outside {request.framework_version}"))
    py = rt.get("python")
    if py is not None:
        if py not in catalog.python_series():
            out.append(Violation("unknown-python", f"Python {py} is not a catalog series"))
        for spec, what in ((ref.release.python if ref else None, "the release"), (needs.get("python"), "the build"),
                           (request.python, "the request")):
            if spec is not None and not allowed_series(spec, py):
                out.append(Violation("python-version", f"Python {py} outside {spec} of {what}"))
    cuda = rt.get("cuda")
    if cuda is not None:
        if not catalog.toolkits_in_series(cuda):
            out.append(Violation("unknown-cuda", f"CUDA {cuda} has no toolkit in the catalog"))
        if "cuda" in bundled and not same_series(cuda, bundled["cuda"]):
            out.append(Violation("cuda-mismatch", f"{ref.label if ref else ''} bundles CUDA {bundled['cuda']}, not {cuda}"))
        if "cuda" in needs and not (allowed_series(needs["cuda"], cuda) or any(
                spec_allows(needs["cuda"], t.version) for t in catalog.toolkits_in_series(cuda))):
            out.append(Violation("cuda-mismatch", f"CUDA {cuda} outside the build's needs {needs['cuda']}"))
    cudnn = rt.get("cudnn")
    if cudnn is not None:
        if "cudnn" in bundled and not (cudnn == bundled["cudnn"] or is_prefix(cudnn, bundled["cudnn"])
                                       or is_prefix(bundled["cudnn"], cudnn)):
            out.append(Violation("cudnn-mismatch", f"the build bundles cuDNN {bundled['cudnn']}, not {cudnn}"))
        if "cudnn" in needs and not spec_allows(needs["cudnn"], cudnn):
            out.append(Violation("cudnn-mismatch", f"cuDNN {cudnn} outside the build's needs {needs['cudnn']}"))
        if cuda is not None:
            bad = _cudnn_ok(catalog, cudnn, cuda, None, None)
            if bad is not None:
                out.append(bad)
    trt = rt.get("tensorrt")
    if trt is not None and fw != "tensorrt":
        if "tensorrt" in bundled and trt != bundled["tensorrt"]:
            out.append(Violation("tensorrt-mismatch", f"the build bundles TensorRT {bundled['tensorrt']}, not {trt}"))
        if "tensorrt" in needs and not spec_allows(needs["tensorrt"], trt):
            out.append(Violation("tensorrt-mismatch", f"TensorRT {trt} outside the build's needs {needs['tensorrt']}"))
        if trt not in {v for r in catalog.releases("tensorrt") for v in r.versions}:
            out.append(Violation("unknown-tensorrt", f"TensorRT {trt} is not in the catalog"))
    for kind, spec in request.requires:
        have = (ref.version if ref else None) if kind == fw else rt.get(kind)
        if kind == "pytorch" and have is None and ref is not None and fw != "pytorch":
            have = ref.build.bundled.get("pytorch")
        if have is None or not allowed_series(spec, have):
            out.append(Violation("requires", f"requires.{kind} {spec}: runtime has {have}"))
    fmt = request.format
    if fmt is not None and fmt.kind == "onnx" and fmt.opset is not None and ref is not None \
            and ref.release.max_opset is not None and fmt.opset > ref.release.max_opset:
        out.append(Violation("opset-too-new", f"opset {fmt.opset} > {ref.release.id} max {ref.release.max_opset}"))
    if fmt is not None and fmt.kind == "tensorrt-engine" and request.uses_gpu:
        want = fmt.tensorrt_version
        if trt is None or (want is not None and not (trt == want or is_prefix(trt, want) or is_prefix(want, trt))):
            out.append(Violation("trt-engine-version", f"engine built with TensorRT {want}, runtime has {trt}"))
    return out


def _pair(catalog: Catalog, request: ModelRequest, slot: Slot, ref: BuildRef | None,
          cuda: Version | None) -> list[Violation]:
    out: list[Violation] = []
    if ref is not None and slot.platform not in ref.build.platforms:
        out.append(Violation("platform-mismatch", f"{ref.label} is built for {ref.build.platforms}, not {slot.platform}"))
    if not request.uses_gpu or slot.cc is None:
        return out
    path = "ptx"
    if ref is not None:
        kern = check_kernels(catalog, ref, slot.cc)
        if not kern.ok:
            out.append(Violation(kern.rule, kern.message))
        path = binary_path(ref.build, slot.cc) or "ptx"
    if cuda is not None:
        dcuda = driver_cuda(catalog, ref.build if ref is not None else None, cuda, path)  # type: ignore[arg-type]
        for check in (check_toolkit_arch(catalog, cuda, slot.cc), check_driver(catalog, dcuda, slot.driver, path),
                      check_driver_window(catalog, slot.cc, slot.driver)):
            if not check.ok:
                out.append(Violation(check.rule, check.message))
    return out


# -- whole answers --------------------------------------------------------------------------------
