"""`configure_logging` writes to the stderr of the moment, not to a stream closed since.

`rtfit serve` configures logging; run through a CLI runner (as the CLI tests do), its sys.stderr
is replaced and then closed. A handler bound to that stream broke every later record and printed
logging's "--- Logging error ---" into the next command's output: `rtfit flow plan --json` printed
it after its JSON (found in a fresh-clone CI run, depending on test order).
"""

from __future__ import annotations

import io
import logging
import sys

import pytest

from metadata_service.logs import configure_logging


def test_records_go_to_the_current_stderr_after_the_first_one_was_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        first = io.StringIO()
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging("info")
        first.close()
        second = io.StringIO()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("rtfit.test").info("after the first stream closed")
        text = second.getvalue()
        assert "Logging error" not in text
        assert "after the first stream closed" in text
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
