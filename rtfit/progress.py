"""Progress bars for long operations (hashing, staging, verifying), on stderr.

Shown when stderr is a terminal, or always with `RTFIT_PROGRESS=1` (recordings, tests); never with
`RTFIT_PROGRESS=0`. Data on stdout is never touched, so `--json` output stays clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["byte_progress", "enabled"]


def enabled() -> bool:
    flag = os.environ.get("RTFIT_PROGRESS")
    if flag is not None:
        return flag.strip().lower() not in ("", "0", "false", "no", "off")
    return sys.stderr.isatty()


@contextmanager
def byte_progress() -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """`with byte_progress() as bar:` then `cb = bar("hashing pytorch/2.13.0")` gives a
    `(done, total)` callback for one task; a no-op when progress is disabled."""
    if not enabled():
        yield lambda _label: (lambda _done, _total: None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True, force_terminal=sys.stderr.isatty() or None)
    columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        def bar(label: str) -> Callable[[int, int], None]:
            task = progress.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total or None)

            return update

        yield bar
