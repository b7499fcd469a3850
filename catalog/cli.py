"""`rtfit catalog ...`: the curation commands (validate, list, show, matrix, diff, why, import).

Thin: each command loads the catalog, calls a function of this package and renders the result
with Rich, or as JSON / YAML (`--json`, `-o json|yaml`, `--compact`: rtfit/output.py), or for
matrices also CSV/Markdown. GPU names go through `catalog.gpunames` everywhere. User errors print
one line on stderr and exit 2 (1 for an invalid catalog in `validate`); no traceback reaches the
user.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer
import yaml
from packaging.version import InvalidVersion
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog import compat
from catalog.diff import diff_catalogs
from catalog.errors import CatalogError, CatalogInvalid, Problem
from catalog.gpunames import GpuNameError, find_gpus, resolve_gpu, shared_name_note
from catalog.importer import import_file
from catalog.loader import default_catalog_dir, load_catalog, load_catalog_from_git
from catalog.matrix import build_gpu_matrix, driver_cuda_matrix
from catalog.versions import TegraDriver, Version, parse_driver
from catalog.view import Catalog
from rtfit.output import COMPACT, JSON, OUTPUT, emit, output_format

__all__ = ["register"]

app = typer.Typer(help="Curate the compatibility catalog: validate, list, show, matrix, diff, why, import, freshness.",
                  no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
CatalogOpt = typer.Option(None, "--catalog", help="Catalog folder (default: RTFIT_CATALOG or the bundled one).")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code)


def _load(path: Path | None) -> Catalog:
    try:
        return load_catalog(path)
    except CatalogInvalid as e:
        raise _fail(f"catalog {path or default_catalog_dir()} is invalid ({len(e.problems)} problems); "
                    "run `rtfit catalog validate`") from e
    except CatalogError as e:
        raise _fail(str(e)) from e


@app.command()
def validate(catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
             compact: bool = COMPACT) -> None:
    """Check every file, record and field; print counts per family, or every problem (exit 1)."""
    fmt = output_format(output, as_json)
    try:
        cat = load_catalog(catalog)
    except CatalogInvalid as e:
        if fmt != "table":
            emit({"valid": False, "problems": [p.to_dict() for p in e.problems]}, fmt, compact=compact)
        else:
            err.print(f"[red]{len(e.problems)} problem(s)[/red] in {catalog or default_catalog_dir()}:")
            for p in e.problems:
                err.print(f"  {p.file}: {p.record or '-'}: {p.field or '-'}: {p.message}", soft_wrap=True)
        raise typer.Exit(1) from e
    except CatalogError as e:
        raise _fail(str(e)) from e
    from catalog.evidence import evidence_problems

    problems = evidence_problems(cat, (catalog or default_catalog_dir()) / "evidence")
    problems += [Problem(ref.release.file, ref.release.id, f"builds[{ref.release.builds.index(ref.build)}]",
                         f"{ref.framework} {ref.label} ({', '.join(ref.build.platforms)}) is selectable on no catalog "
                         f"GPU with a current driver: {reason}")
                 for ref, reason in compat.unselectable_builds(cat)]
    if problems:
        if fmt != "table":
            emit({"valid": False, "problems": [p.to_dict() for p in problems]}, fmt, compact=compact)
        else:
            err.print(f"[red]{len(problems)} problem(s)[/red] between the catalog and its evidence:")
            for p in problems:
                err.print(escape(f"  {p.file}: {p.record or '-'}: {p.field or '-'}: {p.message}"), soft_wrap=True)
        raise typer.Exit(1)
    counts = cat.counts()

    def draw() -> None:
        table = Table(title=f"catalog {cat.revision[:12]} is valid")
        table.add_column("family")
        table.add_column("records", justify="right")
        for k, v in counts.items():
            table.add_row(k, str(v))
        out.print(table)

    emit({"valid": True, "revision": cat.revision, "counts": counts}, fmt, compact=compact, table=draw)


@app.command("list")
def list_(kind: str = typer.Argument(..., help="driver | cuda | cudnn | python | gpu | pytorch | tensorflow | jax | vllm | sglang | tensorrt-llm | "
                                               "onnxruntime | tensorrt | sources | facts | discrepancies"),
          name: str | None = typer.Option(None, "--name", help="Substring filter on the name."),
          catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
          compact: bool = COMPACT) -> None:
    """List the records of one kind."""
    fmt = output_format(output, as_json)
    cat = _load(catalog)
    rows: list[dict[str, Any]]
    if kind == "sources":
        rows = [{"id": s.id, "quality": s.quality, "doc": s.doc, "url": s.url} for s in cat.sources.values()]
    elif kind in ("facts", "discrepancies"):
        recs = cat.facts if kind == "facts" else cat.discrepancies
        rows = [{"id": r.id, "text": r.text, "source": list(r.sources)} for r in recs]
    else:
        rows = cat.component_rows(kind=kind, name=name)
        kinds = sorted({r["kind"] for r in cat.component_rows()})
        if not rows and kind not in kinds:
            raise _fail(f"unknown kind {kind!r}; kinds: {', '.join([*kinds, 'sources', 'facts', 'discrepancies'])}")
    if name and kind in ("sources", "facts", "discrepancies"):
        rows = [r for r in rows if name.lower() in json.dumps(r).lower()]

    def draw() -> None:
        if not rows:
            out.print("no records")
            return
        table = Table(title=f"{kind} ({len(rows)})")
        cols = [c for c in rows[0] if c not in ("source",)]
        for c in cols:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*("" if r.get(c) is None else str(r.get(c)) for c in cols))
        out.print(table)

    emit(rows, fmt, compact=compact, table=draw)


@app.command()
def show(record_id: str = typer.Argument(..., help="A record id, e.g. branch.r535 or pytorch.2.4"),
         catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
         compact: bool = COMPACT) -> None:
    """Show one record with its fields and the full citation of each source."""
    fmt = output_format(output, as_json)
    cat = _load(catalog)
    rec = cat.record(record_id)
    src = cat.sources.get(record_id)
    if rec is None and src is None:  # GPU names are accepted everywhere: an NVML or short name shows its record
        try:
            rec = cat.record(resolve_gpu(cat, record_id).id)
        except GpuNameError:
            rec = None
    if rec is None and src is None:
        import difflib

        close = difflib.get_close_matches(record_id, [*(r.id for r in cat.records()), *cat.sources], n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise _fail(f"no record with id {record_id!r} and no GPU of that name{hint} (try `rtfit catalog list KIND`)")
    data = asdict(rec) if rec is not None else asdict(src)  # type: ignore[arg-type]
    cites = [asdict(cat.sources[s]) for s in getattr(rec, "sources", ()) if s in cat.sources]

    def draw() -> None:
        out.print(escape(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, width=110)))
        for c in cites:
            out.print(f"source [bold]{escape(c['id'])}[/bold] ({c['quality']}): {escape(c['doc'])}\n  {c['url']}",
                      soft_wrap=True)

    emit({"record": data, "sources": cites}, fmt, compact=compact, table=draw)


@app.command()
def matrix(kind: str = typer.Option("builds", "--kind", help="builds (framework x GPU) | drivers (branch x CUDA)"),
           framework: str = typer.Option("pytorch", "--framework", help="Framework of the builds matrix."),
           latest: int | None = typer.Option(None, "--latest", help="Only the newest N releases."),
           gpu: list[str] | None = typer.Option(None, "--gpu", help="Limit to these GPUs: NVML names, catalog ids "
                                                "or short names (T4, 'RTX 4090', Orin); repeatable."),
           fmt: str | None = typer.Option(None, "--format", help="csv or markdown (table, json: use -o)."),
           catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
           compact: bool = COMPACT) -> None:
    """A compatibility matrix, readable in a terminal and exportable."""
    if fmt is not None and fmt not in ("table", "csv", "markdown", "json"):
        raise _fail(f"unknown format {fmt!r}; use csv or markdown (or -o table|json|yaml)")
    fmt = fmt if fmt in ("csv", "markdown") else output_format(fmt if output is None else output, as_json)
    cat = _load(catalog)
    if kind == "drivers":
        m = driver_cuda_matrix(cat)
    elif kind == "builds":
        ids = None
        if gpu:
            ids = []
            for name in gpu:
                found = find_gpus(cat, name)
                if not found:
                    try:
                        resolve_gpu(cat, name)
                    except GpuNameError as e:
                        raise _fail(str(e)) from e
                ids.extend(g.id for g in found)
        m = build_gpu_matrix(cat, framework=framework, latest=latest, gpus=ids)
        if not m.rows:
            raise _fail(f"no GPU builds of {framework!r} in the catalog")
    else:
        raise _fail(f"unknown matrix kind {kind!r}; use builds or drivers")
    if fmt == "csv":
        sys.stdout.write(m.to_csv())
    elif fmt in ("json", "yaml"):
        emit(m.to_dict(), fmt, compact=compact)
    elif fmt == "markdown":
        sys.stdout.write(m.to_markdown())
    else:
        table = Table(title=m.title, caption=m.legend)
        table.add_column(m.row_header, no_wrap=True)
        for c in m.columns:
            table.add_column(c, justify="center", max_width=12, min_width=min(len(c), 5), overflow="fold")
        style = {"S": "green", "N": "green", "P": "yellow", "M": "yellow", "-": "red"}
        for name, cells in m.rows:
            table.add_row(name, *(f"[{style.get(c.mark, 'white')}]{c.mark}[/]" for c in cells))
        width = max(len(n) for n, _ in m.rows) + 8 + sum(max(min(len(c), 12), 5) + 3 for c in m.columns) if m.rows else 80
        Console(highlight=False, width=max(out.width, width)).print(table)


def _list_kind(cat: Catalog, framework: str) -> str:
    """The `rtfit catalog list` kind that lists a framework's builds (a command that works)."""
    kinds = {r["kind"] for r in cat.component_rows()}
    return framework if framework in kinds else "KIND"


def _load_ref(ref: str) -> Catalog:
    path = Path(ref)
    try:
        if path.is_dir():
            return load_catalog(path)
        rev = ref[4:] if ref.startswith("git:") else ref
        return load_catalog_from_git(rev)
    except CatalogInvalid as e:
        raise _fail(f"{ref}: invalid catalog ({len(e.problems)} problems; first: {e.problems[0]})") from e
    except CatalogError as e:
        raise _fail(str(e)) from e


@app.command()
def diff(old: str = typer.Argument(..., help="Catalog folder or git revision (e.g. HEAD~1 or git:v0.1)"),
         new: str = typer.Argument(None, help="Catalog folder or git revision (default: the working catalog)"),
         as_json: bool = JSON, output: str | None = OUTPUT, compact: bool = COMPACT) -> None:
    """What changed between two catalogs, record by record."""
    fmt = output_format(output, as_json)
    a = _load_ref(old)
    b = _load_ref(new) if new else _load(None)
    d = diff_catalogs(a, b)

    def draw() -> None:
        out.print(f"catalog {d.old_revision[:12]} -> {d.new_revision[:12]}: {len(d.changes)} record(s) changed")
        colour = {"added": "green", "removed": "red", "changed": "yellow"}
        for c in d.changes:
            out.print(f"[{colour[c.kind]}]{c.kind:8}[/] {c.section}: {escape(c.id)}")
            for f, (o, n) in c.fields.items():
                out.print(escape(f"           {f}: {o!r} -> {n!r}"), soft_wrap=True)

    emit(d.to_dict(), fmt, compact=compact, table=draw)


@app.command()
def why(framework: str = typer.Argument(..., help="A framework of the catalog, e.g. pytorch, onnxruntime"),
        version: str = typer.Argument(..., help="Build version, e.g. 2.6.0+cu124"),
        gpu: str = typer.Argument(..., help="GPU: NVML name, catalog id or short name, e.g. 'RTX 5090', T4, Orin"),
        driver: str | None = typer.Option(None, "--driver", help="Also check this driver version."),
        cuda_driver: str | None = typer.Option(None, "--cuda-driver", help="Jetson: the CUDA version the driver reports "
                                               "(nvidia-smi 'CUDA Version', e.g. 13.0); Jetson driver numbers are "
                                               "not desktop ones."),
        l4t: str | None = typer.Option(None, "--l4t", help="Jetson: the L4T release (/etc/nv_tegra_release, e.g. "
                                       "36.4.3), when the CUDA version is not given."),
        strict: bool = typer.Option(False, "--strict", help="Unverified (a rule lacks its facts) counts as NOT compatible."),
        arch: str | None = typer.Option(None, "--arch", help="Host CPU arch (x86_64 | aarch64) for GPUs not tied to one "
                                        "(default: the GPU's only arch, aarch64 for Jetson modules; else x86_64)."),
        catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
        compact: bool = COMPACT) -> None:
    """Why a framework build is, or isn't, compatible with a GPU (and driver), with sources."""
    fmt = output_format(output, as_json)
    cat = _load(catalog)
    families = sorted({r.framework for r in cat.frameworks})
    if framework not in families:
        raise _fail(f"unknown framework {framework!r}; the catalog has builds of {', '.join(families)}")
    try:
        ref = cat.find_build(framework, version)
        drv = parse_driver(driver) if driver else None
        cuda_drv = Version(cuda_driver) if cuda_driver else None
    except InvalidVersion as e:
        raise _fail(f"not a version: {e}") from e
    if ref is None:
        known = [str(v) for v in sorted({r.version for r in cat.builds(framework)}, reverse=True)]
        raise _fail(f"no {framework} build {version} in the catalog; its versions: {', '.join(known[:12])}"
                    + (" ..." if len(known) > 12 else "") + f" (all: `rtfit catalog list {_list_kind(cat, framework)}`)")
    try:
        product = resolve_gpu(cat, gpu)
    except GpuNameError as e:
        raise _fail(str(e)) from e
    if (cuda_drv is not None or l4t) and not compat.is_tegra(product):
        raise _fail("--cuda-driver and --l4t are for Jetson GPUs (their driver numbers are not desktop ones); "
                    f"{product.name} is judged by --driver")
    if drv is not None or cuda_drv is not None or l4t:
        drv = compat.rules_driver(cat, product, drv, cuda_driver=cuda_drv, l4t=l4t)  # a Jetson's: by its CUDA
    # the build of this label for the GPU's platform; a GPU build first: the CPU package onnxruntime and
    # onnxruntime-gpu are separate releases with the same version numbers, and the question is about a GPU
    plat = compat.gpu_platform(product, arch)
    same = [r for r in cat.builds(framework) if r.label == ref.label and plat in r.build.platforms]
    ref = next((r for mine in (True, False) for r in same if r.build.gpu and (r.release is ref.release) == mine),
               next((r for r in same if r.release is ref.release), ref))
    checks, cuda, cudnn = compat.why_best_option(cat, ref, product, drv, host_arch=arch, strict=strict)
    # the gaps of the completion judged on this GPU, as select reports them for its choice
    gaps = compat.candidate_gaps(cat, ref, cuda, cudnn, ccs=[product.cc])
    if isinstance(drv, TegraDriver) and drv.gap:
        gaps = (*gaps, drv.gap)
    ok = all(c.ok for c in checks) and not (strict and gaps)
    confidence = "unverified" if gaps else "verified"
    note = shared_name_note(cat, gpu)   # a shared NVML name ("Orin (nvgpu)"): which module was judged
    if fmt != "table":
        emit({"compatible": ok, "confidence": confidence, "gaps": list(gaps), "build": ref.label,
              "gpu": product.name, "gpu_id": product.id, "evidence": list(ref.build.evidence),
              "checks": [asdict(c) for c in checks], **({"note": note} if note else {})}, fmt, compact=compact)
    else:
        verdict = "[green]compatible[/]" if ok else "[red]NOT compatible[/]"
        out.print(f"{framework} {ref.label} on {product.name} (CC {product.cc}): {verdict} ({confidence})", soft_wrap=True)
        for c in checks:
            out.print(escape(f"  {'ok ' if c.ok else 'NO '} [{c.rule}] {c.message}"), soft_wrap=True)
            if not c.ok and c.suggestion:
                out.print(escape(f"       suggestion: {c.suggestion}"), soft_wrap=True)
        for g in gaps:
            out.print(escape(f"  unverified: {g}"), soft_wrap=True)
        if note:
            out.print(escape(f"  note: {note}"), soft_wrap=True)
        if ref.build.evidence:
            # the files are the release record's (another patch version, or a plugin it pins): say whose
            out.print(escape(f"  evidence read from artifacts of {ref.release.id} ({ref.build.variant or 'default'} "
                             f"build): {', '.join(ref.build.evidence)}"), soft_wrap=True)
        if not ok and any(c.rule == "no-kernel-for-gpu" for c in checks):
            fixes = [r.label for r in cat.builds(framework)
                     if all(c.ok for c in compat.why_best(cat, r, product, drv, host_arch=arch))]
            if fixes:
                out.print(f"  builds that do run on it: {', '.join(fixes[:6])}" + (" ..." if len(fixes) > 6 else ""))
    raise typer.Exit(0 if ok else 3)


@app.command()
def evidence(artifacts: list[str] = typer.Argument(None, help="Wheel files, or stored evidence JSON files."),
             from_registry: list[str] = typer.Option([], "--from-registry", metavar="NAME==VERSION",
                                                     help="Read this release from the registry (repeatable)."),
             platform: list[str] = typer.Option([], "--platform", help="x86_64 | aarch64 (repeatable; registry)."),
             python: str | None = typer.Option(None, "--python", help="Python of the wheel to read, e.g. 3.12."),
             device_code: bool = typer.Option(False, "--device-code", help="Registry: also read the wheel's GPU "
                                              "code (HTTP range reads of its libraries)."),
             via: str = typer.Option("pip", "--via", help="Registry metadata through pip's resolver (pip) or "
                                     "HTTP range reads of the wheel's METADATA (range)."),
             stored: bool = typer.Option(False, "--stored", help="Also take every stored evidence file."),
             check: bool = typer.Option(False, "--check", help="Compare with the catalog; exit 1 on any mismatch."),
             save: bool = typer.Option(False, "--save", help="Write the evidence JSON into the catalog's evidence folder."),
             catalog: Path | None = CatalogOpt, as_json: bool = JSON, output: str | None = OUTPUT,
             compact: bool = COMPACT) -> None:
    """What a wheel really holds (pins, tags, GPU code), and whether the catalog agrees."""
    from catalog import evidence as ev_mod

    folder = (catalog or default_catalog_dir()) / "evidence"
    items: list[ev_mod.Evidence] = []
    try:
        if stored:
            items.extend(ev_mod.load_evidence_dir(folder).values())
        from rtfit.progress import steps

        for a in steps(list(artifacts or []), lambda a: f"reading {Path(a).name}"):
            items.append(ev_mod.load_evidence(a) if a.endswith(".json") else ev_mod.read_wheel(a))
        probes = [(req, plat) for req in from_registry for plat in platform or ["x86_64"]]
        for req, plat in steps(probes, lambda p: f"probing {p[0]} ({p[1]})"):
            items.append(ev_mod.probe(req, machine=plat, python=python, device=device_code, via=via))
    except (CatalogError, OSError) as e:
        raise _fail(str(e)) from e
    if not items:
        raise _fail("give wheel files, evidence JSON files, --from-registry NAME==VERSION or --stored")
    cat = _load(catalog) if check else None
    results = []
    for item in items:
        mismatches = ev_mod.check_evidence(cat, item) if cat is not None else []
        if save:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / item.name).write_text(item.to_json(), encoding="utf-8")
        results.append((item, mismatches))
    fmt = output_format(output, as_json)
    if fmt != "table":
        emit([{"evidence": i.to_dict(), **({"checked": ev_mod.checkable(i),
                                            "mismatches": [m.to_dict() for m in ms]} if check else {})}
              for i, ms in results], fmt, compact=compact)
    else:
        for item, ms in results:
            _print_evidence(item)
            if check:
                ref = ev_mod.find_build(cat, item) if cat is not None else None
                which = f"{ref.release.id} [{ref.build.variant or 'default'}]" if ref else "no catalog build"
                if not ev_mod.checkable(item):
                    out.print(f"  [yellow]not checked[/]: the catalog has no family for {escape(item.project)}")
                elif ms:
                    out.print(f"  [red]check: {len(ms)} mismatch(es)[/] with {escape(which)}")
                    for m in ms:
                        out.print(escape(f"    {m.field}: catalog {m.catalog} / artifact {m.artifact}"), soft_wrap=True)
                else:
                    out.print(f"  [green]check: agrees[/] with {escape(which)}")
    if check and any(ms for _i, ms in results):
        raise typer.Exit(1)


def _print_evidence(item: Any) -> None:
    out.print(f"[bold]{escape(item.project)} {escape(item.version)}[/] ({item.platform}) {escape(item.file)} "
              f"read: {item.read}", soft_wrap=True)
    out.print(f"  tags: {', '.join(item.tags)}; requires-python: {item.requires_python or '-'}", soft_wrap=True)
    if item.python_files is not None:
        out.print(f"  wheels for Python: {', '.join(item.python_files) or 'none'}")
    comps = ", ".join(f"{k} {v}" for k, v in item.components.items()) or "none"
    out.print(escape(f"  pinned components: {comps}"), soft_wrap=True)
    if item.device_code is not None:
        dc = item.device_code
        out.print(f"  device code ({dc['primary'] or 'no library with GPU code'}): SASS [{', '.join(dc['sass'])}] "
                  f"PTX [{', '.join(dc['ptx'])}]" + (f"; partial: {', '.join(dc['partial'])}" if dc["partial"] else ""),
                  soft_wrap=True)


@app.command("import")
def import_(path: str = typer.Argument(..., help="A wheel METADATA file, a `pip install --dry-run --report` JSON, "
                                                 "or with --from-registry NAME==VERSION (e.g. vllm==0.33.0)"),
            source_id: str = typer.Option("pypi_metadata", "--source-id", help="Source id to cite in the draft."),
            from_registry: bool = typer.Option(False, "--from-registry", help="Read NAME==VERSION's wheel METADATA "
                                               "and tags from the index pip uses (no install)."),
            machine: list[str] = typer.Option(["x86_64"], "--platform", help="x86_64 | aarch64 (repeatable)."),
            index_url: str | None = typer.Option(None, "--index-url", help="Simple index (default: pip's)."),
            catalog: Path | None = CatalogOpt) -> None:
    """Draft framework_releases records from package metadata (printed as YAML for review)."""
    from catalog.importer import draft_from_registry

    try:
        if from_registry:
            from rtfit.progress import steps

            drafts = [draft_from_registry(path, m, index_url)
                      for m in steps(list(machine), lambda m: f"reading {path} ({m}) from the registry")]
        else:
            drafts = import_file(Path(path))
    except CatalogError as e:
        raise _fail(str(e)) from e
    if any("pytorch" in d.bundled for d in drafts):
        from catalog.importer import complete_engine_draft

        try:
            cat = load_catalog(catalog)
        except CatalogError:
            cat = None  # an invalid working catalog only means the torch pin stays a todo
        for d in drafts:
            if cat is not None:
                complete_engine_draft(d, cat)
    records = [d.record(source_id) for d in drafts]
    sys.stdout.write(yaml.safe_dump({"framework_releases": records}, sort_keys=False, width=110))
    for d in drafts:
        for t in d.todo:
            err.print(f"[yellow]todo[/] {d.framework} {d.version}: {t}")


@app.command()
def freshness(as_json: bool = JSON, output: str | None = OUTPUT, compact: bool = COMPACT,
              offline: bool = typer.Option(False, "--offline", help="Read the recorded registry snapshot "
                                           "(no network); 'now' is the snapshot's time unless --now is given."),
              max_lag_days: int = typer.Option(30, "--max-lag-days", min=0,
                                               help="A family lagging more days than this fails (exit 1)."),
              family: list[str] | None = typer.Option(None, "--family", help="Only these families (repeatable)."),
              index_url: str | None = typer.Option(None, "--index-url", help="Simple index to read (default: "
                                                   "the one pip is configured to use)."),
              snapshot: Path | None = typer.Option(None, "--snapshot", help="Snapshot file for --offline "
                                                   "(default: the one committed with the catalog)."),
              record: Path | None = typer.Option(None, "--record", help="Also write what was read to this "
                                                 "snapshot file."),
              now: str | None = typer.Option(None, "--now", help="Judge ages at this ISO time (default: now)."),
              catalog: Path | None = CatalogOpt) -> None:
    """How far each family lags the registry: releases the catalog lacks and how old they are."""
    from datetime import UTC, datetime

    fmt = output_format(output, as_json)
    from catalog.freshness import (
        FAMILIES,
        SNAPSHOT,
        check_freshness,
        fetch_snapshot,
        load_snapshot,
        write_snapshot,
    )
    from catalog.registry import RegistryError, parse_time

    known = [f.name for f in FAMILIES]
    bad = [f for f in family or [] if f not in known]
    if bad:
        raise _fail(f"unknown family {bad[0]!r}; known: {', '.join(known)}")
    cat = _load(catalog)
    try:
        when = parse_time(now) if now else None
        errors: dict[str, str] = {}
        if offline:
            projects, url, taken = load_snapshot(snapshot or SNAPSHOT)
            when = when or taken
        else:
            projects, errors, url = fetch_snapshot(index_url, family)
            when = when or datetime.now(UTC)
            if record is not None:
                write_snapshot(record, projects, url, when)
    except RegistryError as e:
        raise _fail(str(e)) from e
    report = check_freshness(cat, projects, now=when, max_lag_days=max_lag_days, index_url=url,
                             offline=offline, families=family, errors=errors)
    if fmt != "table":
        emit(report.to_dict(), fmt, compact=compact)
    else:
        src = "recorded snapshot" if offline else "registry"
        table = Table(title=f"catalog freshness vs {src} {url} at {report.now:%Y-%m-%d %H:%M} UTC "
                            f"(max lag {max_lag_days} days)")
        for c in ("family", "status", "catalog newest", "registry newest", "lag (days)"):
            table.add_column(c, no_wrap=True)
        table.add_column("missing (age in days)", overflow="fold", min_width=40)
        colour = {"ok": "green", "stale": "red", "not-catalogued": "red", "error": "red"}
        for f in report.families:
            miss = ", ".join(f"{m.version} ({m.age_days}d)" for m in f.missing[-5:])
            if len(f.missing) > 5:
                miss = f"{len(f.missing) - 5} older, " + miss
            if f.errors:
                miss = "; ".join(f.errors)
            table.add_row(f.family, f"[{colour[f.status]}]{f.status}[/]", f.newest_catalogued or "-",
                          f.newest_registry or "-", str(f.lag_days), escape(miss or "-"))
        Console(highlight=False, width=max(out.width, 140)).print(table)
        gaps = [f for f in report.families if f.gaps]
        for f in gaps:
            out.print(escape(f"gaps in {f.family} (between catalogued releases, not counted as lag): "
                             + ", ".join(m.version for m in f.gaps)), soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="catalog")
