"""pip requirements for a chosen runtime, derived from the catalog's install rows.

The framework build comes from the runtime mapping (`pytorch: 2.6.0+cu126` -> the catalog build
of 2.6.0 with variant cu126); the first `pip_channels` row of its family that matches (gpu flag,
variant pattern, version range) names the package, extras and index; the `nvidia_wheels` rows the
channel asks for add the NVIDIA wheels that carry CUDA libraries, pinned from the runtime's CUDA
and cuDNN versions. Nothing here names a framework version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from catalog import BuildRef, Catalog
from catalog.model import NvidiaWheel, PipChannel
from solver.install.errors import NoRecipe

__all__ = ["PipRecipe", "find_build", "pip_recipe", "pin"]


@dataclass(frozen=True)
class PipRecipe:
    """Exact requirement lines plus the package indexes they need."""

    requirements: tuple[str, ...]
    index_url: str | None             # None = PyPI
    extra_index_urls: tuple[str, ...]
    records: tuple[str, ...]          # catalog record ids the lines came from

    def index_args(self) -> list[str]:
        out = []
        if self.index_url is not None:
            out += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            out += ["--extra-index-url", url]
        return out

    def lines(self) -> list[str]:
        """requirements.txt lines: index options first, then one pinned requirement per line."""
        head = [f"--index-url {self.index_url}"] if self.index_url is not None else []
        head += [f"--extra-index-url {u}" for u in self.extra_index_urls]
        return head + list(self.requirements)

    def to_dict(self) -> dict[str, Any]:
        return {"requirements": list(self.requirements), "index_url": self.index_url,
                "extra_index_urls": list(self.extra_index_urls), "records": list(self.records)}


def find_build(catalog: Catalog, framework: str, label: str, *, gpu: bool) -> BuildRef:
    """The catalog build a runtime names: version and variant equal, GPU builds for GPU runtimes."""
    try:
        want = Version(label)
    except InvalidVersion as e:
        raise NoRecipe(f"{framework} version {label!r} is not a valid version") from e
    matches = []
    for ref in catalog.builds(framework):
        if ref.version.public != want.public:
            continue
        if want.local is not None and ref.build.variant != want.local:
            continue
        if want.local is None and ref.build.variant is not None and ref.version.local is None:
            continue
        matches.append(ref)
    if not matches:
        raise NoRecipe(f"the catalog has no {framework} build {label}")
    same = [r for r in matches if r.build.gpu == gpu]
    return (same or matches)[0]


def pin(version: Version, rule: str) -> str:
    """A PEP 440 pin of `version` by rule: exact (==9.1.0.70, or ==9.3.* for a short version),
    series (==12.6.*), major (==12.*), none ("")."""
    rel = version.release
    if rule == "none":
        return ""
    if rule == "major":
        return f"=={rel[0]}.*"
    if rule == "series":
        return f"=={rel[0]}.{rel[1] if len(rel) > 1 else 0}.*"
    if len(rel) >= 4 or version.pre or version.post:
        return f"=={version}"
    return f"=={version}.*"


def _channel(catalog: Catalog, ref: BuildRef, gpu: bool) -> PipChannel:
    for row in catalog.pip_channels:
        if row.matches(framework=ref.framework, variant=ref.build.variant, gpu=gpu, version=ref.version):
            return row
    variant = ref.build.variant or "no variant"
    raise NoRecipe(f"no pip_channels row of the catalog covers {ref.framework} {ref.version} ({variant}, "
                   f"{'GPU' if gpu else 'CPU'}); add one to catalog/data/install.yaml")


def _fill(template: str, ref: BuildRef, cuda: Version | None) -> str:
    return template.format(variant=ref.build.variant or "", cuda_major=cuda.major if cuda is not None else "")


def _wheel(catalog: Catalog, component: str, cuda: Version) -> NvidiaWheel:
    for row in catalog.nvidia_wheels:
        if row.component == component and row.cuda_major == cuda.major:
            return row
    raise NoRecipe(f"no nvidia_wheels row of the catalog carries {component} for CUDA {cuda.major}")


def pip_recipe(catalog: Catalog, ref: BuildRef, runtime: dict[str, str]) -> tuple[PipRecipe, PipChannel]:
    """The pip lines for framework build `ref` running with `runtime` (Contract-3 mapping)."""
    cuda = Version(runtime["cuda"]) if runtime.get("cuda") else None
    gpu = cuda is not None
    row = _channel(catalog, ref, gpu)
    package = _fill(row.package, ref, cuda)
    extras = f"[{','.join(_fill(e, ref, cuda) for e in row.extras)}]" if row.extras else ""
    version = f"{ref.version.public}+{ref.build.variant}" if row.pin_label and ref.build.variant else str(
        ref.version.public)
    requirements = [f"{package}{extras}=={version}"]
    # packages the framework package pins to its own version (its METADATA's Requires-Dist), named
    # so the recipe states every package that carries the build, not only the stub that pulls them
    requirements += [f"{_fill(c, ref, cuda)}=={version}" for c in row.companions]
    records = [row.id]
    if gpu:
        for component in row.nvidia_wheels:
            wheel = _wheel(catalog, component, cuda)  # type: ignore[arg-type]
            source = runtime.get(wheel.pin_from)
            if source is None:
                raise NoRecipe(f"{wheel.id} pins from {wheel.pin_from}, which the runtime does not name")
            spec = pin(Version(source), wheel.pin) or (str(wheel.versions) if wheel.versions is not None else "")
            requirements.append(f"{wheel.package}{spec}")
            records.append(wheel.id)
    index = _fill(row.index_url, ref, cuda) if row.index_url else None
    recipe = PipRecipe(
        requirements=tuple(requirements),
        index_url=index if row.index_role == "index" else None,
        extra_index_urls=(index,) if index is not None and row.index_role == "extra" else (),
        records=tuple(records),
    )
    return recipe, row
