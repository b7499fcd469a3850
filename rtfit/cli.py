"""The one `rtfit` command: each package contributes its sub-commands through `register(app)`.

Packages are imported lazily by module path so that `rtfit catalog validate` does not pay for
FastAPI or OR-Tools imports it does not need. A package's `cli` module exposes
`register(app: typer.Typer) -> None`.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="rtfit",
    help="Where, and with which runtime, can this model run? Catalog, selection, service, agent, flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.callback()
def _root() -> None:
    """rtfit: sourced GPU compatibility catalog, CP-SAT runtime/node selection, fleet service, agent, flows."""


# Order is the order of `rtfit --help`.
_COMMAND_MODULES = (
    "catalog.cli",
    "solver.cli",
    "metadata_service.cli",
    "node_agent.cli",
    "workflow.cli",
)


def _register_all() -> None:
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # Only a package whose CLI module does not exist (yet) is skipped; a missing
            # dependency inside an existing module is a real error.
            if e.name == module_name:
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
