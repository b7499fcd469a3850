"""One registry reader: `catalog.registry` serves freshness, `import --from-registry` and `evidence`.

Offline: a local index (PEP 691 JSON + a wheel served with HTTP range support) stands in for
the registry, so both callers are shown to read through the same index and range code.
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import catalog.evidence.registry as ev_registry
import catalog.registry as registry

WHEEL = "demo_gpu-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"
METADATA = ("Metadata-Version: 2.1\nName: demo-gpu\nVersion: 1.0\nRequires-Python: >=3.12\n"
            "Requires-Dist: nvidia-cuda-runtime-cu12==12.4.127\nRequires-Dist: nvidia-cudnn-cu12==9.1.0.70\n")


def _wheel_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_gpu/__init__.py", "x = 1\n" * 20000)          # a member the readers must skip
        zf.writestr("demo_gpu-1.0.dist-info/METADATA", METADATA)
        zf.writestr("demo_gpu-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: cp312-cp312-manylinux_2_28_x86_64\n")
    return buf.getvalue()


@pytest.fixture()
def index():
    blob = _wheel_bytes()
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):  # noqa: N802
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/simple/demo-gpu/":
                body = json.dumps({"meta": {"api-version": "1.1"}, "files": [
                    {"filename": WHEEL, "url": f"{base}/files/{WHEEL}", "hashes": {"sha256": "ab" * 32},
                     "size": len(blob), "upload-time": "2026-01-02T03:04:05Z"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path == f"/files/{WHEEL}":
                rng = self.headers.get("Range", "")
                start, _, end = rng.removeprefix("bytes=").partition("-")
                lo = int(start or 0)
                hi = int(end) if end else len(blob) - 1
                seen.append(rng)
                part = blob[lo:hi + 1]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                self.wfile.write(part)
                return
            self.send_response(404)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/", seen, len(blob)
    server.shutdown()


def test_evidence_reads_the_registry_through_catalog_registry():
    # one implementation: the evidence module re-uses the registry reader's types, not copies
    assert ev_registry.RangeFile is registry.RangeFile
    assert ev_registry.RegistryError is registry.RegistryError


def test_import_and_evidence_read_one_wheel_by_ranges(index, monkeypatch):
    url, seen, size = index
    monkeypatch.setenv("PIP_INDEX_URL", url)
    meta = registry.wheel_metadata("demo-gpu", "1.0")
    assert meta.read == "range" and meta.pythons == ("3.12",) and "nvidia-cudnn-cu12==9.1.0.70" in meta.metadata
    assert seen and all(r.startswith("bytes=") for r in seen)   # never the whole file in one plain GET
    seen.clear()
    ev = ev_registry.probe("demo-gpu==1.0", via="range")
    assert ev.components == {"cuda": "12.4", "cudnn": "9.1.0.70"} and ev.requires_python == ">=3.12"
    assert ev.python_files == ("3.12",) and ev.sha256 == "ab" * 32 and ev.size == size
    assert seen and all(r.startswith("bytes=") for r in seen)
    assert registry.fetch_project("demo-gpu").uploaded["1.0"].year == 2026


def test_range_file_transfers_only_what_is_read(index):
    url, _seen, size = index
    rf = registry.RangeFile(url.replace("/simple/", f"/files/{WHEEL}"), size=size)
    with zipfile.ZipFile(rf) as zf:
        assert zf.read("demo_gpu-1.0.dist-info/METADATA").decode() == METADATA
    assert rf.fetched < size / 2          # the 120 kB source member was never transferred


def test_an_index_that_is_not_json_is_a_registry_error(index, monkeypatch):
    url, _seen, _size = index
    with pytest.raises(registry.RegistryError, match="HTTP 404"):
        registry.project_index("no-such-project", url)
    monkeypatch.setenv("PIP_INDEX_URL", url)
    with pytest.raises(registry.RegistryError, match="HTTP 404"):
        ev_registry.index_files("no-such-project")
