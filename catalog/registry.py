"""Read a package's releases from the Python package index pip is configured to use.

Only the standard simple repository API is used: PEP 691 JSON (`Accept:
application/vnd.pypi.simple.v1+json`) with the PEP 700 fields (`versions`, per-file
`upload-time`). No web page is scraped. The index is the one pip installs from: `--index-url`
given here, else `PIP_INDEX_URL`, else `index-url` in pip's configuration files, else PyPI.
Extra indexes (`extra-index-url`, `find-links`) are local mirrors on many machines and are not
consulted: the freshness question is "what did the registry publish", not "what is on disk".

What comes back is plain data (`ProjectReleases`): for every final release, the earliest upload
time of any of its files; pre-, dev- and fully yanked releases are dropped.

This module is the project's one reader of the registry: `project_index` (the PEP 691 JSON of one
project), `RangeFile` (a remote file read with HTTP range requests) and `wheel_metadata` serve
freshness, `catalog import --from-registry` and `catalog evidence --from-registry` alike.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from catalog.errors import CatalogError

__all__ = [
    "DEFAULT_INDEX",
    "ProjectReleases",
    "RangeFile",
    "WheelMetadata",
    "RegistryError",
    "fetch_project",
    "parse_project_json",
    "parse_time",
    "pip_index_url",
    "project_index",
    "wheel_metadata",
]

DEFAULT_INDEX = "https://pypi.org/simple/"
ACCEPT = "application/vnd.pypi.simple.v1+json"


class RegistryError(CatalogError):
    """The index could not be read, or answered something that is not PEP 691 JSON."""


@dataclass(frozen=True)
class ProjectReleases:
    """Final releases of one project: version string -> earliest upload time (UTC)."""

    name: str
    uploaded: dict[str, datetime] = field(default_factory=dict)

    def versions(self) -> list[Version]:
        return sorted(Version(v) for v in self.uploaded)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name,
                "releases": {v: t.isoformat().replace("+00:00", "Z")
                             for v, t in sorted(self.uploaded.items(), key=lambda kv: Version(kv[0]))}}

    @classmethod
    def from_dict(cls, data: Any) -> ProjectReleases:
        if not isinstance(data, dict) or not isinstance(data.get("releases"), dict):
            raise RegistryError("snapshot project entry must be {name, releases: {version: upload time}}")
        return cls(name=str(data.get("name")),
                   uploaded={str(v): parse_time(t) for v, t in data["releases"].items()})


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise RegistryError(f"upload time must be an ISO 8601 string, got {value!r}")
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise RegistryError(f"not an ISO 8601 upload time: {value!r}") from e
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _pip_config_files() -> list[Path]:
    """pip's configuration files, lowest priority first (global, user, site), as pip reads them."""
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        return []
    dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    files = [Path(d) / "pip" / "pip.conf" for d in dirs] + [Path("/etc/pip.conf")]
    home = Path.home()
    xdg_home = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config"))
    files += [home / ".pip" / "pip.conf", xdg_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    return files


def _pip_option(name: str) -> str | None:
    """An option from pip's environment or config files ([install] beats [global], later files win)."""
    env = os.environ.get("PIP_" + name.upper().replace("-", "_"))
    if env:
        return env
    value = None
    for f in _pip_config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(f, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "install"):
            if parser.has_option(section, name):
                value = parser.get(section, name).strip() or value
    return value


def pip_index_url() -> str:
    """The index URL pip installs from (PIP_INDEX_URL, pip config `index-url`, else PyPI)."""
    url = _pip_option("index-url") or DEFAULT_INDEX
    return url if url.endswith("/") else url + "/"


def _ssl_context() -> ssl.SSLContext:
    cert = _pip_option("cert")
    if cert and Path(cert).exists():
        return ssl.create_default_context(cafile=cert)
    return ssl.create_default_context()


def parse_project_json(name: str, data: Any) -> ProjectReleases:
    """PEP 691/700 project JSON -> the final releases with their earliest upload time."""
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise RegistryError(f"{name}: the index did not answer PEP 691 JSON (no 'files' list)")
    uploaded: dict[str, datetime] = {}
    for f in data["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("filename"), str):
            continue
        if f.get("yanked"):
            continue
        fn = f["filename"]
        try:
            if fn.endswith(".whl"):
                version = parse_wheel_filename(fn)[1]
            else:
                version = parse_sdist_filename(fn)[1]
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        when = f.get("upload-time")
        if not when:
            continue  # PEP 700 makes upload-time optional; an index without it cannot date releases
        t = parse_time(when)
        key = str(version)
        if key not in uploaded or t < uploaded[key]:
            uploaded[key] = t
    return ProjectReleases(name=str(canonicalize_name(name)), uploaded=uploaded)


def project_index(name: str, index_url: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """GET <index>/<normalized name>/ as PEP 691 JSON: the raw project page (`files`, `versions`, ...)."""
    base = index_url or pip_index_url()
    base = base if base.endswith("/") else base + "/"
    url = f"{base}{canonicalize_name(name)}/"
    req = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "rtfit-catalog"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=_ssl_context()) as resp:
            ctype = resp.headers.get("Content-Type", "")
            body = resp.read()
    except urllib.error.HTTPError as e:
        raise RegistryError(f"{url}: HTTP {e.code}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise RegistryError(f"{url}: {getattr(e, 'reason', e)}") from e
    if "json" not in ctype:
        raise RegistryError(f"{url}: the index answered {ctype or 'no content type'}, not PEP 691 JSON")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RegistryError(f"{url}: invalid JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise RegistryError(f"{url}: the index did not answer PEP 691 JSON (no 'files' list)")
    return data


def fetch_project(name: str, index_url: str | None = None, timeout: float = 30.0) -> ProjectReleases:
    """The final releases of `name` with their upload times, from the index's PEP 691 JSON."""
    return parse_project_json(name, project_index(name, index_url, timeout))


# -- one wheel's metadata, for drafting records (`rtfit catalog import --from-registry`) -------------

@dataclass(frozen=True)
class WheelMetadata:
    """What the registry says about one release for one platform, read without installing it."""

    project: str
    version: str
    filename: str
    url: str
    size: int | None
    metadata: str                  # the wheel's METADATA (email-header format)
    pythons: tuple[str, ...]       # CPython series with a wheel for this platform ("3.10", ...)
    read: str                      # "core-metadata" (PEP 658/714 file) or "range" (zip member via HTTP ranges)


class RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file through HTTP range requests.

    zipfile reads a wheel's central directory and the members it is asked for, so only those
    bytes are transferred. A read at the position where the previous one ended continues the
    open response (one request streams a whole zip member); a read elsewhere opens a new
    `Range: bytes=N-` request. Small reads are served from a window of the last block, so
    zipfile's header look-ups cost no extra requests. `fetched` counts the bytes transferred,
    `requests` the requests made.
    """

    def __init__(self, url: str, *, size: int | None = None, timeout: float = 300.0, window: int = 1 << 16):
        super().__init__()
        self.url = url
        self.timeout = timeout
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
        req = urllib.request.Request(self.url, method="HEAD", headers={"User-Agent": "rtfit-catalog"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout, context=_ssl_context()) as resp:
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
        req = urllib.request.Request(self.url, headers={"User-Agent": "rtfit-catalog", "Range": f"bytes={start}-"})
        try:
            resp = urllib.request.urlopen(req, timeout=self.timeout, context=_ssl_context())
        except (urllib.error.URLError, OSError) as e:
            raise RegistryError(f"cannot read {self.url} from byte {start}: {e}") from e
        if resp.status != 206 and start != 0:
            resp.close()
            raise RegistryError(f"{self.url}: the file server ignores HTTP Range requests (status {resp.status})")
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

    def read(self, n: int | None = -1) -> bytes:
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


def _get(url: str, timeout: float, accept: str | None = None) -> bytes:
    headers = {"User-Agent": "rtfit-catalog"}
    if accept:
        headers["Accept"] = accept
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout,
                                    context=_ssl_context()) as resp:
            return resp.read()  # type: ignore[no-any-return]
    except urllib.error.HTTPError as e:
        raise RegistryError(f"{url}: HTTP {e.code}") from e
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        raise RegistryError(f"{url}: {getattr(e, 'reason', e)}") from e


def _machine_of(platform_tag: str) -> str | None:
    if platform_tag == "any":
        return "any"
    for machine in ("x86_64", "aarch64"):
        if platform_tag.startswith(("manylinux", "linux")) and platform_tag.endswith(machine):
            return machine
    return None


def wheel_metadata(name: str, version: str, machine: str = "x86_64", index_url: str | None = None,
                   timeout: float = 60.0) -> WheelMetadata:
    """METADATA of `name==version`'s Linux wheel for `machine`, plus the Pythons it has wheels for."""
    base = index_url or pip_index_url()
    base = base if base.endswith("/") else base + "/"
    data = project_index(name, base, timeout)
    want = Version(version)
    wheels: list[tuple[dict[str, Any], set[str]]] = []
    for f in data.get("files", []) if isinstance(data, dict) else []:
        fn = f.get("filename", "") if isinstance(f, dict) else ""
        if not fn.endswith(".whl") or f.get("yanked"):
            continue
        try:
            _n, v, _b, tags = parse_wheel_filename(fn)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        if v != want:
            continue
        machines = {_machine_of(t.platform) for t in tags}
        if machine in machines or "any" in machines:
            wheels.append((f, {t.interpreter for t in tags if t.abi != "abi3"}))
    if not wheels:
        raise RegistryError(f"{name}=={version}: no Linux {machine} wheel on {base}")
    pythons = sorted({f"3.{i[3:]}" for _f, interp in wheels for i in interp
                      if i.startswith("cp3") and i[3:].isdigit()}, key=lambda s: int(s.split(".")[1]))
    f = max(wheels, key=lambda w: sorted(w[1]))[0]  # the newest CPython's wheel (any one: METADATA is shared)
    url, size = f["url"], f.get("size")
    if f.get("core-metadata") or f.get("data-dist-info-metadata"):
        text = _get(url + ".metadata", timeout).decode("utf-8", "replace")
        read = "core-metadata"
    else:
        if not isinstance(size, int):
            raise RegistryError(f"{f['filename']}: the index gives no size, cannot read the wheel by ranges")
        with RangeFile(url, size=size, timeout=timeout) as remote, zipfile.ZipFile(remote) as zf:
            member = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
            if member is None:
                raise RegistryError(f"{f['filename']}: no .dist-info/METADATA in the wheel")
            text = zf.read(member).decode("utf-8", "replace")
        read = "range"
    return WheelMetadata(project=str(canonicalize_name(name)), version=version, filename=f["filename"], url=url,
                         size=size if isinstance(size, int) else None, metadata=text, pythons=tuple(pythons),
                         read=read)
