"""`rtfit serve`, `rtfit token new`, and the API client commands `rtfit nodes` / `rtfit models`.

`rtfit select --server URL` belongs to the solver's CLI; both use `service_protocol.ServiceClient`. User
errors (bad flags, unreachable server, refused token) print one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import typer
import yaml

from rtfit.output import COMPACT, JSON, OUTPUT, emit
from service_protocol import ProtocolError

from .errors import ServiceError

__all__ = ["app_factory", "register"]

ServerOpt = typer.Option(None, "--server", help="Service URL (default: RTFIT_SERVER or http://127.0.0.1:8000).")
TokenFileOpt = typer.Option(None, "--token-file", help="File holding the bearer token (default: RTFIT_TOKEN).")


def _port_in_use(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (None: it can), checked before the banner: uvicorn's own
    failure came after the banner had printed the URLs, as one JSON log line among others."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return None  # let uvicorn report a host it cannot resolve
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            s.bind(addr)
        except OSError as e:
            return e.strerror or str(e)
    return None


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def app_factory() -> Any:
    """The uvicorn factory of `rtfit serve`: settings from the environment, JSON logs."""
    from .app import create_app
    from .logs import configure_logging
    from .settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes (uvicorn)."),
    demo: bool = typer.Option(False, "--demo", help="Also register a labelled demo inventory and this machine."),
) -> None:
    """Run the metadata service (settings from RTFIT_* environment variables)."""
    import uvicorn

    from .app import create_app, prepare
    from .logs import configure_logging
    from .settings import Settings

    try:
        settings = Settings()
    except ValueError as e:
        raise _fail(f"bad RTFIT_* setting: {e}".splitlines()[0]) from e
    busy = _port_in_use(host, port)
    if busy:
        raise _fail(f"cannot listen on {host}:{port}: {busy}; choose another --port (make run: RTFIT_PORT=N make run)")
    configure_logging(settings.log_level)
    if demo and settings.tokens_file is None:
        settings.tokens_file = _demo_tokens(settings.data_dir)
        os.environ["RTFIT_TOKENS_FILE"] = str(settings.tokens_file)
    try:
        # Migrate and bootstrap once here, so that several workers do not race to do it.
        probe = create_app(settings)
        prepare(probe.state.rtfit)
        if demo:
            from .demo import seed_demo

            probe.state.rtfit.holder.adopt(settings.catalog)  # the demo serves this checkout's catalog
            seed_demo(probe.state.rtfit)
        probe.state.rtfit.db.dispose()
    except ServiceError as e:
        raise _fail(e.detail) from e
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rtfit-metrics-")
    if demo:
        os.environ["RTFIT_DEMO"] = "1"
    typer.echo(f"rtfit metadata service on http://{host}:{port}\n"
               f"  web console: http://{host}:{port}/ui/\n"
               f"  API docs:    http://{host}:{port}/docs", err=True)
    if demo:
        reader = settings.data_dir / "demo-reader.token"
        typer.echo(
            f"  demo tokens: {reader.resolve()} (reader: paste it into the console), "
            f"{(settings.data_dir / 'demo-admin.token').resolve()} (admin)\n"
            "example query (demo inventory):\n"
            f"  curl -s -X POST http://{host}:{port}/v1/select -H \"Authorization: Bearer $(cat {reader})\" "
            "-H 'Content-Type: application/json' "
            "-d '{\"model\": {\"framework\": \"pytorch\", \"framework_version\": \">=2.3\"}, \"top\": 3}'",
            err=True,
        )
    uvicorn.run(
        "metadata_service.cli:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )


def _demo_tokens(data_dir: Path) -> Path:
    """For `--demo` without a tokens file: a reader and an admin token in the data dir (0600)."""
    from .auth import append_token, new_token

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "tokens.yaml"
    for role in ("reader", "admin"):
        token_path = data_dir / f"demo-{role}.token"
        if token_path.exists() and path.exists():
            continue
        token = new_token()
        append_token(path, name=f"demo-{role}-{os.getpid()}", role=role, node=None, token=token)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
    return path


token_app = typer.Typer(help="Bearer tokens for the metadata service.", no_args_is_help=True)


@token_app.command("new")
def token_new(
    role: str = typer.Option(..., "--role", help="admin, agent or reader."),
    node: str | None = typer.Option(None, "--node", help="The node an agent token may write."),
    name: str | None = typer.Option(None, "--name", help="A name for the token (default: role[-node])."),
    file: Path | None = typer.Option(None, "--file", help="Tokens file (default: RTFIT_TOKENS_FILE or .rtfit/tokens.yaml)."),
) -> None:
    """Print a fresh token once and append its SHA-256 digest to the tokens file."""
    from .auth import append_token, new_token

    path = file or Path(os.environ.get("RTFIT_TOKENS_FILE") or ".rtfit/tokens.yaml")
    token = new_token()
    label = name or (f"{role}-{node}" if node else role)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        append_token(path, name=label, role=role, node=node, token=token)
    except ServiceError as e:
        raise _fail(e.detail) from e
    except OSError as e:
        raise _fail(f"cannot write {path}: {e.strerror}") from e
    typer.echo(token)
    typer.echo(f"(digest of token '{label}' added to {path}; the token itself is not stored)", err=True)


def _client(server: str | None, token_file: Path | None) -> Any:
    from service_protocol import DEFAULT_SERVER, ServiceClient, resolve_token

    return ServiceClient(server or os.environ.get("RTFIT_SERVER") or DEFAULT_SERVER, resolve_token(token_file))


def _call(fn: Any) -> Any:
    try:
        return fn()
    except ProtocolError as e:
        raise _fail(str(e)) from e


def _print_json(data: Any, output: str | None = None, compact: bool = False) -> None:
    emit(data, output or "json", compact=compact)


nodes_app = typer.Typer(help="Nodes known to a running service.", no_args_is_help=False)


def _print_nodes(nodes: list[dict[str, Any]]) -> None:
    typer.echo(f"{'NAME':30} {'CLUSTER':16} {'ARCH':8} {'DRIVER':12} {'GPUS':34} {'AGE':>8}  STATE")
    for n in nodes:
        gpus = ", ".join(f"{g.get('count', 1)}x {g['product']}" for g in n.get("gpus") or []) or "-"
        age = "-" if n.get("age_s") is None else f"{n['age_s']:.0f}s"
        typer.echo(
            f"{n['name'][:30]:30} {(n.get('cluster') or '-')[:16]:16} {n['arch'][:8]:8} "
            f"{(n.get('driver_version') or '-')[:12]:12} {gpus[:34]:34} {age:>8}  {'stale' if n['stale'] else 'live'}"
        )


@nodes_app.callback(invoke_without_command=True)
def nodes_main(
    ctx: typer.Context, server: str | None = ServerOpt, token_file: Path | None = TokenFileOpt, as_json: bool = JSON,
    output: str | None = OUTPUT, compact: bool = COMPACT,
) -> None:
    """List nodes (default), or `show NAME`."""
    if ctx.invoked_subcommand is None:
        nodes_list(server=server, token_file=token_file, cluster=None, as_json=as_json, output=output, compact=compact)


@nodes_app.command("list")
def nodes_list(
    server: str | None = ServerOpt,
    token_file: Path | None = TokenFileOpt,
    cluster: str | None = typer.Option(None, "--cluster", help="Only the nodes of this cluster."),
    as_json: bool = JSON,
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
) -> None:
    """All nodes, live and stale."""
    with _call(lambda: _client(server, token_file)) as client:
        nodes = _call(lambda: client.nodes(cluster=cluster))
    emit(nodes, output, as_json, compact, table=lambda: _print_nodes(nodes))


@nodes_app.command("show")
def nodes_show(
    name: str = typer.Argument(..., help="The node's name."), server: str | None = ServerOpt,
    token_file: Path | None = TokenFileOpt, output: str | None = OUTPUT, compact: bool = COMPACT,
) -> None:
    """One node with the agent's detail (JSON, or -o yaml)."""
    with _call(lambda: _client(server, token_file)) as client:
        _print_json(_call(lambda: client.node(name)), output, compact)


models_app = typer.Typer(help="The model registry of a running service.", no_args_is_help=True)


@models_app.command("list")
def models_list(server: str | None = ServerOpt, token_file: Path | None = TokenFileOpt, as_json: bool = JSON,
                output: str | None = OUTPUT, compact: bool = COMPACT) -> None:
    """Registered models."""
    with _call(lambda: _client(server, token_file)) as client:
        models = _call(client.models)

    def draw() -> None:
        if not models:  # an empty table said nothing at all
            typer.echo("no models registered (an admin adds one: rtfit models add NAME MODEL_FILE)", err=True)
        for m in models:
            req = m["request"]
            typer.echo(f"{m['name']:30} {req.get('framework', '-'):12} {req.get('framework_version', '')}")

    emit(models, output, as_json, compact, table=draw)


@models_app.command("show")
def models_show(name: str = typer.Argument(..., help="The model's registered name."),
                server: str | None = ServerOpt, token_file: Path | None = TokenFileOpt,
                output: str | None = OUTPUT, compact: bool = COMPACT) -> None:
    """One registered model (JSON, or -o yaml)."""
    with _call(lambda: _client(server, token_file)) as client:
        _print_json(_call(lambda: client.model(name)), output, compact)


@models_app.command("add")
def models_add(
    name: str = typer.Argument(..., help="The name to register the model under."),
    model_file: Path = typer.Argument(..., help="A Contract 1 model request (YAML or JSON)."),
    server: str | None = ServerOpt,
    token_file: Path | None = TokenFileOpt,
) -> None:
    """Register MODEL_FILE under NAME (admin token)."""
    try:
        request = yaml.safe_load(model_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise _fail(f"cannot read {model_file}: {e}") from e
    if not isinstance(request, dict):
        raise _fail(f"{model_file} must hold one mapping (a model request)")
    with _call(lambda: _client(server, token_file)) as client:
        _print_json(_call(lambda: client.add_model(name, request)))


@models_app.command("delete")
def models_delete(name: str = typer.Argument(..., help="The model's registered name."),
                  server: str | None = ServerOpt, token_file: Path | None = TokenFileOpt) -> None:
    """Remove a registered model (admin token)."""
    with _call(lambda: _client(server, token_file)) as client:
        _call(lambda: client.delete_model(name))
    typer.echo(f"deleted {name}", err=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(token_app, name="token")
    app.add_typer(nodes_app, name="nodes")
    app.add_typer(models_app, name="models")


