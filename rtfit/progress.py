"""Progress bars for long operations (hashing, staging, verifying, reading evidence), on stderr.

Shown when stderr is a terminal, or always with `RTFIT_PROGRESS=1` (recordings, tests); never with
`RTFIT_PROGRESS=0`. Data on stdout is never touched, so `--json` output stays clean.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["byte_progress", "enabled", "steps"]


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


def steps(items: list[Any], label: Callable[[Any], str]) -> Iterator[Any]:
    """Yield `items`, showing "label(item) (i/N)" and a bar over the count while each is worked
    on (reading a wheel, probing a registry): work whose bytes the caller cannot see. No-op when
    progress is disabled."""
    if not enabled() or not items:
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True, force_terminal=sys.stderr.isatty() or None)
    if not console.is_terminal:  # a log or a recording: one line per step, no redrawn bar
        for i, item in enumerate(items, 1):
            console.print(f"{label(item)} ({i}/{len(items)})", highlight=False, soft_wrap=True)
            yield item
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("", total=len(items))
        for item in items:
            progress.update(task, description=label(item))
            yield item
            progress.advance(task)
