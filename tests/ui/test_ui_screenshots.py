"""Screenshots of every console page, taken from the live service in headless Chromium.

They go to a temp dir, or to `RTFIT_UI_SCREENSHOTS_DIR` when set: `scripts/screenshots.py` sets it
to docs/screenshots/ to refresh the pictures the README shows.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ui_harness import RUN_ID, ConsolePage


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_ui_screenshots_of_every_page(console: ConsolePage, tmp_path: Path) -> None:
    out = Path(os.environ.get("RTFIT_UI_SCREENSHOTS_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = console.page
    console.sign_in("reader")
    shots: list[Path] = []

    def shot(name: str, *, full: bool = True) -> None:
        path = out / f"{name}.png"
        page.screenshot(path=str(path), full_page=full)
        shots.append(path)

    console.open("fleet")
    page.wait_for_selector("#fleet-table tbody tr[data-node]")
    shot("fleet")

    console.open("catalog")
    page.wait_for_selector("#matrix-table td.cell")
    page.click("#matrix-table td.cell.mark-p, #matrix-table td.cell.no")
    page.click("#diff-run")
    page.wait_for_selector("#diff-table")
    shot("catalog")

    console.open("select")
    page.fill("input[name=framework_version]", ">=2.3")
    page.select_option("select[name=precision]", "bf16")
    page.fill("input[name=top]", "3")
    page.click("#select-submit")
    page.wait_for_selector("#select-result[data-state='feasible']")
    shot("select-feasible")

    page.fill("input[name=framework_version]", "")
    page.select_option("select[name=precision]", "fp8")
    page.fill("input[name=min_gpu_memory_gib]", "200")
    page.click("#select-submit")
    page.wait_for_selector("#select-result[data-state='infeasible']")
    shot("select-infeasible")

    console.open("flows")
    page.wait_for_selector("#runs-table")
    shot("flows", full=False)

    console.open(f"flows/{RUN_ID}/export")
    page.wait_for_selector("#task-log[data-task='export']")
    shot("flow-run")

    assert console.errors == []
    for path in shots:
        width, height = _png_size(path)
        assert width >= 1000 and height >= 600 and path.stat().st_size > 20_000, path
