"""Fixtures for the console's browser tests (the harness itself is in `ui_harness.py`)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ui_harness import (
    CHROMIUM_ARGS,
    TOKENS,
    TTL_S,
    ConsolePage,
    LiveService,
    MovableClock,
    free_socket,
    require_chromium,
    seed,
)


@pytest.fixture(scope="session")
def live_service() -> Iterator[LiveService]:
    import uvicorn

    from metadata_service.app import create_app
    from metadata_service.auth import append_token
    from metadata_service.settings import Settings
    from metadata_service.ui import mount_ui

    tmp = Path(tempfile.mkdtemp(prefix="rtfit-ui-"))
    tokens_file = tmp / "tokens.yaml"
    append_token(tokens_file, name="ui-admin", role="admin", node=None, token=TOKENS["admin"])
    append_token(tokens_file, name="ui-reader", role="reader", node=None, token=TOKENS["reader"])
    append_token(tokens_file, name="ui-agent", role="agent", node="edge-01", token=TOKENS["agent"])
    clock = MovableClock()
    settings = Settings(data_dir=tmp, tokens_file=tokens_file, node_ttl_s=TTL_S, metrics_public=True)
    app = create_app(settings, clock=clock)
    mount_ui(app)  # idempotent: a no-op once create_app mounts the console itself

    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    service = LiveService(url=f"http://127.0.0.1:{port}", tokens=dict(TOKENS), clock=clock)
    try:
        seed(service)
        yield service
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def console(browser: Any, live_service: LiveService) -> Iterator[ConsolePage]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield ConsolePage(page, live_service)
    finally:
        context.close()
