"""Section parsers: one function per record kind, raw YAML mapping -> typed record.

Each parser reads its fields through a `RecordReader` (which collects problems) and returns the
record, or None when any field was bad. Unknown fields are reported, so a typo such as
`min_drvier` is caught instead of silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from catalog.fields import RecordReader
from catalog.model import (
    FRAMEWORKS,
    INTERCONNECTS,
    PIN_RULES,
    PLATFORMS,
    PRECISIONS,
    SEGMENTS,
    Architecture,
    CudaImage,
    CudaToolkit,
    CudnnBuild,
    CudnnRelease,
    Discrepancy,
    DriverBranch,
    Fact,
    FrameworkBuild,
    FrameworkRelease,
    GpuProduct,
    JetsonStack,
    MvcFloor,
    NgcContainer,
    NumericFormat,
    NvidiaWheel,
    PipChannel,
    PythonSeries,
    Source,
)
from catalog.versions import parse_spec, parse_version

__all__ = ["SECTION_PARSERS", "parse_source"]

_ENVELOPE = {"id", "source", "confidence", "note"}
_CONFIDENCE = ("high", "medium", "low")
_QUALITIES = ("primary", "primary-copy", "secondary", "observation", "registry")


def parse_source(r: RecordReader) -> Source | None:
    sid, doc, url = r.str("id"), r.str("doc"), r.str("url")
    quality = r.str("quality", choices=_QUALITIES)
    r.check_unknown_fields({"id", "doc", "url", "quality", "note"})
    if not r.ok or sid is None or doc is None or url is None or quality is None:
        return None
    return Source(id=sid, doc=doc, url=url, quality=quality, file=r.file)


def _size(r: RecordReader) -> dict[str, Any]:
    size = r.int("size_bytes", required=False, minimum=1)
    size_sources = r.str_list("size_source")
    if size is not None and not size_sources:
        r.fail("size_source", "size_bytes needs a size_source naming where the size comes from")
    return {"size_bytes": size, "size_sources": size_sources}


def _finish(r: RecordReader, cls: type, allowed: set[str], **values: Any) -> Any:
    r.check_unknown_fields(allowed | _ENVELOPE)
    return cls(**values) if r.ok else None


def parse_driver_branch(r: RecordReader) -> DriverBranch | None:
    return _finish(
        r, DriverBranch, set(), **r.common(),
        branch=r.int("branch", minimum=1), max_cuda=r.version("max_cuda"),
        lts=r.bool("lts", False), eol=r.str("eol", required=False),
    )


def parse_cuda_toolkit(r: RecordReader) -> CudaToolkit | None:
    return _finish(
        r, CudaToolkit, {"size_bytes", "size_source"}, **r.common(),
        version=r.version("version"), label=r.str("label"), min_driver=r.driver("min_driver"),
        min_driver_windows=r.str("min_driver_windows", required=False), **_size(r),
    )


def parse_mvc_floor(r: RecordReader) -> MvcFloor | None:
    return _finish(
        r, MvcFloor, set(), **r.common(),
        cuda_major=r.int("cuda_major", minimum=1), min_driver=r.driver("min_driver"),
    )


def parse_architecture(r: RecordReader) -> Architecture | None:
    return _finish(
        r, Architecture, set(), **r.common(),
        cc=r.version("cc"), name=r.str("name"), first_cuda=r.version("first_cuda", required=False),
        deprecated_in=r.version("deprecated_in", required=False), removed_in=r.version("removed_in", required=False),
        last_driver_branch=r.int("last_driver_branch", required=False, minimum=1),
    )


def parse_gpu(r: RecordReader) -> GpuProduct | None:
    return _finish(
        r, GpuProduct, set(), **r.common(),
        name=r.str("name"), cc=r.version("cc"), architecture=r.str("architecture"),
        segment=r.str("segment", choices=SEGMENTS), aliases=r.str_list("aliases"),
        memory_mib=r.int("memory_mib", required=False, minimum=1),
        platform=r.str("platform", required=False, choices=PLATFORMS),
        interconnect=r.str("interconnect", required=False, choices=INTERCONNECTS),
    )


def _prefix_problems(r: RecordReader, start: int, prefix: str) -> None:
    """Name nested fields fully (builds[1].cuda) in the problems recorded since `start`."""
    for k in range(start, len(r.problems)):
        p = r.problems[k]
        r.problems[k] = type(p)(p.file, p.record, f"{prefix}.{p.field}" if p.field else prefix, p.message)


def _cudnn_builds(r: RecordReader) -> tuple[CudnnBuild, ...]:
    raw = r.raw.get("builds")
    r.used.add("builds")
    if not isinstance(raw, list) or not raw:
        r.fail("builds", "must be a non-empty list of {cuda, min_driver?, cc?}")
        return ()
    builds = []
    for i, b in enumerate(raw):
        start = len(r.problems)
        sub = RecordReader(file=r.file, section="builds", index=i, raw=b, problems=r.problems)
        sub.record = r.record
        cuda = sub.spec("cuda")
        min_driver = sub.driver("min_driver", required=False)
        cc = sub.version_list("cc")
        sub.check_unknown_fields({"cuda", "min_driver", "cc", "note"})
        _prefix_problems(r, start, f"builds[{i}]")
        if not sub.ok or cuda is None:
            r.ok = False
            continue
        builds.append(CudnnBuild(cuda=cuda, min_driver=min_driver, cc=cc))
    return tuple(builds)


def parse_cudnn(r: RecordReader) -> CudnnRelease | None:
    common = r.common()
    builds = _cudnn_builds(r)
    return _finish(r, CudnnRelease, {"size_bytes", "size_source"}, **common,
                   version=r.version("version"), builds=builds, **_size(r))


def parse_python(r: RecordReader) -> PythonSeries | None:
    return _finish(r, PythonSeries, set(), **r.common(), version=r.version("version"))


def _framework_build(r: RecordReader, raw: Any, i: int) -> FrameworkBuild | None:
    sub = RecordReader(file=r.file, section="builds", index=i, raw=raw, problems=r.problems)
    sub.record = r.record
    start = len(r.problems)
    variant = sub.str("variant", required=False)
    platforms = sub.str_list("platforms", required=True, choices=PLATFORMS)
    bundled: dict[str, Any] = {}
    for kind, value in sub.mapping("bundled").items():
        try:
            bundled[str(kind)] = parse_version(value)
        except ValueError as e:
            sub.fail(f"bundled.{kind}", f"not a valid version: {value!r} ({e})")
    needs: dict[str, Any] = {}
    for kind, value in sub.mapping("needs").items():
        try:
            needs[str(kind)] = parse_spec(value)
        except ValueError as e:
            sub.fail(f"needs.{kind}", f"not a valid PEP 440 specifier: {value!r} ({e})")
    build_sources = sub.str_list("source")
    values = dict(
        variant=variant, platforms=platforms, bundled=bundled, needs=needs,
        sass=sub.version_list("sass") or (), ptx=sub.version_list("ptx") or (),
        sass_exact=sub.version_list("sass_exact") or (),
        cc_range=sub.spec("cc_range", required=False), gpu=sub.bool("gpu", True),
        sources=build_sources, evidence=sub.str_list("evidence"), toolkit=sub.version("toolkit", required=False),
        confidence=sub.str("confidence", required=False, choices=_CONFIDENCE), **_size(sub),
    )
    for name in values["evidence"]:
        if not name.endswith(".json") or "/" in name or name.startswith("."):
            sub.fail("evidence", f"{name!r} is not an evidence file name (project-version-platform.json)")
    sub.check_unknown_fields({"variant", "platforms", "bundled", "needs", "sass", "ptx", "cc_range", "gpu",
                              "size_bytes", "size_source", "source", "note", "confidence", "evidence",
                              "toolkit", "sass_exact"})
    _prefix_problems(r, start, f"builds[{i}]")
    if not sub.ok:
        r.ok = False
        return None
    return FrameworkBuild(**values)


def parse_framework_release(r: RecordReader) -> FrameworkRelease | None:
    common = r.common()
    raw_builds = r.raw.get("builds")
    r.used.add("builds")
    builds = []
    if not isinstance(raw_builds, list) or not raw_builds:
        r.fail("builds", "must be a non-empty list of builds")
    else:
        builds = [b for i, raw in enumerate(raw_builds) if (b := _framework_build(r, raw, i)) is not None]
    versions = r.version_list("versions", required=True)
    if versions == ():
        r.fail("versions", "must list at least one released version")
    return _finish(
        r, FrameworkRelease, set(), **common,
        framework=r.str("framework", choices=FRAMEWORKS), series=r.str("series"), versions=versions,
        python=r.spec("python", required=False), builds=tuple(builds),
        max_opset=r.int("max_opset", required=False, minimum=1),
    )


def parse_numeric_format(r: RecordReader) -> NumericFormat | None:
    return _finish(
        r, NumericFormat, set(), **r.common(),
        precision=r.str("precision", choices=PRECISIONS), min_cc=r.version("min_cc", required=False),
        cc_allowed=r.version_list("cc_allowed"),
    )


def parse_jetson_stack(r: RecordReader) -> JetsonStack | None:
    return _finish(
        r, JetsonStack, set(), **r.common(),
        jetpack=r.str("jetpack"), l4t=r.str("l4t", required=False), cuda=r.version("cuda", required=False),
        cudnn=r.version("cudnn", required=False), tensorrt=r.version("tensorrt", required=False),
        gpus=r.str_list("gpus"), driver=r.driver("driver", required=False),
    )


def parse_fact(r: RecordReader) -> Fact | None:
    return _finish(r, Fact, set(), **r.common(), topic=r.str("topic"), text=r.str("text"))


def parse_discrepancy(r: RecordReader) -> Discrepancy | None:
    return _finish(
        r, Discrepancy, set(), **r.common(),
        text=r.str("text"), chosen=r.str("chosen", required=False), records=r.str_list("records"),
    )


def _regex(r: RecordReader, name: str) -> str | None:
    value = r.str(name, required=False)
    if value is not None and value != "none":
        try:
            re.compile(value)
        except re.error as e:
            r.fail(name, f"not a valid regular expression: {value!r} ({e})")
    return value


def _template(r: RecordReader, name: str, *, required: bool) -> str | None:
    value = r.str(name, required=required)
    if value is not None:
        try:
            value.format(variant="x", cuda_major="0")
        except (KeyError, IndexError, ValueError) as e:
            r.fail(name, f"template may use only {{variant}} and {{cuda_major}}: {value!r} ({e})")
    return value


def _templates(r: RecordReader, name: str) -> tuple[str, ...]:
    values = r.str_list(name)
    for value in values:
        try:
            value.format(variant="x", cuda_major="0")
        except (KeyError, IndexError, ValueError) as e:
            r.fail(name, f"template may use only {{variant}} and {{cuda_major}}: {value!r} ({e})")
    return values


def parse_pip_channel(r: RecordReader) -> PipChannel | None:
    gpu = r.raw.get("gpu")
    r.used.add("gpu")
    if gpu is not None and not isinstance(gpu, bool):
        r.fail("gpu", f"must be true, false or absent (any), got {gpu!r}")
    return _finish(
        r, PipChannel, set(), **r.common(),
        framework=r.str("framework", choices=FRAMEWORKS), package=_template(r, "package", required=True),
        gpu=gpu if isinstance(gpu, bool) else None, variant=_regex(r, "variant"),
        versions=r.spec("versions", required=False), extras=_templates(r, "extras"),
        index_url=_template(r, "index_url", required=False),
        index_role=r.str("index_role", required=False, choices=("index", "extra")) or "index",
        pin_label=r.bool("pin_label", False), nvidia_wheels=r.str_list("nvidia_wheels"),
        companions=_templates(r, "companions"),
        conda_package=r.str("conda_package", required=False), conda_build=r.str("conda_build", required=False),
    )


def parse_nvidia_wheel(r: RecordReader) -> NvidiaWheel | None:
    return _finish(
        r, NvidiaWheel, set(), **r.common(),
        component=r.str("component"), cuda_major=r.int("cuda_major", minimum=1), package=r.str("package"),
        pin_from=r.str("pin_from", required=False, choices=("cuda", "cudnn")) or "cuda",
        pin=r.str("pin", required=False, choices=PIN_RULES) or "series",
        versions=r.spec("versions", required=False),
    )


def parse_ngc_container(r: RecordReader) -> NgcContainer | None:
    return _finish(
        r, NgcContainer, set(), **r.common(),
        framework=r.str("framework", choices=FRAMEWORKS), release=r.str("release"), image=r.str("image"),
        kind=r.str("kind", required=False, choices=("framework", "server")) or "framework",
        framework_version=r.str("framework_version"), cuda=r.version("cuda"),
        cudnn=r.version("cudnn", required=False), tensorrt=r.version("tensorrt", required=False),
        python=r.version("python", required=False), ubuntu=r.str("ubuntu", required=False),
        min_driver=r.driver("min_driver", required=False),
    )


def parse_cuda_image(r: RecordReader) -> CudaImage | None:
    cuda, os_name = r.version("cuda"), r.str("os")
    flavor = r.str("flavor", required=False, choices=("base", "runtime", "devel")) or "base"
    image = r.str("image")
    if cuda is not None and os_name and image and image != f"nvidia/cuda:{cuda}-{flavor}-{os_name}":
        r.fail("image", f"expected nvidia/cuda:{cuda}-{flavor}-{os_name} (NVIDIA's tag scheme), got {image}")
    return _finish(r, CudaImage, set(), **r.common(), cuda=cuda, os=os_name, flavor=flavor, image=image)


SECTION_PARSERS: dict[str, Callable[[RecordReader], Any]] = {
    "driver_branches": parse_driver_branch,
    "cuda_toolkits": parse_cuda_toolkit,
    "mvc_floors": parse_mvc_floor,
    "architectures": parse_architecture,
    "gpus": parse_gpu,
    "cudnn": parse_cudnn,
    "python": parse_python,
    "framework_releases": parse_framework_release,
    "numeric_formats": parse_numeric_format,
    "jetson_stacks": parse_jetson_stack,
    "facts": parse_fact,
    "discrepancies": parse_discrepancy,
    "pip_channels": parse_pip_channel,
    "nvidia_wheels": parse_nvidia_wheel,
    "ngc_containers": parse_ngc_container,
    "cuda_images": parse_cuda_image,
}
