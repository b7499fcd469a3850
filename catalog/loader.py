"""Load a catalog: YAML documents -> typed records -> cross-checked, revisioned `Catalog`.

Sources of documents: a folder of `*.yaml` files (the bundled `catalog/data`, or `--catalog DIR`,
or `RTFIT_CATALOG`), a git revision of such a folder (for `rtfit catalog diff`), or a mapping of
file name to parsed document (a `PUT /v1/catalog` body). Every path ends in `build_catalog`,
which collects every problem and raises `CatalogInvalid` once with all of them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from catalog.errors import CatalogInvalid, CatalogNotFound, Problem
from catalog.fields import RecordReader
from catalog.sections import SECTION_PARSERS, parse_source
from catalog.validate import cross_check
from catalog.view import Catalog
from catalog.yamlio import YamlRefused, load_yaml_text

__all__ = [
    "BUNDLED_DIR",
    "build_catalog",
    "catalog_revision",
    "default_catalog_dir",
    "load_catalog",
    "load_catalog_from_documents",
    "load_catalog_from_git",
    "read_documents",
]

BUNDLED_DIR = Path(__file__).resolve().parent / "data"
_GROUPS = {
    "driver_branches": "driver_branches", "cuda_toolkits": "cuda_toolkits", "mvc_floors": "mvc_floors",
    "architectures": "architectures", "gpus": "gpus", "cudnn": "cudnn", "python": "python",
    "framework_releases": "frameworks", "numeric_formats": "numeric_formats", "jetson_stacks": "jetson_stacks",
    "facts": "facts", "discrepancies": "discrepancies",
    "pip_channels": "pip_channels", "nvidia_wheels": "nvidia_wheels", "ngc_containers": "ngc_containers",
    "cuda_images": "cuda_images",
}


def default_catalog_dir() -> Path:
    env = os.environ.get("RTFIT_CATALOG")
    return Path(env) if env else BUNDLED_DIR


def catalog_revision(documents: Mapping[str, Any]) -> str:
    """Content hash of the catalog: sha256 of the canonical JSON of every document, by file name."""
    canonical = json.dumps(documents, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def read_documents(path: str | Path) -> tuple[dict[str, Any], list[Problem]]:
    folder = Path(path)
    if not folder.is_dir():
        raise CatalogNotFound(f"catalog folder not found: {folder}")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise CatalogNotFound(f"no *.yaml catalog files in {folder}")
    documents: dict[str, Any] = {}
    problems: list[Problem] = []
    for f in files:
        try:
            documents[f.name] = load_yaml_text(f.read_text(encoding="utf-8"), name=f.name)
        except (YamlRefused, UnicodeDecodeError) as e:
            problems.append(Problem(f.name, "", "", str(e)))
    return documents, problems


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate the catalog in a folder (default: RTFIT_CATALOG or the bundled one).

    A folder that validated before is read from the compiled cache (`catalog.cache`), keyed by the
    bytes of its files: a changed file is parsed and checked again.
    """
    from catalog.cache import cached_catalog

    folder = Path(path if path is not None else default_catalog_dir())

    def build() -> Catalog:
        documents, problems = read_documents(folder)
        return build_catalog(documents, problems)

    return cached_catalog(folder, build)


def load_catalog_from_documents(docs: Mapping[str, Any]) -> Catalog:
    """Validate a catalog given as {file name: parsed YAML mapping} (e.g. an uploaded revision)."""
    if not isinstance(docs, Mapping) or not docs:
        raise CatalogInvalid([Problem("(upload)", "", "files", "must map file names to catalog documents")])
    problems = [Problem(str(name), "", "", "file name must end in .yaml")
                for name in docs if not str(name).endswith(".yaml")]
    return build_catalog({str(k): v for k, v in docs.items()}, problems)


def load_catalog_from_git(rev: str, folder: str | Path = BUNDLED_DIR) -> Catalog:
    """Load the catalog folder as it was at a git revision (for `rtfit catalog diff`)."""
    folder = Path(folder).resolve()
    try:
        top = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"],
                             check=True, capture_output=True, text=True).stdout.strip()
        rel = folder.relative_to(top).as_posix()
        names = subprocess.run(["git", "-C", top, "ls-tree", "--name-only", f"{rev}:{rel}"],
                               check=True, capture_output=True, text=True).stdout.split()
    except (subprocess.CalledProcessError, ValueError, FileNotFoundError) as e:
        raise CatalogNotFound(f"cannot read catalog folder {folder} at git revision {rev!r}") from e
    documents: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in sorted(n for n in names if n.endswith(".yaml")):
        text = subprocess.run(["git", "-C", top, "show", f"{rev}:{rel}/{name}"],
                              check=True, capture_output=True, text=True).stdout
        try:
            documents[name] = load_yaml_text(text, name=name)
        except YamlRefused as e:
            problems.append(Problem(name, "", "", str(e)))
    if not documents and not problems:
        raise CatalogNotFound(f"no catalog files in {rel} at {rev}")
    return build_catalog(documents, problems)


def build_catalog(documents: Mapping[str, Any], problems: list[Problem] | None = None) -> Catalog:
    problems = list(problems or [])
    groups: dict[str, list[Any]] = {g: [] for g in _GROUPS.values()}
    sources: dict[str, Any] = {}
    for file, doc in documents.items():
        if doc is None:
            continue
        if not isinstance(doc, Mapping):
            problems.append(Problem(file, "", "", "a catalog file must be a mapping of sections to lists"))
            continue
        for section, records in doc.items():
            if section != "sources" and section not in SECTION_PARSERS:
                known = ", ".join(["sources", *SECTION_PARSERS])
                problems.append(Problem(file, "", str(section), f"unknown section; known sections: {known}"))
                continue
            if not isinstance(records, list):
                problems.append(Problem(file, "", str(section), "a section must be a list of records"))
                continue
            for i, raw in enumerate(records):
                reader = RecordReader(file=file, section=str(section), index=i, raw=raw, problems=problems)
                if section == "sources":
                    src = parse_source(reader)
                    if src is not None:
                        if src.id in sources:
                            problems.append(Problem(file, src.id, "id", f"duplicate source id (also in {sources[src.id].file})"))
                        sources[src.id] = src
                    continue
                rec = SECTION_PARSERS[section](reader)
                if rec is not None:
                    groups[_GROUPS[section]].append(rec)
    catalog = Catalog(
        revision=catalog_revision(documents),
        documents=dict(documents),
        sources=sources,
        **{name: tuple(recs) for name, recs in groups.items()},
    )
    problems.extend(cross_check(catalog))
    if problems:
        raise CatalogInvalid(problems)
    return catalog
