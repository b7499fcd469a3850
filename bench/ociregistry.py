"""A real OCI registry (CNCF distribution, Debian's `docker-registry`) on loopback, for a run.

    with LocalRegistry(tmp_dir) as reg:      # starts `docker-registry serve`, waits for /v2/
        reg.address                          # "127.0.0.1:PORT"
    # stopped (SIGTERM, then SIGKILL) and its storage left in tmp_dir for the caller to remove

Used by bench/registry_bench.py and tests/workflow/test_workflow_oci.py. The binary is
`docker-registry` from Debian (`apt-get install docker-registry`) or `registry` (upstream name);
`RTFIT_REGISTRY_BIN` overrides.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

__all__ = ["LocalRegistry", "registry_binary"]


def registry_binary() -> str | None:
    """Path of the registry binary, or None when it is not installed."""
    explicit = os.environ.get("RTFIT_REGISTRY_BIN")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("docker-registry") or shutil.which("registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalRegistry:
    """`docker-registry serve` on 127.0.0.1 with filesystem storage under `root`."""

    def __init__(self, root: Path, *, port: int | None = None, wrap: list[str] | None = None) -> None:
        self.root = Path(root)
        self.port = port or _free_port()
        self.wrap = list(wrap or [])   # e.g. ["nsenter", "--net=/proc/PID/ns/net"]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalRegistry:
        binary = registry_binary()
        if binary is None:
            raise RuntimeError("no registry binary: apt-get install docker-registry (or set RTFIT_REGISTRY_BIN)")
        storage = self.root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        log = (self.root / "registry.log").open("wb")
        self.proc = subprocess.Popen([*self.wrap, binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = (self.root / "registry.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"registry exited {self.proc.returncode}: {tail}")
            if self.wrap or self._ready():
                if not self.wrap or self._ready_wrapped():
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"registry on {self.address} not ready after {timeout} s")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as r:  # noqa: S310 (loopback)
                return bool(r.status == 200)
        except OSError:
            return False

    def _ready_wrapped(self) -> bool:
        probe = [*self.wrap, "python3", "-c",
                 f"import urllib.request; urllib.request.urlopen('http://{self.address}/v2/', timeout=2)"]
        return subprocess.run(probe, capture_output=True).returncode == 0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
