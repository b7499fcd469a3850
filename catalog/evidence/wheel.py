"""Evidence from one wheel, read as a zip archive (never installed).

A wheel's `*.dist-info/METADATA` gives `Requires-Python` and the `Requires-Dist` pins of NVIDIA's
runtime wheels; `*.dist-info/WHEEL` gives its tags; every shared library inside carries its CUDA
device code in `.nv_fatbin` (see `fatbin`). The archive may be a local file or any seekable
binary stream (`catalog.registry.RangeFile` reads one from the registry with HTTP range requests, so only
the members read are transferred).
"""

from __future__ import annotations

import email.parser
import hashlib
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

from catalog.errors import CatalogError
from catalog.evidence.fatbin import FatbinError, device_code
from catalog.evidence.pins import components, nvidia_pins
from catalog.evidence.record import Evidence, summarise_device_code

__all__ = ["WheelError", "platform_machine", "read_wheel"]

_LIB_SUFFIXES = (".so", ".dll", ".pyd")


class WheelError(CatalogError, ValueError):
    """The file is not a readable wheel (not a zip, no METADATA, bad tags)."""


def platform_machine(platform_tag: str) -> tuple[str, str]:
    """(machine, system) of a wheel platform tag: manylinux_2_28_aarch64 -> ("aarch64", "Linux")."""
    tag = platform_tag.lower()
    system = "Windows" if tag.startswith("win") else "Darwin" if tag.startswith("macosx") else "Linux"
    for machine in ("x86_64", "aarch64", "amd64", "arm64", "ppc64le", "s390x"):
        if tag.endswith(machine):
            return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine), system
    if tag == "any":
        return "any", "any"
    return tag.rsplit("_", 1)[-1], system


def _is_library(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base.endswith(_LIB_SUFFIXES) or ".so." in base


def read_wheel(source: str | Path | BinaryIO, *, filename: str | None = None, device: bool = True,
               sha256: str | None = None, url: str | None = None) -> Evidence:
    """Evidence of one wheel: metadata, tags, NVIDIA pins and (with `device`) its device code."""
    name = filename or (Path(source).name if isinstance(source, (str, Path)) else "wheel")
    size = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        size = path.stat().st_size
        if sha256 is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            sha256 = digest.hexdigest()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as e:
        raise WheelError(f"{name}: not a wheel (zip archive): {e}") from e
    with zf:
        meta, wheel = _dist_info(zf, name)
        tags = wheel.get_all("Tag") or []
        if not tags:
            raise WheelError(f"{name}: WHEEL names no Tag")
        python_tag, _abi, plat = tags[0].split("-", 2)
        machine, system = platform_machine(plat)
        py = _python_of(python_tag)
        requires = meta.get_all("Requires-Dist") or []
        pins = nvidia_pins(requires, python=py, machine=machine, system=system)
        libraries: dict[str, dict[str, Any]] = {}
        if device:
            for info in zf.infolist():
                if info.is_dir() or not _is_library(info.filename):
                    continue
                with zf.open(info) as member:
                    try:
                        entries = device_code(member, where=f"{name}:{info.filename}")
                    except FatbinError as e:
                        raise WheelError(str(e)) from e
                if entries:
                    libraries[info.filename] = _library(entries)
    project = str(meta.get("Name", "")).lower().replace("_", "-")
    return Evidence(
        project=project, version=str(meta.get("Version", "")),
        file=name, sha256=sha256, size=size, url=url, read="wheel" if device else "wheel-metadata",
        tags=tuple(tags), platform=machine, requires_python=meta.get("Requires-Python"),
        pins=tuple(pins), components=components(pins),
        device_code=summarise_device_code(libraries, project=project) if device else None,
    )


def _python_of(python_tag: str) -> str:
    """cp312 -> "3.12"; py3 -> "3.99" (any Python 3, for marker evaluation)."""
    digits = python_tag.lstrip("cpyt")
    if len(digits) >= 2 and digits[0] == "3":
        return f"3.{digits[1:]}"
    return "3.99"


def _dist_info(zf: zipfile.ZipFile, name: str) -> tuple[email.message.Message, email.message.Message]:
    metas = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
    wheels = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/WHEEL")]
    if len(metas) != 1 or len(wheels) != 1:
        raise WheelError(f"{name}: expected one *.dist-info/METADATA and WHEEL, found {len(metas)} and {len(wheels)}")
    parser = email.parser.BytesParser()
    return parser.parsebytes(zf.read(metas[0])), parser.parsebytes(zf.read(wheels[0]))


def _library(entries: list) -> dict[str, Any]:
    counts = Counter(e.name for e in entries)
    compressed = sum(1 for e in entries if e.compression != "none")
    isa = sorted({e.isa for e in entries if e.isa}, key=lambda v: tuple(int(x) for x in v.split(".")))
    out: dict[str, Any] = {"targets": dict(sorted(counts.items())), "entries": len(entries), "compressed": compressed}
    if isa:
        out["ptx_isa"] = isa  # PTX ISA versions: the newest names the toolkit that compiled the library
    return out
