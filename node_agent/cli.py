"""``rtfit agent``: run the node agent (or print the inventory once) from the command line.

Bad input (a flag, a token file, a fake profile) prints one line on stderr and exits 2. With
``--once`` the exit status says whether the heartbeat landed (0) or not (1); without it the agent
runs until SIGTERM/SIGINT and never exits because the service is down.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register", "parse_interval", "parse_labels"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_interval(text: str, *, flag: str = "--interval") -> float:
    """ "10s", "500ms", "2m", "1h" or a bare number of seconds -> seconds (> 0)."""
    from node_agent.errors import AgentConfigError

    m = _DURATION.match(text)
    if not m or float(m.group(1)) <= 0:
        raise AgentConfigError(f"{flag} must be a positive duration like 10s, 500ms or 2m, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_labels(items: list[str]) -> dict[str, str]:
    from node_agent.errors import AgentConfigError

    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise AgentConfigError(f"--label must be KEY=VALUE, got {item!r}")
        labels[key.strip()] = value.strip()
    return labels


def _fail(message: str) -> typer.Exit:
    typer.echo(f"rtfit agent: {message}", err=True)
    return typer.Exit(2)


def agent_command(
    server: Annotated[
        str | None, typer.Option(envvar="RTFIT_SERVER", help="Service URL, e.g. http://rtfit:8000")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(envvar="RTFIT_TOKEN_FILE", help="File holding the agent's bearer token")
    ] = None,
    interval: Annotated[str, typer.Option(help="Time between heartbeats: 10s, 500ms, 2m")] = "10s",
    max_backoff: Annotated[
        str, typer.Option(help="Longest wait between retries while the service is down")
    ] = "60s",
    name: Annotated[
        str | None, typer.Option(envvar="NODE_NAME", help="Node name (default: hostname)")
    ] = None,
    cluster: Annotated[str | None, typer.Option(envvar="RTFIT_CLUSTER", help="Cluster name")] = None,
    store: Annotated[
        Path | None, typer.Option(envvar="RTFIT_STORE", help="Runtime store folder (Contract 6)")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="Extra node label KEY=VALUE (repeatable)")] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit")] = False,
    print_: Annotated[bool, typer.Option("--print", help="Print the inventory JSON to stdout")] = False,
    nfd_features_file: Annotated[
        Path | None,
        typer.Option(envvar="RTFIT_NFD_FEATURES_FILE", help="Write NFD local features to this file"),
    ] = None,
    fail_hard: Annotated[bool, typer.Option("--fail-hard", help="Error out if NVML cannot start")] = False,
    fake: Annotated[str | None, typer.Option(help="Use a fake GPU profile (demos, tests)")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error")] = "info",
) -> None:
    """Report this node's GPUs, driver and cached runtime components to the rtfit service."""
    from node_agent.agent import AgentConfig, NodeAgent
    from node_agent.devices import open_device_source
    from node_agent.errors import AgentConfigError, AgentError
    from node_agent.inventory import host_facts
    from node_agent.publisher import HeartbeatClient

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise _fail(f"--log-level must be debug, info, warning or error, got {log_level!r}")
    handler = _CurrentStderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if level > logging.DEBUG:  # one line per request is noise at a 10 s interval; failures are logged by us
        logging.getLogger("httpx").setLevel(logging.WARNING)

    try:
        seconds = parse_interval(interval)
        backoff_cap = parse_interval(max_backoff, flag="--max-backoff")
        labels = parse_labels(label or [])
        if server is None and not (once and print_) and nfd_features_file is None:
            raise AgentConfigError("--server is required (or use --once --print to only print the inventory)")
        if server is not None and token_file is None:
            raise AgentConfigError("--token-file is required with --server")
        host = host_facts()
        client = (
            HeartbeatClient(server, token_file) if server is not None and token_file is not None else None
        )
        source = open_device_source(fail_hard=fail_hard, fake_profile=fake)
    except AgentConfigError as e:
        raise _fail(str(e)) from None
    except AgentError as e:  # fail-hard NVML
        typer.echo(f"rtfit agent: {e}", err=True)
        raise typer.Exit(1) from None

    config = AgentConfig(
        name=name or host.hostname,
        cluster=cluster,
        store=store,
        labels=labels,
        interval=seconds,
        nfd_file=nfd_features_file,
        backoff_base=min(1.0, backoff_cap),
        backoff_cap=backoff_cap,
    )
    agent = NodeAgent(config, source, client=client, host=host)
    try:
        if once:
            raise typer.Exit(_run_once(agent, print_inventory=print_))
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        agent.run(stop)
    finally:
        agent.close()


def _run_once(agent: object, *, print_inventory: bool) -> int:
    from node_agent.agent import NodeAgent
    from node_agent.errors import PublishError

    assert isinstance(agent, NodeAgent)
    entry = agent.collect()
    agent.write_nfd(entry)
    if print_inventory:
        typer.echo(json.dumps(entry, indent=2, sort_keys=False))
    if agent.client is None:
        return 0
    try:
        agent.publish(entry)
    except PublishError as e:
        typer.echo(f"rtfit agent: heartbeat failed: {e}", err=True)
        return 1
    return 0


def register(app: typer.Typer) -> None:
    app.command("agent")(agent_command)


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a record is emitted: a CLI runner replaces and closes
    it around each command, and a handler bound to a closed stream prints "--- Logging error ---"
    into the output of whichever command logs next."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass
