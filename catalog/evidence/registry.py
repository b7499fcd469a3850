"""Evidence from the package registry, without installing and mostly without downloading.

Three ways in, all through the registry pip is configured with (PyPI by default):

- `index_files`: the registry's own index (PEP 691 JSON of the simple API) lists every file of a
  project with its tags - which Pythons and platforms a release has wheels for.
- `pip_report`: pip's resolver in metadata-only mode (`pip install --dry-run --no-deps
  --only-binary=:all: --python-version X --platform P --report -`) picks the wheel pip would
  install for that Python and platform and returns its METADATA. `PIP_CONSTRAINT=/dev/null`, so a
  machine-wide constraint file cannot hide newer releases.
- `RangeFile`: a seekable file over HTTP range requests, so `wheel.read_wheel` reads the zip's
  central directory, METADATA and the shared libraries' device code of a remote wheel while
  transferring only those members.
"""

from __future__ import annotations

import io
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from catalog.errors import CatalogError
from catalog.evidence.pins import components, nvidia_pins
from catalog.evidence.record import Evidence
from catalog.evidence.wheel import platform_machine, read_wheel

__all__ = ["RangeFile", "RegistryError", "index_files", "pip_report", "probe", "python_files"]

_UA = "rtfit-catalog-evidence"


class RegistryError(CatalogError, RuntimeError):
    """The registry could not be reached or has no such release / wheel."""


def _index_url() -> str:
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _context() -> ssl.SSLContext:
    cafile = os.environ.get("PIP_CERT") or None
    return ssl.create_default_context(cafile=cafile if cafile and os.path.exists(cafile) else None)


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": _UA, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_context()) as resp:
            return resp.read()
    except (urllib.error.URLError, OSError) as e:
        raise RegistryError(f"cannot read {url}: {e}") from e


def index_files(project: str) -> list[dict[str, Any]]:
    """Every file of `project` in the registry's simple index (PEP 691 JSON)."""
    url = f"{_index_url()}/{canonicalize_name(project)}/"
    data = _get(url, {"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        return list(json.loads(data)["files"])
    except (ValueError, KeyError, TypeError) as e:
        raise RegistryError(f"{url}: not a PEP 691 JSON index ({e})") from e


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


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file through HTTP range requests.

    A read at the position where the previous one ended continues the open response (one
    request streams a whole zip member); a read elsewhere opens a new `Range: bytes=N-` request.
    Small reads are served from a window of the last block, so zipfile's header look-ups cost
    no extra requests. `fetched` counts the bytes transferred.
    """

    def __init__(self, url: str, *, size: int | None = None, window: int = 1 << 16):
        super().__init__()
        self.url = url
        self.window = window
        self.pos = 0
        self.fetched = 0
        self.requests = 0
        self._resp: Any = None
        self._resp_pos = 0
        self._start = 0
        self._buf = b""
        self.size = size if size is not None else self._head()

    def _head(self) -> int:
        req = urllib.request.Request(self.url, method="HEAD", headers={"User-Agent": _UA})
        try:
            with urllib.request.urlopen(req, timeout=60, context=_context()) as resp:
                return int(resp.headers["Content-Length"])
        except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
            raise RegistryError(f"cannot size {self.url}: {e}") from e

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def close(self) -> None:
        self._drop()
        super().close()

    def _drop(self) -> None:
        if self._resp is not None:
            self._resp.close()
            self._resp = None

    def _open(self, start: int) -> None:
        self._drop()
        req = urllib.request.Request(self.url, headers={"User-Agent": _UA, "Range": f"bytes={start}-"})
        try:
            resp = urllib.request.urlopen(req, timeout=300, context=_context())
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(f"cannot read {self.url} from byte {start}: {e}") from e
        if resp.status != 206 and start != 0:
            resp.close()
            raise RegistryError(f"{self.url}: the server ignored the range request (status {resp.status})")
        self.requests += 1
        self._resp, self._resp_pos = resp, start

    def _stream(self, n: int) -> bytes:
        if self._resp is None or self._resp_pos != self.pos:
            self._open(self.pos)
        chunks, want = [], n
        while want > 0:
            try:
                part = self._resp.read(want)
            except OSError as e:
                raise RegistryError(f"{self.url}: read failed at byte {self._resp_pos}: {e}") from e
            if not part:
                break
            chunks.append(part)
            want -= len(part)
            self._resp_pos += len(part)
        data = b"".join(chunks)
        if len(data) != n:
            raise RegistryError(f"{self.url}: expected {n} bytes at {self.pos}, got {len(data)}")
        self.fetched += n
        return data

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        out = b""
        end = self._start + len(self._buf)
        if self._start <= self.pos < end:
            take = min(n, end - self.pos)
            out = self._buf[self.pos - self._start:self.pos - self._start + take]
            self.pos += take
            n -= take
        if n > 0:
            if n < self.window:  # small read: keep a window (zip headers, ELF tails) for the next ones
                block = self._stream(min(self.window, self.size - self.pos))
                self._start, self._buf = self.pos, block
                out += block[:n]
            else:
                out += self._stream(n)
            self.pos += n
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)
