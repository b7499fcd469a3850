"""Cross-record validation: references, satisfiable ranges, and contradictions.

`sections` checks each record on its own; this module checks records against each other and
returns every problem found (never stops at the first). Examples it catches: a record citing a
source id that `sources.yaml` does not define, two records with one id, a framework build whose
bundled cuDNN has no cuDNN record, a Python range no catalogued Python satisfies, a wheel built
for a CUDA that no driver branch supports, SASS for an architecture its CUDA cannot build for.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from catalog.errors import Problem
from catalog.model import BuildRef, FrameworkBuild, FrameworkRelease, Record
from catalog.versions import cuda_from_variant, same_series, series, spec_allows

if TYPE_CHECKING:
    from catalog.view import Catalog

__all__ = ["BUNDLED_KINDS", "NEED_KINDS", "cross_check"]

NEED_KINDS = ("cuda", "cudnn", "python", "tensorrt")
# A build may also bundle an exact PyTorch (the torch==X pin of a serving engine such as vLLM).
BUNDLED_KINDS = (*NEED_KINDS, "pytorch", "sglang-kernel")


def cross_check(cat: Catalog) -> list[Problem]:
    problems: list[Problem] = []

    def bad(rec: Record, field: str, message: str) -> None:
        problems.append(Problem(rec.file, rec.id, field, message))

    _check_ids_and_sources(cat, bad, problems)
    newest_cuda = max((b.max_cuda for b in cat.driver_branches), default=None)
    toolkit_versions = [t.version for t in cat.cuda_toolkits]

    for t in cat.cuda_toolkits:
        branch = cat.driver_branch(t.min_driver)
        if branch is not None and tuple(series(branch.max_cuda)) < series(t.version):
            bad(t, "min_driver", f"needs driver {t.min_driver} but branch R{branch.branch} ({branch.id}) "
                f"supports CUDA only up to {branch.max_cuda}")
    for count_key, n in Counter(str(t.version) for t in cat.cuda_toolkits).items():
        if n > 1:
            rec = next(t for t in cat.cuda_toolkits if str(t.version) == count_key)
            bad(rec, "version", f"CUDA toolkit {count_key} is listed {n} times")
    for a in cat.architectures:
        if a.first_cuda is not None and a.removed_in is not None and a.removed_in <= a.first_cuda:
            bad(a, "removed_in", f"removed in CUDA {a.removed_in}, not after its first CUDA {a.first_cuda}: "
                "no toolkit can ever build for it")
    for g in cat.gpus:
        if cat.architecture(g.cc) is None:
            bad(g, "cc", f"compute capability {g.cc} has no record in architectures")
    for c in cat.cudnn:
        for i, b in enumerate(c.builds):
            if not any(spec_allows(b.cuda, v) for v in toolkit_versions):
                bad(c, f"builds[{i}].cuda", f"range {b.cuda} matches no CUDA toolkit in the catalog")
            for cc in b.cc or ():
                if cat.architecture(cc) is None:
                    bad(c, f"builds[{i}].cc", f"compute capability {cc} has no record in architectures")
    for rel in cat.frameworks:
        _check_release(cat, rel, newest_cuda, bad)
    gpu_ids = {g.id for g in cat.gpus}
    for j in cat.jetson_stacks:
        for gid in j.gpus:
            if gid not in gpu_ids:
                bad(j, "gpus", f"unknown gpu id {gid!r}")
    for d in cat.discrepancies:
        for rid in d.records:
            if cat.record(rid) is None:
                bad(d, "records", f"unknown record id {rid!r}")
    for f in cat.numeric_formats:
        for cc in (f.cc_allowed or ()):
            if cat.architecture(cc) is None:
                bad(f, "cc_allowed", f"compute capability {cc} has no record in architectures")
    return problems


def _check_ids_and_sources(cat: Catalog, bad, problems: list[Problem]) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, Record] = {}
    for rec in cat.records():
        if rec.id in seen:
            bad(rec, "id", f"duplicate id (also in {seen[rec.id].file})")
        seen.setdefault(rec.id, rec)
        for sid in rec.sources:
            if sid not in cat.sources:
                bad(rec, "source", f"unknown source id {sid!r} (define it in sources.yaml)")
        for sid in getattr(rec, "size_sources", ()):
            if sid not in cat.sources:
                bad(rec, "size_source", f"unknown source id {sid!r}")
        if isinstance(rec, FrameworkRelease):
            for i, b in enumerate(rec.builds):
                for sid in b.sources + b.size_sources:
                    if sid not in cat.sources:
                        bad(rec, f"builds[{i}].source", f"unknown source id {sid!r}")


def _matches(spec: SpecifierSet, versions: list[Version]) -> list[Version]:
    return [v for v in versions if spec_allows(spec, v)]


def _check_release(cat: Catalog, rel: FrameworkRelease, newest_cuda: Version | None, bad) -> None:  # type: ignore[no-untyped-def]
    if rel.python is not None and not _matches(rel.python, cat.python_series()):
        bad(rel, "python", f"range {rel.python} matches no Python series in the catalog")
    variants = Counter((b.variant, b.platforms) for b in rel.builds)
    for (variant, platforms), n in variants.items():
        if n > 1:
            bad(rel, "builds", f"variant {variant!r} for {list(platforms)} is listed {n} times")
    if rel.framework == "onnxruntime" and rel.max_opset is None:
        bad(rel, "max_opset", "onnxruntime releases must state the newest ONNX opset they implement")
    for i, b in enumerate(rel.builds):
        _check_build(cat, rel, b, f"builds[{i}]", newest_cuda, bad)


def _check_build(cat: Catalog, rel: FrameworkRelease, b: FrameworkBuild, where: str,  # noqa: C901
                 newest_cuda: Version | None, bad) -> None:  # type: ignore[no-untyped-def]
    label = BuildRef(rel, b, rel.versions[0]).label if rel.versions else rel.series
    cuda = b.bundled.get("cuda")
    for kind in b.bundled:
        if kind not in BUNDLED_KINDS:
            bad(rel, f"{where}.bundled.{kind}", f"unknown component kind; known: {', '.join(BUNDLED_KINDS)}")
    torch = b.bundled.get("pytorch")
    if torch is not None:
        _check_bundled_torch(cat, rel, b, torch, f"{where}.bundled.pytorch", label, bad)
    for kind in b.needs:
        if kind not in NEED_KINDS:
            bad(rel, f"{where}.needs.{kind}", f"unknown component kind; known: {', '.join(NEED_KINDS)}")
    if cuda is not None:
        if not cat.toolkits_in_series(cuda):
            bad(rel, f"{where}.bundled.cuda", f"{label} bundles CUDA {cuda}, which has no cuda_toolkits record")
        elif newest_cuda is not None and series(cuda) > series(newest_cuda):
            bad(rel, f"{where}.bundled.cuda", f"{label} needs CUDA {cuda} but no driver branch supports it "
                f"(newest: {newest_cuda})")
        from_variant = cuda_from_variant(b.variant)
        if from_variant is not None and not same_series(from_variant, cuda):
            bad(rel, f"{where}.variant", f"label {b.variant} says CUDA {from_variant} but bundled.cuda is {cuda}")
    cudnn = b.bundled.get("cudnn")
    if cudnn is not None:
        rec = cat.cudnn_release(cudnn)
        if rec is None:
            bad(rel, f"{where}.bundled.cudnn", f"{label} bundles cuDNN {cudnn}, which has no cudnn record")
        elif cuda is not None and not any(spec_allows(cb.cuda, cuda) for cb in rec.builds):
            bad(rel, f"{where}.bundled.cudnn", f"cuDNN record {rec.id} has no build for CUDA {cuda} "
                f"that {label} bundles")
    universe = {"cuda": [t.version for t in cat.cuda_toolkits], "cudnn": [c.version for c in cat.cudnn],
                "python": cat.python_series(),
                "tensorrt": [v for r in cat.releases("tensorrt") for v in r.versions]}
    for kind, spec in b.needs.items():
        if kind in universe and not _matches(spec, universe[kind]):
            bad(rel, f"{where}.needs.{kind}", f"range {spec} matches no {kind} version in the catalog")
    if b.gpu and cuda is None and "cuda" not in b.needs:
        bad(rel, where, f"GPU build {label} names no CUDA (bundled.cuda or needs.cuda)")
    if b.gpu and not (b.sass or b.ptx or b.sass_exact or b.cc_range):
        bad(rel, where, f"GPU build {label} gives no sass/ptx list and no cc_range: the GPUs it runs on are unknown")
    for kind, ccs in (("sass", b.sass), ("ptx", b.ptx), ("sass_exact", b.sass_exact)):
        for cc in ccs:
            arch = cat.architecture(cc)
            if arch is None:
                bad(rel, f"{where}.{kind}", f"compute capability {cc} has no record in architectures")
            elif cuda is not None and not arch.buildable_with(cuda):
                bad(rel, f"{where}.{kind}", f"{label} claims {kind} for {cc}, but CUDA {cuda} cannot build for "
                    f"{arch.name} {cc} ({arch.id})")


def _check_bundled_torch(cat: Catalog, rel: FrameworkRelease, b: FrameworkBuild, torch: Version, field: str,
                         label: str, bad) -> None:  # type: ignore[no-untyped-def]
    """An engine's torch pin must be a catalogued PyTorch version with a build on the engine's CUDA."""
    if rel.framework == "pytorch":
        bad(rel, field, "a PyTorch build cannot bundle another PyTorch")
        return
    public = Version(torch.public)
    refs = [r for r in cat.builds("pytorch") if r.version == public and r.build.gpu == b.gpu
            and (torch.local is None or r.build.variant == torch.local)
            and set(b.platforms) <= set(r.build.platforms)]
    if not refs:
        bad(rel, field, f"{label} pins torch {torch}, which has no catalogued PyTorch build for "
            f"{'/'.join(b.platforms)} ({'GPU' if b.gpu else 'CPU'})")
        return
    cuda = b.bundled.get("cuda")
    if cuda is not None and not any(r.build.cuda is not None and same_series(r.build.cuda, cuda) for r in refs):
        have = sorted({str(r.build.cuda) for r in refs if r.build.cuda is not None})
        bad(rel, field, f"{label} bundles CUDA {cuda} but the catalogued torch {torch} builds ship CUDA "
            f"{', '.join(have) or 'none'}")
