"""`rtfit agent` on the command line: --once --print, NFD output, exit codes on bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from node_agent.cli import parse_interval, register
from node_agent.errors import AgentConfigError
from node_agent.fake import fake_l4, fake_node
from node_agent.fake_nvml import FakeNvml

CONTRACT2_KEYS = {"name", "arch", "driver_version", "gpus", "cached_components", "labels"}


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # keep `agent` a sub-command, as in `rtfit`
        pass

    register(app)
    return app


@pytest.fixture
def no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever this machine has, the agent sees an NVML that cannot start (injected module)."""
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fake_node(), init_error="LibraryNotFound"))


def _run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["agent", *args])


def test_once_print_without_gpu_is_a_valid_cpu_only_inventory(app, no_nvml, tmp_path: Path) -> None:
    (tmp_path / "cuda" / "12.4.1").mkdir(parents=True)
    (tmp_path / "cuda" / "12.4.1" / "manifest.json").write_text("{}")
    result = _run(app, "--once", "--print", "--name", "cpu-1", "--store", str(tmp_path), "--label", "zone=a")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert CONTRACT2_KEYS <= set(entry)
    assert entry["name"] == "cpu-1" and entry["driver_version"] is None and entry["gpus"] == []
    assert entry["arch"] in ("x86_64", "aarch64")
    assert entry["cached_components"] == ["cuda/12.4.1"] and entry["labels"] == {"zone": "a"}
    assert entry["agent"]["source"] == "null"


def test_once_print_with_an_injected_nvml_module(app, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(fake_node(fake_l4(), fake_l4(in_use=True))))
    result = _run(app, "--once", "--print", "--name", "g1")
    assert result.exit_code == 0, result.output
    entry = json.loads(result.stdout)
    assert entry["driver_version"] == "550.54.15" and entry["agent"]["source"] == "nvml"
    assert entry["gpus"] == [
        {"product": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9", "count": 2, "free": 1}
    ]


def test_fail_hard_without_nvml_is_a_clear_error(app, no_nvml) -> None:
    result = _run(app, "--once", "--print", "--fail-hard")
    assert result.exit_code == 1
    assert "nvmlInit failed: LibraryNotFound" in result.stderr
    assert "Traceback" not in result.output


def test_nfd_file_is_written_with_fake_profile(app, tmp_path: Path) -> None:
    target = tmp_path / "features.d" / "rtfit"
    result = _run(app, "--once", "--fake", "l4x2", "--nfd-features-file", str(target))
    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    assert "rtfit.io/gpu.count=2" in lines and "rtfit.io/gpu.product=NVIDIA-L4" in lines
    assert any(li.startswith("# +expiry-time=") for li in lines)


def test_once_with_unreachable_server_exits_1_without_traceback(app, tmp_path: Path) -> None:
    token = tmp_path / "tok"
    token.write_text("t")
    result = _run(
        app, "--once", "--fake", "none", "--server", "http://127.0.0.1:9", "--token-file", str(token)
    )
    assert result.exit_code == 1
    assert "heartbeat failed: cannot reach http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--once"], "--server is required"),
        (["--server", "http://x"], "--token-file is required"),
        (["--once", "--print", "--interval", "soon"], "--interval must be a positive duration"),
        (["--once", "--print", "--interval", "0s"], "--interval must be a positive duration"),
        (["--once", "--print", "--fake", "h200"], "unknown fake profile 'h200'"),
        (["--once", "--print", "--label", "novalue"], "--label must be KEY=VALUE"),
        (["--server", "http://x", "--token-file", "/nonexistent/tok"], "cannot read token file"),
        (["--once", "--print", "--log-level", "loud"], "--log-level must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(app, args: list[str], message: str) -> None:
    result = _run(app, *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), ("7", 7.0)]
)
def test_parse_interval(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


def test_parse_interval_rejects_garbage() -> None:
    with pytest.raises(AgentConfigError):
        parse_interval("-3s")


def test_agent_logging_follows_the_current_stderr(app: typer.Typer, no_nvml: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's log handler writes to sys.stderr as it is at each record: under a CLI runner the
    stream of one command is closed before the next command (or test) logs."""
    import io
    import logging
    import sys

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    root.handlers[:] = []
    try:
        _run(app, "--once", "--print", "--log-level", "info")   # configures logging, whatever it prints
        assert root.handlers, "the agent command configured no logging"
        later = io.StringIO()
        monkeypatch.setattr(sys, "stderr", later)
        logging.getLogger("rtfit.test").warning("logged after the command's stderr was closed")
        assert "Logging error" not in later.getvalue()
        assert "logged after the command's stderr was closed" in later.getvalue()
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
