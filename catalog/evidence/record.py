"""The evidence record: what was read from one artifact, as a small JSON file in the repository.

One file per artifact (project, version, platform), under `catalog/data/evidence/`, named
`<project>-<version>-<machine>.json` (`torch-2.9.0-x86_64.json`). Catalog builds cite it in their
`evidence:` field, so `rtfit catalog validate`, `rtfit catalog evidence --check` and the tests run
offline. Format (version 1) - every key is always present, `null` when not read:

    {"evidence": 1,
     "project": "torch", "version": "2.9.0", "platform": "x86_64",
     "file": "torch-2.9.0-cp312-cp312-manylinux_2_28_x86_64.whl", "sha256": "...", "size": 899795167,
     "url": "https://files.pythonhosted.org/...", "read": "wheel" | "wheel-metadata" | "registry-metadata",
     "tags": ["cp312-cp312-manylinux_2_28_x86_64"], "requires_python": ">=3.10",
     "pins": [{"name": "nvidia-cudnn-cu12", "spec": "==9.10.2.21", "extra": null}, ...],
     "components": {"cuda": "12.8", "cudnn": "9.10.2.21", "cublas": "12.8.4.1", "nccl": "2.27.5"},
     "python_files": ["3.10", "3.11", ...],      # Pythons with a wheel for this platform (registry)
     "device_code": {"primary": "torch/lib/libtorch_cuda.so",
                     "sass": ["7.5", "8.0", ...], "ptx": ["12.0"], "partial": ["sm_90a", ...],
                     "arch_specific": ["9.0"],   # of `sass`: CCs present only as sm_XYa code
                     "libraries": {"torch/lib/libtorch_cuda.so": {"targets": {"sm_75": 475, ...},
                                                                  "entries": 2975, "compressed": 2975}}}}

`device_code.sass` / `ptx` are the compute capabilities of the *primary* library (the one with the
most device code) that at least half as many kernels target as its best-covered one - targets of
one CC counted together whatever their suffix (`sm_100`, `sm_100a`, `sm_100f`): the arch list the
build was compiled for. Targets only a few kernels carry (`sm_90a` specialisations, an `sm_89`
fp8 kernel) are `partial` - they do not make the whole build run on that GPU. For packages whose
kernel sets differ by design from arch to arch (cuDNN's engine libraries), the per-library target
table is the evidence; the summary is not an arch list.

Where a package says which library it loads for every GPU, that library is primary whatever its
size (`LOADED_LIBRARY`): SGLang's kernel wheel (`sgl_kernel/__init__.py` through `load_utils.py`)
loads `sm100/common_ops` on every GPU but CC 9.0 (there `sm90/common_ops`, same targets in the
releases read); its larger `flash_ops` (FlashAttention 3, imported only by the FA3 backend) and
`flashmla_ops` are optional kernels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.errors import CatalogError
from catalog.evidence.pins import Pin

__all__ = [
    "EVIDENCE_DIR",
    "Evidence",
    "EvidenceInvalid",
    "evidence_name",
    "load_evidence",
    "load_evidence_dir",
    "summarise_device_code",
]

EVIDENCE_DIR = Path(__file__).resolve().parent.parent / "data" / "evidence"
FORMAT = 1
_FULL = 0.5
# project -> library paths, in order of preference: the one the package loads for every GPU
LOADED_LIBRARY: dict[str, tuple[str, ...]] = {
    "sglang-kernel": ("sgl_kernel/sm100/common_ops.", "sgl_kernel/common_ops."),
    "sgl-kernel": ("sgl_kernel/sm100/common_ops.", "sgl_kernel/common_ops."),
}


class EvidenceInvalid(CatalogError, ValueError):
    """An evidence JSON file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Evidence:
    project: str
    version: str
    platform: str
    file: str
    read: str
    tags: tuple[str, ...] = ()
    sha256: str | None = None
    size: int | None = None
    url: str | None = None
    requires_python: str | None = None
    pins: tuple[Pin, ...] = ()
    components: dict[str, str] = field(default_factory=dict)
    python_files: tuple[str, ...] | None = None
    device_code: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return evidence_name(self.project, self.version, self.platform)

    @property
    def sass(self) -> tuple[str, ...] | None:
        return tuple(self.device_code["sass"]) if self.device_code is not None else None

    @property
    def ptx(self) -> tuple[str, ...] | None:
        return tuple(self.device_code["ptx"]) if self.device_code is not None else None

    @property
    def arch_specific(self) -> tuple[str, ...]:
        return tuple(self.device_code.get("arch_specific") or ()) if self.device_code is not None else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "evidence": FORMAT, "project": self.project, "version": self.version, "platform": self.platform,
            "file": self.file, "sha256": self.sha256, "size": self.size, "url": self.url, "read": self.read,
            "tags": list(self.tags), "requires_python": self.requires_python,
            "pins": [p.to_dict() for p in self.pins], "components": dict(self.components),
            "python_files": list(self.python_files) if self.python_files is not None else None,
            "device_code": self.device_code,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "evidence") -> Evidence:
        if not isinstance(data, dict):
            raise EvidenceInvalid(f"{where}: must be a JSON object")
        if data.get("evidence") != FORMAT:
            raise EvidenceInvalid(f"{where}: evidence: expected format {FORMAT}, got {data.get('evidence')!r}")
        for key in ("project", "version", "platform", "file", "read"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise EvidenceInvalid(f"{where}: {key}: must be a non-empty string")
        try:
            pins = tuple(Pin(str(p["name"]), str(p["spec"]), p.get("extra")) for p in data.get("pins") or [])
        except (TypeError, KeyError) as e:
            raise EvidenceInvalid(f"{where}: pins: each pin needs name and spec ({e})") from e
        dc = data.get("device_code")
        if dc is not None and not (isinstance(dc, dict) and isinstance(dc.get("sass"), list)
                                   and isinstance(dc.get("ptx"), list)):
            raise EvidenceInvalid(f"{where}: device_code: needs sass and ptx lists")
        if dc is not None and isinstance(dc.get("libraries"), dict) and dc["libraries"]:
            again = summarise_device_code(dc["libraries"], project=data["project"])
            if "arch_specific" not in dc:  # written before the key existed: derived from the same targets
                dc = {**dc, "arch_specific": again["arch_specific"]}
            for key in ("primary", "sass", "ptx", "partial", "arch_specific"):
                if dc.get(key) != again[key]:
                    raise EvidenceInvalid(f"{where}: device_code.{key}: {dc.get(key)!r} does not follow from the "
                                          f"per-library targets ({again[key]!r})")
        comps = data.get("components") or {}
        if not isinstance(comps, dict):
            raise EvidenceInvalid(f"{where}: components: must be an object")
        pf = data.get("python_files")
        return cls(
            project=data["project"], version=data["version"], platform=data["platform"], file=data["file"],
            read=data["read"], tags=tuple(data.get("tags") or ()), sha256=data.get("sha256"),
            size=data.get("size"), url=data.get("url"), requires_python=data.get("requires_python"),
            pins=pins, components={str(k): str(v) for k, v in comps.items()},
            python_files=tuple(pf) if pf is not None else None, device_code=dc,
        )


def evidence_name(project: str, version: str, platform: str) -> str:
    return f"{project}-{version}-{platform}.json"


def _primary(libraries: dict[str, dict[str, Any]], project: str | None) -> str:
    for prefix in LOADED_LIBRARY.get(project or "", ()):
        found = sorted(n for n in libraries if n.startswith(prefix))
        if found:
            return found[0]
    return max(libraries, key=lambda n: (libraries[n]["entries"], n))


def summarise_device_code(libraries: dict[str, dict[str, Any]], project: str | None = None) -> dict[str, Any]:
    """The build's arch list from per-library target counts (see the module docstring).

    Targets of one CC count together whatever their suffix (`sm_100` + `sm_100a` + `sm_100f`):
    cuDNN, for one, ships its main Hopper and Blackwell kernels as `sm_90a` / `sm_100f`. The bar
    a target must reach is half the best *general* SASS target (plain `sm_XY` or family `sm_XYf`):
    arch-specific `sm_XYa` code is added next to the general code (ONNX Runtime 1.30 ships twice
    as many `sm_90a` kernels as `sm_80` ones), so it does not set the bar. A CC that is full only
    through `a` targets is listed in `arch_specific`: that SASS runs on exactly that CC, not on
    the later CCs of its major (`sm_100a` does not run on CC 10.3).
    `project`: a package listed in `LOADED_LIBRARY` takes the library it loads as primary.
    """
    if not libraries:
        return {"primary": None, "sass": [], "ptx": [], "partial": [], "arch_specific": [], "libraries": {}}
    primary = _primary(libraries, project)
    targets: dict[str, int] = libraries[primary]["targets"]
    cover: dict[tuple[str, str], int] = {}
    general: dict[str, int] = {}
    for name, count in targets.items():
        kind, _, arch = name.partition("_")
        digits = arch.rstrip("af")
        if kind in ("sm", "compute") and digits.isdigit():
            key = (kind, _cc(int(digits)))
            cover[key] = cover.get(key, 0) + count
            if kind == "sm" and not arch.endswith("a"):
                general[key[1]] = general.get(key[1], 0) + count
    # SASS against the best general SASS target (any SASS when there is no general one); PTX
    # against the best of either kind, so a lone PTX kernel next to hundreds of SASS ones stays
    # partial (TensorFlow emits more PTX entries than SASS ones per target, so PTX is not held to
    # the SASS count alone)
    best_sass = max(general.values(), default=0) or max((n for (kind, _c), n in cover.items() if kind == "sm"),
                                                        default=0)
    best = max([best_sass] + [n for (kind, _c), n in cover.items() if kind == "compute"])
    full = {k for k, n in cover.items() if n >= _FULL * (best_sass if k[0] == "sm" else best)}
    sass = [cc for kind, cc in full if kind == "sm"]
    ptx = [cc for kind, cc in full if kind == "compute"]
    arch_specific = [cc for cc in sass if general.get(cc, 0) < _FULL * best_sass]
    partial = []
    for name in targets:
        kind, _, arch = name.partition("_")
        digits = arch.rstrip("af")
        if not digits.isdigit() or (kind, _cc(int(digits))) not in full:
            partial.append(name)
    key = _cc_key
    return {"primary": primary, "sass": sorted(sass, key=key), "ptx": sorted(ptx, key=key),
            "partial": sorted(partial), "arch_specific": sorted(arch_specific, key=key),
            "libraries": dict(sorted(libraries.items()))}


def _cc(arch: int) -> str:
    return f"{arch // 10}.{arch % 10}"


def _cc_key(cc: str) -> tuple[int, int]:
    major, minor = cc.split(".")
    return int(major), int(minor)


def load_evidence(path: str | Path) -> Evidence:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvidenceInvalid(f"{p.name}: cannot read evidence: {e}") from e
    ev = Evidence.from_dict(data, where=p.name)
    if p.name != ev.name:
        raise EvidenceInvalid(f"{p.name}: file name must be {ev.name} (project-version-platform.json)")
    return ev


def load_evidence_dir(folder: str | Path = EVIDENCE_DIR) -> dict[str, Evidence]:
    """Every evidence file of a folder, by file name ({} when the folder does not exist)."""
    d = Path(folder)
    if not d.is_dir():
        return {}
    return {p.name: load_evidence(p) for p in sorted(d.glob("*.json"))}
