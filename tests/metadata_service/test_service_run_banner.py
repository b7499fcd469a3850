"""`make run` (`rtfit serve --demo`) says where the console is and where the demo tokens are."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def test_demo_banner_names_the_console_and_the_token_files(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RTFIT_") or k == "RTFIT_CACHE_DIR"}
    env["RTFIT_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "rtfit.cli", "serve", "--demo", "--port", str(port)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
                            start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "example query" in line:
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    text = "".join(lines)
    assert f"http://127.0.0.1:{port}/ui/" in text, text
    assert f"http://127.0.0.1:{port}/docs" in text
    tokens = re.findall(r"(/\S+demo-(?:reader|admin)\.token)", text)
    assert len(tokens) == 2, text
    for t in tokens:
        assert Path(t).is_file() and Path(t).read_text().strip()
