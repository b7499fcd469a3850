"""Draft catalog records from what a package already states, so curators don't retype it.

Inputs: a wheel's METADATA file (`Requires-Dist` pins such as `nvidia-cudnn-cu12==9.1.0.70`,
`Requires-Python`) or the JSON of `pip install --dry-run --report R.json PKG` (which also pins
every resolved dependency). Output: a draft `framework_releases` record with the facts the
metadata proves (version, Python range, bundled CUDA / cuDNN, platforms) and the source it came
from; fields metadata cannot tell (SASS/PTX lists) are left for the curator and listed as such.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from catalog.errors import CatalogError

__all__ = ["Draft", "ImportFailed", "complete_engine_draft", "draft_from_metadata", "draft_from_registry", "draft_from_report", "import_file"]

_FRAMEWORK_OF = {"torch": "pytorch", "tensorflow": "tensorflow", "tensorflow-gpu": "tensorflow",
                 "onnxruntime-gpu": "onnxruntime", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt",
                 "tensorrt-cu12": "tensorrt", "tensorrt-cu11": "tensorrt", "jax-cuda12-plugin": "jax",
                 "jax-cuda13-plugin": "jax", "vllm": "vllm", "sglang": "sglang", "tensorrt-llm": "tensorrt-llm"}
# The pip extra a JAX plugin is installed through names the build (jax[cuda12], jax[cuda13]).
_VARIANT_OF = {"jax-cuda12-plugin": "cuda12", "jax-cuda13-plugin": "cuda13"}
_ENGINES = {"vllm", "sglang", "tensorrt-llm"}
_CUDA_RUNTIME = re.compile(r"^nvidia-cuda-runtime(-cu(\d+))?$")
_CUDA_TOOLKIT = re.compile(r"^cuda-toolkit$")
_CUDNN = re.compile(r"^nvidia-cudnn-cu(\d+)$")


class ImportFailed(CatalogError, ValueError):
    """The file is not package metadata or a pip report this importer understands."""


@dataclass
class Draft:
    framework: str
    version: str
    python: str | None
    bundled: dict[str, str] = field(default_factory=dict)
    needs: dict[str, str] = field(default_factory=dict)
    platforms: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    variant: str | None = None
    pypi_default: bool = False     # the registry's own wheel: no local label, so no variant either
    size_bytes: int | None = None

    def record(self, source_id: str) -> dict[str, Any]:
        v = Version(self.version)
        cuda = self.bundled.get("cuda")
        if self.variant is not None or self.pypi_default:
            variant = self.variant
        else:
            variant = v.local or (f"cu{cuda.replace('.', '')}" if cuda else None)
        build: dict[str, Any] = {"variant": variant, "platforms": self.platforms or ["x86_64"],
                                 "bundled": dict(self.bundled), "sass": [], "ptx": [], "source": [source_id]}
        if self.needs:
            build["needs"] = dict(self.needs)
        if self.size_bytes:
            build["size_bytes"] = self.size_bytes
            build["size_source"] = [source_id]
        return {"id": f"{self.framework}.{v.major}.{v.minor}", "framework": self.framework,
                "series": f"{v.major}.{v.minor}", "versions": [v.public], "python": self.python,
                "builds": [build], "source": [source_id], "confidence": "high",
                "note": "Drafted by `rtfit catalog import` from package metadata; " + "; ".join(self.evidence)}


def _series_of_pin(req: Requirement) -> str | None:
    for spec in req.specifier:
        if spec.operator in ("==", "==="):
            return spec.version
    return None


def _platforms(reqs: list[Requirement]) -> list[str]:
    found = []
    for r in reqs:
        m = str(r.marker or "")
        for arch in ("x86_64", "aarch64"):
            if arch in m and arch not in found:
                found.append(arch)
    return found


def _draft(name: str, version: str, requires_python: str | None, requires: list[str],
           pinned: dict[str, str] | None = None) -> Draft:
    framework = _FRAMEWORK_OF.get(name.lower().replace("_", "-"))
    if framework is None:
        raise ImportFailed(f"package {name!r} is not a framework the catalog tracks "
                           f"({', '.join(sorted(_FRAMEWORK_OF))})")
    reqs = []
    for line in requires:
        try:
            reqs.append(Requirement(line))
        except InvalidRequirement:
            continue
    key_name = name.lower().replace("_", "-")
    d = Draft(framework=framework, version=version, python=requires_python, platforms=_platforms(reqs),
              variant=_VARIANT_OF.get(key_name))
    pinned = pinned or {}
    for r in reqs:
        key = r.name.lower().replace("_", "-")
        pin = pinned.get(key) or _series_of_pin(r)
        if (_CUDA_RUNTIME.match(key) or _CUDA_TOOLKIT.match(key)) and pin:
            pv = Version(pin)
            d.bundled["cuda"] = f"{pv.major}.{pv.minor}"
            d.evidence.append(f"{key}=={pin} -> CUDA {pv.major}.{pv.minor}")
        elif _CUDNN.match(key) and pin:
            d.bundled["cudnn"] = pin
            d.evidence.append(f"{key}=={pin} -> cuDNN {pin}")
        elif key == "torch" and pin and framework in _ENGINES:
            d.bundled["pytorch"] = pin
            d.evidence.append(f"torch=={pin} -> bundled PyTorch {pin} (its CUDA/cuDNN come with it)")
        elif _CUDA_RUNTIME.match(key) and str(r.specifier) and "cuda" not in d.needs:
            d.needs["cuda"] = _range_of(r, 2)
            d.evidence.append(f"{key}{r.specifier} -> needs CUDA {d.needs['cuda']}")
        elif _CUDNN.match(key) and str(r.specifier) and "cudnn" not in d.needs:
            d.needs["cudnn"] = _range_of(r, 3)
            d.evidence.append(f"{key}{r.specifier} -> needs cuDNN {d.needs['cudnn']}")
    if "pytorch" in d.bundled and "cuda" not in d.bundled:
        d.todo.append(f"copy bundled.cuda / bundled.cudnn from the catalogued torch {d.bundled['pytorch']} build")
    if "cuda" not in d.bundled and "cuda" not in d.needs and "pytorch" not in d.bundled:
        d.todo.append("no CUDA runtime pin or range: set bundled.cuda or needs.cuda by hand")
    d.todo.append("sass/ptx arch lists are not in package metadata: read them from the wheel's device code "
                  "(`rtfit catalog evidence`) or the build scripts")
    return d


def _range_of(req: Requirement, keep: int) -> str:
    """A CUDA / cuDNN requirement as a catalog range over the first `keep` release parts.

    '~=12.0' -> '>=12.0,<13'; CUDA '>=13.0.48' -> '>=13.0,<14' (the runtime wheel's patch numbers
    are not toolkit versions; a range without an upper bound stays within its CUDA major).
    """
    parts: list[str] = []
    major = None
    for spec in req.specifier:
        v = Version(spec.version)
        major = major or v.major
        if spec.operator == "~=":
            parts += [f">={v.major}.{v.minor}", f"<{v.major + 1}"]
        elif spec.operator in (">=", ">"):
            parts.append(f">={'.'.join(str(x) for x in v.release[:keep])}")
        elif spec.operator in ("<", "<="):
            parts.append(f"{spec.operator}{'.'.join(str(x) for x in v.release[:keep])}")
        else:
            parts.append(str(spec))
    if major is not None and not any(p.startswith("<") for p in parts):
        parts.append(f"<{major + 1}")
    return ",".join(sorted(set(parts), key=lambda p: (p[0] != ">", p)))


def draft_from_metadata(text: str) -> Draft:
    msg = Parser().parsestr(text)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        raise ImportFailed("not a METADATA file: no Name/Version headers")
    return _draft(name, version, msg.get("Requires-Python"), msg.get_all("Requires-Dist") or [])


def draft_from_report(data: dict[str, Any]) -> list[Draft]:
    installs = data.get("install") if isinstance(data, dict) else None
    if not isinstance(installs, list):
        raise ImportFailed("not a pip --report JSON: no 'install' list")
    pinned = {}
    for item in installs:
        meta = item.get("metadata", {}) if isinstance(item, dict) else {}
        if meta.get("name") and meta.get("version"):
            pinned[meta["name"].lower().replace("_", "-")] = meta["version"]
    drafts = []
    for item in installs:
        meta = item.get("metadata", {})
        if str(meta.get("name", "")).lower().replace("_", "-") in _FRAMEWORK_OF:
            drafts.append(_draft(meta["name"], meta["version"], meta.get("requires_python"),
                                 meta.get("requires_dist") or [], pinned))
    if not drafts:
        raise ImportFailed("the report installs no framework package the catalog tracks")
    return drafts


def import_file(path: Path) -> list[Draft]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ImportFailed(f"cannot read {path}: {e.strerror}") from e
    if text.lstrip().startswith("{"):
        try:
            return draft_from_report(json.loads(text))
        except json.JSONDecodeError as e:
            raise ImportFailed(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    return [draft_from_metadata(text)]


def draft_from_registry(requirement: str, machine: str = "x86_64", index_url: str | None = None) -> Draft:
    """Draft a release from the registry itself: `NAME==VERSION` -> its wheel METADATA and tags.

    The wheel read is the registry's own (no local label), so the draft build has no variant
    (except a JAX plugin, whose variant names the pip extra). The Python range comes from the
    CPython tags of the release's wheels for `machine` when there are any (not abi3).
    """
    from catalog.registry import RegistryError, wheel_metadata

    name, sep, version = requirement.partition("==")
    if not sep or not name.strip() or not version.strip():
        raise ImportFailed(f"expected NAME==VERSION, got {requirement!r}")
    try:
        wm = wheel_metadata(name.strip(), version.strip(), machine, index_url)
    except RegistryError as e:
        raise ImportFailed(str(e)) from e
    d = draft_from_metadata(wm.metadata)
    d.pypi_default = True
    d.platforms = [machine]
    d.size_bytes = wm.size
    if wm.pythons:
        last = int(wm.pythons[-1].split(".")[1])
        d.python = f">={wm.pythons[0]},<3.{last + 1}"
        d.evidence.append(f"CPython wheels {', '.join(wm.pythons)} for {machine}")
    d.evidence.append(f"read {wm.filename} ({'METADATA file' if wm.read == 'core-metadata' else 'METADATA by HTTP ranges'})")
    return d


def complete_engine_draft(d: Draft, cat: Any) -> bool:
    """Fill an engine draft's CUDA / cuDNN from the catalogued torch build it pins (same platforms).

    Returns True when a build was found (the todo is dropped), False when the pin stays a todo.
    """
    pin = d.bundled.get("pytorch")
    if pin is None or "cuda" in d.bundled:
        return False
    want = Version(pin)
    platforms = set(d.platforms or ["x86_64"])
    refs = [r for r in cat.builds("pytorch") if r.version == Version(want.public) and r.build.gpu
            and (want.local is None or r.build.variant == want.local) and platforms <= set(r.build.platforms)]
    refs.sort(key=lambda r: r.build.variant is not None)  # the registry's own wheel (no label) first
    if not refs or refs[0].build.cuda is None:
        return False
    build = refs[0].build
    d.bundled["cuda"] = f"{build.cuda.major}.{build.cuda.minor}"
    if "cudnn" in build.bundled:
        d.bundled["cudnn"] = str(build.bundled["cudnn"])
    d.evidence.append(f"CUDA/cuDNN of the catalogued torch {refs[0].label} build ({refs[0].release.id})")
    d.todo = [t for t in d.todo if not t.startswith("copy bundled.cuda")]
    return True
