"""`rtfit store ...` and `rtfit flow ...`: the command line of the runtime store and the runner.

Bad input (a bad flow file, a bad component name, an unknown run) prints one line on stderr and
exits 2. `flow run` exits 0 when no task Failed and 1 otherwise; `store verify` exits 1 naming
each component whose content no longer matches its manifest.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer
import yaml

from rtfit.output import COMPACT, JSON, OUTPUT, emit, output_format
from workflow.errors import WorkflowError
from workflow.store import RuntimeStore, default_store_path, stage_archive, stage_folder, stage_pip

__all__ = ["register"]

store_app = typer.Typer(help="The runtime store: stage, list, verify and compose components.", no_args_is_help=True)
flow_app = typer.Typer(help="Run flows of ML tasks on composed runtimes.", no_args_is_help=True)

_STORE_OPT = typer.Option(None, "--store", help="Runtime store folder (default: RTFIT_STORE or ./.rtfit/store).")
_STATE_OPT = typer.Option(None, "--state", help="Run-state folder (default: RTFIT_STATE or <store>/.runs).")


def _die(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _store(path: Path | None) -> RuntimeStore:
    return RuntimeStore(path or default_store_path())


def _state_dir(state: Path | None, store: RuntimeStore) -> Path:
    return state or Path(os.environ.get("RTFIT_STATE") or store.root / ".runs")


# ---------------------------------------------------------------------------- store

@store_app.command("stage")
def store_stage(
    kind: str = typer.Argument(..., help="Component kind, e.g. cuda, pytorch, onnxruntime."),
    version: str = typer.Argument(..., help="Component version, e.g. 12.4.1 or 2.13.0+cpu."),
    source: Path | None = typer.Option(None, "--from", help="A folder or archive (.tar.gz, .tgz, .zip) to stage."),
    pip: list[str] = typer.Option([], "--pip", help="A requirement to pip install --target the component (repeatable)."),
    python: str | None = typer.Option(None, "--python", help="Interpreter whose pip installs the --pip specs."),
    index_url: str | None = typer.Option(None, "--index-url", help="Package index for --pip instead of PyPI "
                                         "(e.g. a framework's per-CUDA wheel index)."),
    extra_index_url: list[str] = typer.Option([], "--extra-index-url", help="Additional package index for --pip "
                                              "(repeatable)."),
    store: Path | None = _STORE_OPT,
) -> None:
    """Stage one component version into the store (atomically; staged components are immutable)."""
    if (source is None) == (not pip):
        _die("give exactly one of --from DIR|ARCHIVE or --pip SPEC")
    if (index_url or extra_index_url) and not pip:
        _die("--index-url/--extra-index-url apply to --pip only")
    pip_args = (["--index-url", index_url] if index_url else []) + [
        a for url in extra_index_url for a in ("--extra-index-url", url)]
    from rtfit.progress import byte_progress

    rs = _store(store)
    try:
        if pip:
            typer.echo(f"pip install {' '.join(pip)} into {kind}/{version} ...", err=True)
            with byte_progress() as bar:
                component = stage_pip(rs, kind, version, pip, python=python, pip_args=pip_args, log=sys.stderr,
                                      progress=bar(f"hashing {kind}/{version}"))
        elif source is not None and source.is_dir():
            with byte_progress() as bar:
                component = stage_folder(rs, kind, version, source, progress=bar(f"hashing {kind}/{version}"))
        else:
            with byte_progress() as bar:
                component = stage_archive(rs, kind, version, source,  # type: ignore[arg-type]
                                          progress=bar(f"hashing {kind}/{version}"))
    except WorkflowError as e:
        _die(str(e))
    m = component.manifest
    typer.echo(f"staged {m.kind}/{m.version}: {m.size_bytes} bytes, sha256 {m.sha256[:16]}... at {component.path}")


@store_app.command("push")
def store_push(
    kind: str = typer.Argument(..., help="Component kind of a staged component."),
    version: str = typer.Argument(..., help="Its version."),
    to: str = typer.Option(..., "--to", help="Registry prefix, e.g. registry.site:5000/rtfit (pushes PREFIX/KIND:TAG)."),
    store: Path | None = _STORE_OPT,
) -> None:
    """Push a staged component to an OCI registry as a one-layer image (what ImageVolumes mount)."""
    from workflow.store.oci import component_image_ref, push_component

    rs = _store(store)
    try:
        component = rs.get(kind, version)
        if component is None:
            _die(f"{kind}/{version} is not staged in {rs.root}")
        ref = component_image_ref(to, kind, version)
        digest, sent = push_component(component, ref, work=rs.root / ".oci")
    except WorkflowError as e:
        _die(str(e))
    typer.echo(f"pushed {ref}@{digest} ({sent} bytes uploaded)")


@store_app.command("pull")
def store_pull(
    ref: str = typer.Argument(..., help="A component image, e.g. registry.site:5000/rtfit/pytorch:2.13.0_cpu."),
    store: Path | None = _STORE_OPT,
) -> None:
    """Stage a component from its OCI image (digests and content checked before it is published)."""
    from workflow.store.oci import stage_image

    try:
        component, pulled = stage_image(_store(store), ref)
    except WorkflowError as e:
        _die(str(e))
    m = component.manifest
    typer.echo(f"staged {m.kind}/{m.version} from {ref}: {pulled} bytes pulled, sha256 {m.sha256[:16]}... at {component.path}")


@store_app.command("list")
def store_list(store: Path | None = _STORE_OPT, as_json: bool = JSON, output: str | None = OUTPUT,
               compact: bool = COMPACT) -> None:
    """List staged components."""
    try:
        components = _store(store).list()
    except WorkflowError as e:
        _die(str(e))

    def draw() -> None:
        for c in components:
            typer.echo(f"{c.kind:<14} {c.version:<20} {c.manifest.size_bytes:>14,d}  {c.manifest.sha256[:16]}")

    emit([c.manifest.to_dict() | {"path": str(c.path)} for c in components], output, as_json, compact, table=draw)


@store_app.command("verify")
def store_verify(kind: str | None = typer.Argument(None, help="Only this component kind (default: all)."),
                 store: Path | None = _STORE_OPT) -> None:
    """Recompute every component's sha256 and compare with its manifest (exit 1 on a mismatch)."""
    from rtfit.progress import byte_progress

    try:
        with byte_progress() as bar:
            results = _store(store).verify(kind, progress=lambda c: bar(f"verifying {c.ref}"))
    except WorkflowError as e:
        _die(str(e))
    bad = [r for r in results if not r.ok]
    for r in results:
        typer.echo(f"{'ok ' if r.ok else 'BAD'} {r.component.ref}: {r.message}", err=not r.ok)
    if bad:
        _die(f"{len(bad)} component(s) failed verification: {', '.join(r.component.ref for r in bad)}", 1)


@store_app.command("compose")
def store_compose(
    pins: list[str] = typer.Argument(..., help="kind=version pairs, e.g. pytorch=2.13.0+cpu"),
    mount_root: str | None = typer.Option(None, "--mount-root", help="Container path components mount under."),
    store: Path | None = _STORE_OPT,
) -> None:
    """Print the mounts and environment a runtime composes to (JSON)."""
    from workflow.store import compose

    runtime = {}
    for pin in pins:
        kind, sep, version = pin.partition("=")
        if not sep:
            _die(f"{pin!r}: expected kind=version")
        runtime[kind] = version
    try:
        composed = compose(runtime, _store(store), mount_root=mount_root)
    except WorkflowError as e:
        _die(str(e))
    typer.echo(json.dumps(composed.to_dict(), indent=2))


# ---------------------------------------------------------------------------- flow

def _load(flow_file: Path) -> Any:
    from workflow.flow import load_flow

    try:
        return load_flow(flow_file)
    except WorkflowError as e:
        _die(str(e))


def _inventory(path: Path | None, server: str | None) -> dict[str, Any] | None:
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as e:
            _die(f"{path}: cannot read inventory: {e}")
        return data
    if server is not None:
        from service_protocol import ProtocolError, fetch_inventory, resolve_token
        from workflow.remote import runner_retry

        try:
            return fetch_inventory(server, resolve_token(None), retry=runner_retry())
        except ProtocolError as e:
            _die(f"cannot read the inventory from {server}: {e}")
    return None


def _sigterm(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


@flow_app.command("run")
def flow_run(
    flow_file: Path = typer.Argument(..., help="Flow YAML (Contract 5)."),
    backend: str = typer.Option("local", "--backend", help="local | kubernetes"),
    store: Path | None = _STORE_OPT,
    state: Path | None = _STATE_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object {flow, run, tasks} (same as -o json)."),
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
    run_id: str | None = typer.Option(None, "--run", help="Resume this run (Succeeded tasks are kept)."),
    new: bool = typer.Option(False, "--new", help="Start a new run even if an unfinished one exists."),
    parallel: int = typer.Option(4, "--parallel", min=1, help="Tasks running at once."),
    inventory: Path | None = typer.Option(None, "--inventory", help="Contract 2 nodes file (kubernetes only)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog folder (default: bundled or RTFIT_CATALOG)."),
    server: str | None = typer.Option(None, "--server", help="Metadata service URL: run state there (and the inventory, kubernetes)."),
    namespace: str = typer.Option("default", "--namespace", help="Kubernetes namespace (kubernetes backend)."),
    store_pvc: str = typer.Option("rtfit-runtime-store", "--store-pvc", help="PVC holding the shared store."),
    store_image_prefix: str | None = typer.Option(None, "--store-image-prefix", help="Mount components as OCI image volumes from this registry prefix instead."),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="Kubeconfig file (default: in-cluster or ~/.kube/config)."),
) -> None:
    """Run a flow; print each task's final state. Exit 0 when no task Failed, 1 otherwise."""
    from workflow.runner import build_engine

    fmt = output_format(output, as_json)

    flow = _load(flow_file)
    if backend not in ("local", "kubernetes"):
        _die(f"--backend must be local or kubernetes, not {backend!r}")
    if backend == "local" and inventory is not None:
        _die("--inventory is for --backend kubernetes: the local backend runs every task on this machine "
             "and places it there")
    rs = _store(store)
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        engine = build_engine(
            backend=backend, store=rs, state_dir=_state_dir(state, rs), parallel=parallel,
            # the local backend places on this machine (its own inventory), never on the service's nodes
            inventory=_inventory(inventory, server) if backend == "kubernetes" else None,
            catalog=catalog, server=server, namespace=namespace,
            store_pvc=store_pvc, store_image_prefix=store_image_prefix, kubeconfig=kubeconfig,
            on_event=None if fmt != "table" else _echo_event, on_plan=None if fmt != "table" else _echo_plan,
        )
        result = engine.run(flow, run_id=run_id, new=new)
    except WorkflowError as e:
        _die(str(e))
    except KeyboardInterrupt:
        _die("interrupted; the run can be resumed by running the same flow again", 130)

    def draw() -> None:
        typer.echo(f"run {result.run_id}{' (resumed)' if result.resumed else ''}")
        for name, st in result.states.items():
            typer.echo(f"  {name:<24} {st}")

    emit(result.to_dict(), fmt, compact=compact, table=draw)
    raise typer.Exit(1 if result.failed else 0)


@flow_app.command("plan")
def flow_plan(
    flow_file: Path = typer.Argument(..., help="Flow YAML (Contract 5)."),
    inventory: Path | None = typer.Option(None, "--inventory", help="Contract 2 nodes file (default: this machine)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog folder (default: bundled or RTFIT_CATALOG)."),
    server: str | None = typer.Option(None, "--server", help="Metadata service URL: its inventory."),
    store: Path | None = _STORE_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print {feasible, edges, co_located, same_cluster, tasks} "
                                 "(same as -o json)."),
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
) -> None:
    """Place every model task of a flow together, without running it: where each goes and why.

    Exit 0 when every model task can be placed, 3 when one cannot (its reason is printed)."""
    from workflow.backends.kube_objects import KubeOptions
    from workflow.placement import SolverPlacer, local_inventory
    from workflow.runner import image_request_defaults, local_request_defaults

    fmt = output_format(output, as_json)
    flow = _load(flow_file)
    inv = _inventory(inventory, server)
    # the plan `flow run` would follow: locally on this interpreter's Python, on nodes on the base image's
    defaults = local_request_defaults() if inv is None else image_request_defaults(KubeOptions().base_python)
    inv = inv or local_inventory(_store(store))
    try:
        plan = SolverPlacer(inventory=inv, catalog_path=catalog, request_defaults=defaults).plan_flow(flow)
    except (WorkflowError, ValueError) as e:
        _die(str(e))
    if plan is None:
        emit({"feasible": True, "tasks": {}}, fmt, compact=compact,
             table=lambda: typer.echo("no task has a model: nothing to place"))
        return
    tasks = {n: {"node": p.node, "cluster": p.cluster, "gpu": p.gpu, "runtime": dict(p.runtime),
                 "why": list(p.explanation), "error": p.error} for n, p in plan.placements.items()}
    emit({"feasible": plan.feasible, "edges": plan.edges, "co_located": plan.co_located,
          "same_cluster": plan.same_cluster, "tasks": tasks}, fmt, compact=compact,
         table=lambda: [typer.echo(line) for line in plan.lines()])
    raise typer.Exit(0 if plan.feasible else 3)


def _echo_plan(plan: Any) -> None:
    for line in plan.lines():
        typer.echo(line, err=True)


def _echo_event(run_id: str, rec: Any) -> None:
    if rec.state in ("Running", "Succeeded", "Failed", "Skipped"):
        extra = f" ({rec.message})" if rec.message and rec.state != "Running" else ""
        typer.echo(f"[{run_id}] {rec.name}: {rec.state}{extra}", err=True)


def _state_store(state: Path | None, store: Path | None, server: str | None) -> Any:
    if server is not None:
        from workflow.remote import RemoteStateStore

        return RemoteStateStore(server)
    from workflow.state import SqliteStateStore

    return SqliteStateStore(_state_dir(state, _store(store)))


def _elsewhere(run: str, used: Path) -> str:
    """A hint for a run id this state folder lacks: the run-state folders of the other stores under
    ./.rtfit that hold it (`make demo` runs with --store .rtfit/demo-store, so `rtfit flow status ID`
    with the default store said only "no run")."""
    import sqlite3

    found = []
    for db in sorted(Path(".rtfit").glob("*/.runs/runs.db")):
        if db.parent.absolute() == used.absolute():
            continue
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run,)).fetchone():
                    found.append(db.parent.parent)
        except sqlite3.Error:
            continue
    return f"; it is in the runs of {found[0]}: add --store {found[0]}" if found else ""


def _run_not_found(e: WorkflowError, run: str, state: Path | None, store: Path | None, server: str | None) -> str:
    from workflow.errors import RunNotFound

    if not isinstance(e, RunNotFound) or server is not None:
        return str(e)
    return str(e) + _elsewhere(run, _state_dir(state, _store(store)))


@flow_app.command("status")
def flow_status(
    run: str = typer.Argument(..., help="Run id."),
    store: Path | None = _STORE_OPT,
    state: Path | None = _STATE_OPT,
    server: str | None = typer.Option(None, "--server", help="Read the run from this metadata service."),
    as_json: bool = JSON,
    output: str | None = OUTPUT,
    compact: bool = COMPACT,
) -> None:
    """Show a run and its tasks."""
    try:
        record = _state_store(state, store, server).get_run(run)
    except WorkflowError as e:
        _die(_run_not_found(e, run, state, store, server))

    def draw() -> None:
        typer.echo(f"run {record.id}  flow {record.flow}  {record.status}  backend {record.backend}")
        for t in record.tasks.values():
            where = f" on {t.node}" if t.node else ""
            msg = f"  {t.message}" if t.message else ""
            typer.echo(f"  {t.name:<24} {t.state:<10} attempts {t.attempts}{where}{msg}")

    emit({"flow": record.flow, "run": record.id, "status": record.status,
          "tasks": {n: t.to_dict() for n, t in record.tasks.items()}}, output, as_json, compact, table=draw)


@flow_app.command("logs")
def flow_logs(
    run: str = typer.Argument(..., help="Run id."), task: str = typer.Argument(..., help="Task name."),
    store: Path | None = _STORE_OPT, state: Path | None = _STATE_OPT,
    server: str | None = typer.Option(None, "--server", help="Read the log from this metadata service."),
) -> None:
    """Print a task's log (all attempts)."""
    st = _state_store(state, store, server)
    try:
        if server is not None:
            typer.echo(st.get_logs(run, task), nl=False)
            return
        record = st.get_run(run)
    except WorkflowError as e:
        _die(_run_not_found(e, run, state, store, server))
    rec = record.tasks.get(task)
    if rec is None:
        _die(f"run {run} has no task {task!r} (tasks: {', '.join(record.tasks)})")
    if not rec.log_path or not Path(rec.log_path).is_file():
        _die(f"task {task!r} of run {run} has no log yet (state {rec.state})")
    sys.stdout.write(Path(rec.log_path).read_text(encoding="utf-8", errors="replace"))


@flow_app.command("export")
def flow_export(
    flow_file: Path = typer.Argument(..., help="Flow YAML (docs/formats.md)."),
    fmt: str = typer.Option("argo", "--format", help="argo (the only export format)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the workflow to this file (default: stdout)."),
    store: Path | None = _STORE_OPT,
    inventory: Path | None = typer.Option(None, "--inventory", help="Nodes file to place tasks on (default: plan hardware)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Catalog folder (default: bundled or RTFIT_CATALOG)."),
    server: str | None = typer.Option(None, "--server", help="Place tasks on this metadata service's nodes."),
    namespace: str = typer.Option("default", "--namespace", help="Kubernetes namespace of the workflow."),
    store_pvc: str = typer.Option("rtfit-runtime-store", "--store-pvc", help="PVC holding the shared store."),
    store_image_prefix: str | None = typer.Option(None, "--store-image-prefix", help="Mount components as OCI image volumes from this registry prefix instead."),
) -> None:
    """Write the flow as an Argo Workflow (DAG template, `depends` mirroring the flow)."""
    from workflow.runner import export_flow

    if fmt != "argo":
        _die(f"--format must be argo, not {fmt!r}")
    flow = _load(flow_file)
    try:
        doc = export_flow(flow, store=_store(store), inventory=_inventory(inventory, server), catalog=catalog,
                          namespace=namespace, store_pvc=store_pvc, store_image_prefix=store_image_prefix)
    except WorkflowError as e:
        _die(str(e))
    text = yaml.safe_dump(doc, sort_keys=False)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@flow_app.command("check")
def flow_check(flow_file: Path = typer.Argument(..., help="Flow YAML (docs/formats.md).")) -> None:
    """Validate a flow file (exit 2 with the task, field and line of each problem)."""
    flow = _load(flow_file)
    typer.echo(f"{flow.name}: {len(flow.tasks)} tasks ok ({platform.python_version()})")


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
    app.add_typer(flow_app, name="flow")
