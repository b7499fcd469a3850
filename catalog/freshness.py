"""How far the catalog lags the registry: per family, the releases it does not know yet.

Each catalog family maps to the registry packages that publish it (`FAMILIES`). A registry
release is *catalogued* when the catalog holds a version equal to it at the family's
granularity: the full release for frameworks (torch 2.14.1), the first three parts for
TensorRT and cuDNN (wheel 10.13.3.9 is TensorRT 10.13.3; nvidia-cudnn-cu12 9.10.2.21 is cuDNN
9.10.2), the series for CUDA (nvidia-cuda-runtime 13.0.96 is CUDA 13.0) and the driver branch
for drivers (NVIDIA's NVML binding nvidia-ml-py 13.615.71 is branch R615).

Definitions (docs/catalog-format.md, "Freshness"):

- *missing*: final registry releases newer than the newest catalogued one (pre-, dev- and
  yanked releases are ignored);
- *gaps*: final registry releases between the oldest and newest catalogued ones that the
  catalog skips (reported, not counted as lag);
- *lag*: days between `now` and the upload of the OLDEST missing release, i.e. how long the
  catalog has been behind the registry; 0 when nothing is missing. A family with no catalogued
  release at all lags since its oldest registry release.

A family whose lag exceeds `max_lag_days` is stale; `rtfit catalog freshness` exits 1 then.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.version import Version

from catalog.registry import ProjectReleases, RegistryError, fetch_project, parse_time, pip_index_url
from catalog.view import Catalog

__all__ = [
    "FAMILIES",
    "SNAPSHOT",
    "Family",
    "FamilyFreshness",
    "FreshnessReport",
    "Missing",
    "check_freshness",
    "fetch_snapshot",
    "load_snapshot",
    "write_snapshot",
]

SNAPSHOT = Path(__file__).resolve().parent / "registry_snapshot.json"


def _framework(name: str, gpu: bool | None = None) -> Callable[[Catalog], Iterable[Version]]:
    """The catalogued versions of a framework; with `gpu`, only releases with a build of that kind
    (onnxruntime-gpu and the CPU package onnxruntime are separate projects with their own releases)."""
    def versions(cat: Catalog) -> Iterable[Version]:
        return (v for r in cat.releases(name) if gpu is None or any(b.gpu == gpu for b in r.builds)
                for v in r.versions)
    return versions


def _cudnn(cat: Catalog) -> Iterable[Version]:
    return (c.version for c in cat.cudnn)


def _cuda(cat: Catalog) -> Iterable[Version]:
    return (t.version for t in cat.cuda_toolkits)


def _driver(cat: Catalog) -> Iterable[Version]:
    return (Version(str(b.branch)) for b in cat.driver_branches)


def _nvml_branch(v: Version) -> Version:
    """nvidia-ml-py 13.615.71 -> driver branch 615 (its versions are <CUDA major>.<branch>.<minor>)."""
    return Version(str(v.release[1])) if len(v.release) >= 2 else v


@dataclass(frozen=True)
class Family:
    """One catalog family and the registry packages that publish its releases."""

    name: str
    packages: tuple[str, ...]
    catalogued: Callable[[Catalog], Iterable[Version]]
    parts: int | None = None  # compare the first N release parts; None = the whole release
    note: str = ""
    registry_key: Callable[[Version], Version] | None = None  # maps a registry version to the catalog's key

    def key(self, v: Version) -> Version:
        if self.registry_key is not None:
            return self.registry_key(v)
        rel = v.release if self.parts is None else v.release[: self.parts]
        return Version(".".join(str(x) for x in rel))


FAMILIES: tuple[Family, ...] = (
    Family("pytorch", ("torch",), _framework("pytorch")),
    Family("tensorflow", ("tensorflow",), _framework("tensorflow")),
    Family("onnxruntime", ("onnxruntime-gpu",), _framework("onnxruntime", gpu=True),
           note="the GPU package, against the catalog's GPU builds"),
    Family("onnxruntime-cpu", ("onnxruntime",), _framework("onnxruntime", gpu=False),
           note="the CPU package onnxruntime, against the catalog's CPU-only builds: its own project with its "
                "own releases (1.22.1 and 1.24.1-1.24.3 have no GPU twin), so a GPU release does not stand for it"),
    Family("tensorrt", ("tensorrt",), _framework("tensorrt"), parts=3,
           note="wheel 10.13.3.9 is TensorRT 10.13.3; tensorrt-cu12/-cu13 carry the same versions"),
    Family("jax", ("jax", "jax-cuda12-plugin", "jax-cuda13-plugin"), _framework("jax"),
           note="jaxlib and the CUDA plugins are released in lockstep with jax"),
    Family("vllm", ("vllm",), _framework("vllm")),
    Family("sglang", ("sglang",), _framework("sglang")),
    Family("tensorrt-llm", ("tensorrt-llm",), _framework("tensorrt-llm")),
    Family("cudnn", ("nvidia-cudnn-cu12", "nvidia-cudnn-cu13"), _cudnn, parts=3,
           note="wheel 9.10.2.21 is cuDNN 9.10.2"),
    Family("cuda", ("nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime"), _cuda, parts=2,
           note="compared by series: the runtime wheel's patch numbers are not toolkit update numbers"),
    Family("driver", ("nvidia-ml-py",), _driver, registry_key=_nvml_branch,
           note="driver branches, seen through NVIDIA's NVML bindings: nvidia-ml-py 13.615.71 belongs to "
                "driver 615.71 of branch R615; a branch with no binding yet (R620 on 2026-12-01) is curated "
                "from NVIDIA documents"),
)


@dataclass(frozen=True)
class Missing:
    version: str
    uploaded: datetime
    age_days: int
    packages: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "uploaded": _iso(self.uploaded), "age_days": self.age_days,
                "packages": list(self.packages)}


@dataclass(frozen=True)
class FamilyFreshness:
    family: str
    packages: tuple[str, ...]
    newest_catalogued: str | None
    newest_registry: str | None
    missing: tuple[Missing, ...]
    gaps: tuple[Missing, ...]
    lag_days: int
    stale: bool
    errors: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        if self.errors:
            return "error"
        if self.newest_catalogued is None:
            return "not-catalogued"
        return "stale" if self.stale else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "packages": list(self.packages), "status": self.status,
                "newest_catalogued": self.newest_catalogued, "newest_registry": self.newest_registry,
                "lag_days": self.lag_days, "missing": [m.to_dict() for m in self.missing],
                "gaps": [m.to_dict() for m in self.gaps], "errors": list(self.errors)}


@dataclass(frozen=True)
class FreshnessReport:
    now: datetime
    index_url: str
    max_lag_days: int
    families: tuple[FamilyFreshness, ...] = field(default_factory=tuple)
    offline: bool = False

    @property
    def ok(self) -> bool:
        return all(f.status == "ok" for f in self.families)

    def to_dict(self) -> dict[str, Any]:
        return {"now": _iso(self.now), "index_url": self.index_url, "offline": self.offline,
                "max_lag_days": self.max_lag_days, "ok": self.ok,
                "families": [f.to_dict() for f in self.families]}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _days(now: datetime, then: datetime) -> int:
    return max(0, (now - then).days)


def _family_freshness(fam: Family, cat: Catalog, projects: Mapping[str, ProjectReleases],
                      now: datetime, max_lag_days: int, errors: tuple[str, ...]) -> FamilyFreshness:
    catalogued = {fam.key(v) for v in fam.catalogued(cat)}
    # registry key -> (earliest upload, packages publishing it); never later than `now`
    seen: dict[Version, tuple[datetime, list[str]]] = {}
    for pkg in fam.packages:
        proj = projects.get(pkg)
        if proj is None:
            continue
        for v_text, t in proj.uploaded.items():
            if t > now:
                continue
            k = fam.key(Version(v_text))
            if k not in seen:
                seen[k] = (t, [pkg])
            else:
                first, pkgs = seen[k]
                seen[k] = (min(first, t), pkgs if pkg in pkgs else [*pkgs, pkg])
    newest_cat = max(catalogued, default=None)
    oldest_cat = min(catalogued, default=None)

    def entry(k: Version) -> Missing:
        t, pkgs = seen[k]
        return Missing(str(k), t, _days(now, t), tuple(pkgs))

    if newest_cat is None:
        missing = tuple(entry(k) for k in sorted(seen))
    else:
        missing = tuple(entry(k) for k in sorted(seen) if k > newest_cat)
    gaps = () if oldest_cat is None else tuple(
        entry(k) for k in sorted(seen) if oldest_cat < k < newest_cat and k not in catalogued)  # type: ignore[operator]
    lag = max((m.age_days for m in missing), default=0)
    return FamilyFreshness(
        family=fam.name, packages=fam.packages,
        newest_catalogued=str(newest_cat) if newest_cat is not None else None,
        newest_registry=str(max(seen)) if seen else None,
        missing=missing, gaps=gaps, lag_days=lag,
        stale=lag > max_lag_days or newest_cat is None, errors=errors)


def check_freshness(cat: Catalog, projects: Mapping[str, ProjectReleases], *, now: datetime,
                    max_lag_days: int = 30, index_url: str = "", offline: bool = False,
                    families: Iterable[str] | None = None,
                    errors: Mapping[str, str] | None = None) -> FreshnessReport:
    """Compare the catalog with the registry releases in `projects` (package name -> releases)."""
    wanted = set(families) if families else None
    errors = errors or {}
    out = []
    for fam in FAMILIES:
        if wanted is not None and fam.name not in wanted:
            continue
        errs = tuple(f"{p}: {errors[p]}" for p in fam.packages if p in errors)
        out.append(_family_freshness(fam, cat, projects, now, max_lag_days, errs))
    return FreshnessReport(now=now, index_url=index_url, max_lag_days=max_lag_days,
                           families=tuple(out), offline=offline)


def fetch_snapshot(index_url: str | None = None, families: Iterable[str] | None = None,
                   fetch: Callable[[str, str], ProjectReleases] | None = None
                   ) -> tuple[dict[str, ProjectReleases], dict[str, str], str]:
    """Read every package of the chosen families from the index: (projects, errors, index url)."""
    url = index_url or pip_index_url()
    get = fetch or (lambda name, u: fetch_project(name, u))
    wanted = set(families) if families else None
    projects: dict[str, ProjectReleases] = {}
    errors: dict[str, str] = {}
    for fam in FAMILIES:
        if wanted is not None and fam.name not in wanted:
            continue
        for pkg in fam.packages:
            try:
                projects[pkg] = get(pkg, url)
            except RegistryError as e:
                errors[pkg] = str(e)
    return projects, errors, url


def write_snapshot(path: Path, projects: Mapping[str, ProjectReleases], index_url: str, now: datetime) -> None:
    data = {"format": "rtfit-registry-snapshot/1", "index_url": index_url, "fetched_at": _iso(now),
            "note": "Recorded by `rtfit catalog freshness --record`; PEP 691/700 JSON of the index pip uses, "
                    "reduced to final releases and their earliest upload time.",
            "projects": {name: p.to_dict()["releases"] for name, p in sorted(projects.items())}}
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def load_snapshot(path: Path = SNAPSHOT) -> tuple[dict[str, ProjectReleases], str, datetime]:
    """(projects, index url, fetched_at) of a recorded snapshot."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RegistryError(f"cannot read registry snapshot {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise RegistryError(f"registry snapshot {path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    if not isinstance(data, dict) or data.get("format") != "rtfit-registry-snapshot/1" \
            or not isinstance(data.get("projects"), dict):
        raise RegistryError(f"{path} is not an rtfit registry snapshot (format rtfit-registry-snapshot/1)")
    projects = {str(name): ProjectReleases.from_dict({"name": name, "releases": rel})
                for name, rel in data["projects"].items()}
    return projects, str(data.get("index_url", "")), parse_time(data.get("fetched_at"))
