#!/usr/bin/env python3
"""Refresh docs/screenshots/*.png: runs the console's screenshot test against a seeded service.

Needs Debian's chromium (/usr/bin/chromium) and the playwright package (dev extras). Usage:
    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    out = ROOT / "docs" / "screenshots"
    env = {**os.environ, "RTFIT_UI_SCREENSHOTS_DIR": str(out), "CI": os.environ.get("CI", "1")}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests" / "ui" / "test_ui_screenshots.py")]
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code == 0:
        print(f"screenshots written to {out}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
