"""`rtfit serve` on a port something already listens on fails with one line before its banner.

Found in a fresh-clone trial: the banner printed the console and API URLs (of the other process),
then uvicorn's 'address already in use' came as one JSON log line among the start-up logs."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from rtfit.cli import app


def test_a_busy_port_is_one_line_before_the_banner(tmp_path, monkeypatch):
    import uvicorn

    def never(*_a, **_k):
        raise AssertionError("uvicorn.run must not be reached")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setenv("RTFIT_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = CliRunner().invoke(app, ["serve", "--port", str(port)])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == (f"error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another "
                                  "--port (make run: RTFIT_PORT=N make run)")
    assert "web console" not in res.output and not (tmp_path / "data").exists()
