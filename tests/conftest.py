"""Suite-wide settings: the compiled catalog cache lives in a temporary folder per test session.

Processes the tests start (the service, the CLI) inherit it, so no test writes to ~/.cache.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def _catalog_cache_dir() -> Iterator[None]:
    if "RTFIT_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="rtfit-test-cache-") as d:
        os.environ["RTFIT_CACHE_DIR"] = d
        yield
        os.environ.pop("RTFIT_CACHE_DIR", None)
