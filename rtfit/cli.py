"""The one `rtfit` command: each package contributes its sub-commands through `register(app)`.

Start-up is part of the interface: `rtfit --help` imports Typer and Rich and nothing of the
project, and `rtfit select` imports the solver but not the service, the runner or CP-SAT. The
root group therefore knows its commands from the table `COMMANDS` (name -> module, one-line
help) and imports a package's `cli` module only when one of its commands runs (or its own
`--help` is asked for). A package's `cli` module exposes `register(app: typer.Typer) -> None`;
a test checks that the table and the registered commands agree, help lines included.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from rtfit import __version__

__all__ = ["COMMANDS", "app", "main"]

# Order is the order of `rtfit --help`: name -> (module whose register() adds it, its help line).
COMMANDS: dict[str, tuple[str, str]] = {
    "catalog": ("catalog.cli", "Curate the compatibility catalog: validate, list, show, matrix, diff, why, import, freshness."),
    "select": ("solver.cli", "Choose a runtime, GPU and node for a model (or plan hardware without an inventory)."),
    "model": ("solver.cli", "Model artifacts: read sizes and estimate GPU memory without loading weights."),
    "serve": ("metadata_service.cli", "Run the metadata service (settings from RTFIT_* environment variables)."),
    "token": ("metadata_service.cli", "Bearer tokens for the metadata service."),
    "nodes": ("metadata_service.cli", "Nodes known to a running service."),
    "models": ("metadata_service.cli", "The model registry of a running service."),
    "agent": ("node_agent.cli", "Report this node's GPUs, driver and cached runtime components to the rtfit service."),
    "store": ("workflow.cli", "The runtime store: stage, list, verify and compose components."),
    "flow": ("workflow.cli", "Run flows of ML tasks on composed runtimes."),
}


def load_commands(module_name: str) -> dict[str, Any]:
    """The click commands a package's `cli` module registers, by name."""
    scratch = typer.Typer()
    importlib.import_module(module_name).register(scratch)
    group = typer.main.get_group(scratch)
    return dict(group.commands)


def _flag_type(self: Any, ctx: Any) -> str | None:
    """Help shows `<int>`, `<path>`... for options that take a value, nothing for flags (`--json`)."""
    return None if getattr(self, "is_flag", False) else _option_type(self, ctx)


_option_type = getattr(typer.core.TyperOption, "display_type_rich", None)
if _option_type is not None:  # Typer >= 0.29 prints `<bool>` after every flag otherwise
    typer.core.TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


class _Listed(typer.core.TyperCommand):
    """What `rtfit --help` lists for a command whose module is not imported: its name and help."""


class LazyGroup(TyperGroup):
    """The root group: commands come from `COMMANDS`, their modules are imported on use."""

    _listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:
            return _Listed(name=cmd_name, help=entry[1], callback=None)
        for name, cmd in load_commands(entry[0]).items():
            self.commands.setdefault(name, cmd)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="rtfit",
    cls=LazyGroup,
    help="Where, and with which runtime, can this model run? Catalog, selection, service, agent, flows.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rtfit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                 help="Print the rtfit version and exit."),
) -> None:
    """rtfit: sourced GPU compatibility catalog, runtime/node selection, fleet service, agent, flows."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
