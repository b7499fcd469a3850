"""`rtfit select`: the selection answer on the command line (local solve, or POST to a service).

Exit codes: 0 feasible, 3 infeasible, 2 bad input (one line on stderr, never a traceback).
`--json` / `-o json|yaml` print exactly the answer object (docs/formats.md); otherwise a Rich
summary. `--cluster/--node/--label` filter the nodes as the API's `where` does; `--why-not NODE`
judges every rule for one node (solver/explain/whynot.py).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from rtfit.output import COMPACT, JSON, OUTPUT, output_format
from rtfit.output import emit as emit_output

__all__ = ["register"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 2, 3


class _BadInput(Exception):
    pass


def _read_yaml(path: Path, what: str) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise _BadInput(f"{what} file not found: {path}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise _BadInput(f"cannot read {what} file {path}: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise _BadInput(f"{what} file {path} is not valid YAML/JSON{where}: {getattr(e, 'problem', e)}") from e
    if data is None:
        raise _BadInput(f"{what} file {path} is empty")
    return data


def _resolve_artifact(data: Any, base: Path) -> Any:
    """A request's `artifact:` path (relative to the model file) replaced by the facts read from it."""
    if not isinstance(data, dict) or not isinstance(data.get("artifact"), str):
        return data
    from modelfile import ModelFileError, resolve_request

    try:
        return resolve_request(data, base)
    except ModelFileError as e:
        raise _BadInput(f"artifact: {e}") from e


def _where(cluster: str | None, nodes: list[str], labels: list[str]) -> dict[str, Any] | None:
    """The API's `where` object from the CLI filters (None when no filter is given)."""
    where: dict[str, Any] = {}
    if cluster:
        where["cluster"] = cluster
    if nodes:
        where["nodes"] = list(nodes)
    if labels:
        pairs = {}
        for item in labels:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise _BadInput(f"--label must be KEY=VALUE, got {item!r}")
            pairs[key.strip()] = value.strip()
        where["labels"] = pairs
    return where or None


def _filter(inventory: Any, where: dict[str, Any] | None) -> Any:
    if where is None:
        return inventory
    from solver import Inventory

    names = set(where.get("nodes") or ()) or None
    labels = where.get("labels") or {}
    kept = tuple(n for n in inventory.nodes
                 if (names is None or n.name in names)
                 and (where.get("cluster") is None or n.cluster == where["cluster"])
                 and all(n.label_map.get(k) == v for k, v in labels.items()))
    if inventory.nodes and not kept:
        raise _BadInput(_no_match(inventory, where))
    return Inventory(nodes=kept)


def _no_match(inventory: Any, where: dict[str, Any]) -> str:
    """One line for a filter that leaves no node: what was asked, what the inventory has, close names."""
    import difflib

    asked = []
    if where.get("cluster") is not None:
        asked.append(f"--cluster {where['cluster']}")
    asked += [f"--node {n}" for n in where.get("nodes") or ()]
    asked += [f"--label {k}={v}" for k, v in (where.get("labels") or {}).items()]
    names = [n.name for n in inventory.nodes]
    clusters = sorted({n.cluster for n in inventory.nodes if n.cluster is not None})
    have = [f"{len(names)} node(s): {', '.join(names[:8])}" + (" ..." if len(names) > 8 else "")]
    have.append(f"clusters: {', '.join(clusters)}" if clusters else "no clusters")
    hints = []
    if where.get("cluster") is not None and where["cluster"] not in clusters:
        hints += difflib.get_close_matches(where["cluster"], clusters, n=3)
    for n in where.get("nodes") or ():
        if n not in names:
            hints += [m for m in difflib.get_close_matches(n, names, n=3) if m not in where["nodes"]]
    hint = f"; did you mean {', '.join(dict.fromkeys(hints))}?" if hints else ""
    return f"no node of the inventory matches {' '.join(asked)} (the inventory has {'; '.join(have)}){hint}"


def _policy(path: Path | None, engine: str | None) -> Any:
    """The selection policy: a policy file (docs/formats.md "Policy"), `--engine` over its engine."""
    import solver

    data = _read_yaml(path, "policy") if path is not None else None
    try:
        policy = solver.parse_policy(data)
    except solver.InvalidPolicy as e:
        raise _BadInput(f"{path}: policy {e}") from e
    if engine is not None:
        if engine not in ("fast", "cpsat"):
            raise _BadInput(f"--engine must be fast or cpsat, not {engine!r}")
        policy = replace(policy, engine=engine)
    return policy


def _local(model: Any, inventory_path: Path | None, catalog_dir: Path | None, top: int, policy: Any,
           install: bool = False, where: dict[str, Any] | None = None, why_not: str | None = None) -> dict[str, Any]:
    import catalog
    import solver

    try:
        request = solver.parse_request(model)
    except solver.InvalidRequest as e:
        raise _BadInput(f"invalid model request: {e}") from e
    inventory = None
    try:
        cat = catalog.load_catalog(catalog_dir)
    except catalog.CatalogInvalid as e:
        first = e.problems[0] if getattr(e, "problems", None) else e
        n = len(getattr(e, "problems", []) or [])
        raise _BadInput(f"catalog is invalid ({n} problem(s)); first: {first}") from e
    except catalog.CatalogError as e:
        raise _BadInput(f"cannot load the catalog: {e}") from e
    if inventory_path is not None:
        try:
            inventory = solver.parse_inventory(_read_yaml(inventory_path, "inventory"), catalog=cat)
        except solver.InvalidInventory as e:
            raise _BadInput(f"invalid inventory: {e}") from e
        inventory = _filter(inventory, where)
    elif where is not None or why_not is not None:
        raise _BadInput("--cluster/--node/--label/--why-not need --inventory (or --server)")
    try:
        if why_not is not None:
            from solver.explain.whynot import why_not as judge

            return judge(cat, request, inventory, why_not, policy=policy)
        sel = solver.select(cat, request, inventory, top=top, policy=policy)
    except (solver.InvalidRequest, solver.InvalidInventory) as e:
        raise _BadInput(str(e)) from e
    answer = sel.to_dict()
    if install:
        from solver.install import install_for_answer

        arches = {n.name: n.arch for n in inventory.nodes} if inventory is not None else None
        answer["install"] = install_for_answer(cat, request.framework, answer, node_arch=arches,
                                               request_arch=request.arch)
    return answer


def _remote(model: Any, server: str, token_file: Path | None, top: int, install: bool = False,
            where: dict[str, Any] | None = None, why_not: str | None = None) -> dict[str, Any]:
    from service_protocol import ProtocolError, ServiceClient, resolve_token

    try:
        body: dict[str, Any] = {"model": model, "top": top}
        if install:
            body["install"] = True
        if where is not None:
            body["where"] = where
        if why_not is not None:
            body["why_not"] = why_not
        with ServiceClient(server, resolve_token(token_file), timeout=60.0) as client:
            return client.select(body)
    except ProtocolError as e:
        raise _BadInput(str(e).splitlines()[0] if str(e) else "service call failed") from e


def _short(message: str) -> str:
    """A verdict without its inline citation (the table shows records and source URLs beside it)."""
    at = message.find("<http")
    cut = message.rfind(" (", 0, at) if at > 0 else -1
    return message[:cut] if cut > 0 else message


def _render_why_not(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    verdict = "[green]usable[/green]" if result["usable"] else "[red]not usable[/red]"
    rt = ", ".join(f"{k} {v}" for k, v in (result.get("runtime") or {}).items()) or "-"
    judged = result.get("runtime_judged")
    table = Table(title=f"why not {result['node']}? {verdict}",
                  caption=f"rules judged for runtime {rt}" + (f": {judged}" if judged else ""))
    table.add_column("")
    table.add_column("rule", no_wrap=True)
    table.add_column("verdict", overflow="fold", ratio=3)
    table.add_column("records / sources", overflow="fold", ratio=2)
    for v in result["verdicts"]:
        mark = "[green]ok[/green]" if v["ok"] else "[red]NO[/red]"
        cites = "\n".join([", ".join(v["records"])] * bool(v["records"]) + [s["url"] for s in v["sources"]])
        table.add_row(mark, v["rule"], escape(_short(v["message"])), escape(cites))
    console.print(table)
    if not result["usable"]:
        for s in result["answer"].get("suggestions", []):
            console.print(f"  [green]suggestion[/green]: {escape(s)}", highlight=False)


def _render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    if "verdicts" in result:
        _render_why_not(result)
        return
    if result.get("feasible"):
        table = Table(title="rtfit select", show_lines=False)
        for col in ("", "node", "cluster", "gpu", "runtime"):
            table.add_column(col)
        rows = [("choice", result["choice"])] + [(f"alt {i + 1}", a) for i, a in enumerate(result["alternatives"])]
        for tag, a in rows:
            gpu = a.get("gpu")
            gtxt = f"{gpu['count']} x {gpu['product']} (CC {gpu['compute_capability']})" if gpu else "CPU only"
            rt = ", ".join(f"{k} {v}" for k, v in a["runtime"].items())
            table.add_row(tag, a.get("node") or "(plan)", a.get("cluster") or "-", gtxt, rt)
        console.print(table)
        for line in result.get("explanation", []):
            console.print(f"  [dim]-[/dim] {line}", highlight=False)
        if result.get("confidence") == "unverified":
            console.print("  [yellow]confidence: unverified[/yellow] (the catalog lacks facts this answer needs; "
                          "--strict refuses such answers)", highlight=False)
    else:
        console.print("[bold red]no feasible runtime/node[/bold red]")
        for c in result.get("conflicts", []):
            console.print(f"  [red]{c['rule']}[/red]: {escape(c['message'])}", highlight=False)
        for s in result.get("suggestions", []):
            console.print(f"  [green]suggestion[/green]: {escape(s)}", highlight=False)
    _render_verdict(console, result)
    console.print(f"[dim]catalog revision {result.get('catalog_revision', '')[:12]}[/dim]")


def _render_verdict(console: Any, result: dict[str, Any]) -> None:
    """The three verdicts of a request that named an artifact, with the memory it needs."""
    verdict = result.get("verdict")
    if verdict is None:
        return
    style = {"runnable": "green", "runnable-with-change": "yellow", "incompatible": "red"}.get(verdict, "white")
    memory = result.get("memory") or {}
    need = memory.get("per_gpu_gib", memory.get("given_min_gpu_memory_gib"))
    console.print(f"[bold {style}]{verdict}[/bold {style}]  needs {need} GiB per GPU", highlight=False)
    for line in memory.get("how", []):
        console.print(f"  [dim]-[/dim] {line}", highlight=False)
    for change in result.get("changes", []):
        gpu = change["choice"].get("gpu") or {}
        where = change["choice"].get("node") or gpu.get("product", "")
        console.print(f"  [yellow]with a change[/yellow]: {change['description']} -> fits on {where} "
                      f"({change['memory']['per_gpu_gib']} GiB per GPU)", highlight=False)


def select_command(
    model: Path = typer.Option(..., "--model", "-m", help="Model request (Contract 1), YAML or JSON."),
    inventory: Path | None = typer.Option(None, "--inventory", "-i", help="Node inventory (Contract 2); "
                                          "omit to plan hardware."),
    catalog_dir: Path | None = typer.Option(None, "--catalog", help="Catalog folder (default: bundled or "
                                            "RTFIT_CATALOG)."),
    top: int = typer.Option(1, "--top", min=1, help="Number of answers: the choice plus up to K-1 alternatives."),
    cluster: str | None = typer.Option(None, "--cluster", help="Only nodes of this cluster (as the API's where.cluster)."),
    node: list[str] = typer.Option([], "--node", help="Only this node (repeatable; as where.nodes)."),
    label: list[str] = typer.Option([], "--label", help="Only nodes with label KEY=VALUE (repeatable; as where.labels)."),
    why_not: str | None = typer.Option(None, "--why-not", metavar="NODE",
                                       help="Judge every rule for this node and show each verdict with its source."),
    engine: str | None = typer.Option(None, "--engine", help="fast (direct evaluation, the default) or cpsat."),
    policy_file: Path | None = typer.Option(None, "--policy", help="Policy file (YAML): objective order, "
                                            "preferences, cached_min_bytes (docs/formats.md \"Policy\")."),
    server: str | None = typer.Option(None, "--server", help="Ask a running rtfit service instead."),
    token_file: Path | None = typer.Option(None, "--token-file", help="Bearer token file for --server."),
    emit: str | None = typer.Option(None, "--emit", help="Print how to install the chosen runtime: requirements, "
                                    "uv, pixi, dockerfile or stage (with --json: add the 'install' object)."),
    strict: bool = typer.Option(False, "--strict", help="Refuse runtimes whose verdict rests on facts the "
                                "catalog lacks (answers otherwise say confidence: unverified)."),
    as_json: bool = JSON,
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
) -> None:
    """Choose a runtime, GPU and node for a model (or plan hardware without an inventory)."""
    fmt = output_format(output, as_json)
    try:
        policy = _policy(policy_file, engine)
        if emit is not None and emit not in (formats := _emit_formats()):
            raise _BadInput(f"--emit must be one of {', '.join(formats)}, not {emit!r}")
        data = _read_yaml(model, "model")
        data = _resolve_artifact(data, model.parent)
        if strict:
            if not isinstance(data, dict):
                raise _BadInput("the model request must be a mapping")
            data = {**data, "strict": True}
        where = _where(cluster, node, label)
        if server is not None:
            if inventory is not None:
                raise _BadInput("--inventory cannot be combined with --server (the service uses its registered nodes)")
            if policy_file is not None or engine is not None:
                raise _BadInput("--policy and --engine apply to a local selection; the service uses its own policy")
            result = _remote(data, server, token_file, top, install=emit is not None, where=where, why_not=why_not)
        else:
            result = _local(data, inventory, catalog_dir, top, policy, install=emit is not None, where=where,
                            why_not=why_not)
    except _BadInput as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if emit is not None and fmt == "table" and result.get("feasible"):
        _emit(result, emit)
    emit_output(result, fmt, compact=compact, table=lambda: _render(result))
    ok = result.get("usable") if "verdicts" in result else result.get("feasible")
    raise typer.Exit(EXIT_OK if ok else EXIT_INFEASIBLE)


def _emit_formats() -> tuple[str, ...]:
    from solver.install.recipe import EMIT_FORMATS  # imported only when --emit is given

    return tuple(EMIT_FORMATS)


def _emit(result: dict[str, Any], form: str) -> None:
    """Print one install form of a feasible answer; exit 3 when the catalog has no recipe for it."""
    from solver.install.recipe import emit_text

    install = result.get("install") or {}
    if "unavailable" in install or not install:
        typer.echo(f"error: no install recipe: {install.get('unavailable', 'the answer carries none')}", err=True)
        raise typer.Exit(EXIT_INFEASIBLE)
    sys.stdout.write(emit_text(install, form))
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    from solver.sizing.cli import register as register_model

    app.command("select")(select_command)
    register_model(app)
