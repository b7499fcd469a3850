"""Evidence from the package registry, without installing and mostly without downloading.

Three ways in, all through the registry pip is configured with (`catalog.registry`, the
project's one registry reader: index URL from pip's configuration, PEP 691 JSON, HTTP ranges):

- `index_files`: the registry's own index (PEP 691 JSON of the simple API) lists every file of a
  project with its tags - which Pythons and platforms a release has wheels for.
- `pip_report`: pip's resolver in metadata-only mode (`pip install --dry-run --no-deps
  --only-binary=:all: --python-version X --platform P --report -`) picks the wheel pip would
  install for that Python and platform and returns its METADATA. `PIP_CONSTRAINT=/dev/null`, so a
  machine-wide constraint file cannot hide newer releases.
- `catalog.registry.RangeFile`: a seekable file over HTTP range requests, so `wheel.read_wheel`
  reads the zip's central directory, METADATA and the shared libraries' device code of a remote
  wheel while transferring only those members.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from catalog.evidence.pins import components, nvidia_pins
from catalog.evidence.record import Evidence
from catalog.evidence.wheel import platform_machine, read_wheel
from catalog.registry import RangeFile, RegistryError, project_index

__all__ = ["RangeFile", "RegistryError", "index_files", "pip_report", "probe", "python_files"]


def index_files(project: str) -> list[dict[str, Any]]:
    """Every file of `project` in the registry's simple index (PEP 691 JSON)."""
    return list(project_index(project, timeout=60)["files"])


def _wheels(files: list[dict[str, Any]], version: str) -> list[tuple[dict[str, Any], frozenset]]:
    want = Version(version)
    out = []
    for f in files:
        if f.get("yanked"):
            continue
        try:
            _name, ver, _build, tags = parse_wheel_filename(f["filename"])
        except (InvalidWheelFilename, InvalidVersion, KeyError):
            continue
        if ver == want:
            out.append((f, tags))
    return out


def python_files(files: list[dict[str, Any]], version: str, machine: str) -> tuple[str, ...]:
    """Pythons with a wheel of `version` for `machine`: ("3.10", "3.11", ...); "abi3>=3.X" / "py3" kept."""
    found: set[str] = set()
    for _f, tags in _wheels(files, version):
        for t in tags:
            if platform_machine(t.platform) not in ((machine, "Linux"), ("any", "any")):
                continue
            if t.interpreter.startswith("cp3") and t.abi == "abi3":
                found.add(f"abi3>=3.{t.interpreter[3:]}")
            elif t.interpreter.startswith("cp3"):
                found.add(f"3.{t.interpreter[3:]}")
            elif t.interpreter.startswith("py3"):
                found.add("py3")
    return tuple(sorted(found, key=lambda s: (not s[0].isdigit(), [int(x) if x.isdigit() else 0
                                                                   for x in s.split(".")], s)))


def pip_report(requirement: str, *, python: str, platform: str) -> dict[str, Any]:
    """pip's dry-run report entry for `requirement` as pip would install it on (python, platform tag)."""
    with tempfile.TemporaryDirectory(prefix="rtfit-evidence-") as target:
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed",
               "--no-cache-dir", "--only-binary=:all:", "--python-version", python, "--platform", platform,
               "--target", target, "--quiet", "--report", "-", requirement]
        env = {**os.environ, "PIP_CONSTRAINT": "/dev/null"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RegistryError(f"pip found no {requirement} wheel for Python {python} on {platform}: {tail}")
    try:
        report = json.loads(proc.stdout)
        return report["install"][0]
    except (ValueError, KeyError, IndexError) as e:
        raise RegistryError(f"pip's report for {requirement} is unreadable ({e})") from e


def _pick(files: list[dict[str, Any]], version: str, machine: str, python: str | None) -> tuple[dict, Any]:
    best = None
    for f, tags in _wheels(files, version):
        for t in tags:
            if platform_machine(t.platform) != (machine, "Linux"):
                continue
            py = f"3.{t.interpreter[3:]}" if t.interpreter.startswith("cp3") else None
            if python is not None and py not in (python, None):
                continue
            key = (Version(py) if py else Version("0"), t.platform)
            if best is None or key > best[0]:
                best = (key, f, t)
    if best is None:
        raise RegistryError(f"no {version} wheel for {machine}" + (f" and Python {python}" if python else ""))
    return best[1], best[2]


def probe(requirement: str, *, machine: str = "x86_64", python: str | None = None,
          device: bool = False, via: str = "pip") -> Evidence:
    """Evidence of `NAME==VERSION` for one platform from the registry.

    Without `device`: pip's resolver reads the metadata (a dry run, metadata only; pip fetches
    the whole wheel when the registry serves no separate METADATA), or with `via="range"` the
    wheel's METADATA member alone through HTTP range requests. With `device`: the chosen wheel's
    libraries are read through HTTP range requests too, device code included.
    Either way the registry index supplies the Pythons the release has wheels for.
    """
    name, sep, version = requirement.partition("==")
    if not sep or not name or not version:
        raise RegistryError(f"expected NAME==VERSION, got {requirement!r}")
    files = index_files(name)
    chosen, tag = _pick(files, version, machine, python)
    pys = python_files(files, version, machine)
    if device or via == "range":
        ev = read_wheel(RangeFile(chosen["url"], size=chosen.get("size")), filename=chosen["filename"], device=device,
                        sha256=(chosen.get("hashes") or {}).get("sha256"), url=chosen["url"])
        read = "wheel" if device else "registry-metadata"
        return Evidence(**{**ev.__dict__, "size": chosen.get("size"), "python_files": pys, "read": read})
    py = python or (f"3.{tag.interpreter[3:]}" if tag.interpreter.startswith("cp3") else "3.12")
    item = pip_report(requirement, python=py.replace(".", ""), platform=tag.platform)
    meta = item.get("metadata") or {}
    url = (item.get("download_info") or {}).get("url", "")
    hashes = ((item.get("download_info") or {}).get("archive_info") or {}).get("hashes") or {}
    file = url.rsplit("/", 1)[-1]
    pins = nvidia_pins(list(meta.get("requires_dist") or []), python=py, machine=machine)
    size = next((f.get("size") for f, _t in _wheels(files, version) if f["filename"] == file), None)
    return Evidence(
        project=str(canonicalize_name(meta.get("name", name))), version=str(meta.get("version", version)),
        platform=machine, file=file, read="registry-metadata", tags=(str(tag),), sha256=hashes.get("sha256"),
        size=size, url=url or None, requires_python=meta.get("requires_python"), pins=tuple(pins),
        components=components(pins), python_files=pys, device_code=None,
    )
