"""One output convention for every `rtfit` command that prints data.

- default: a Rich table (or Rich text) for people;
- `--json` (or `-o json`): the JSON object, indented; `--compact` puts it on one line;
- `-o yaml`: the same object as YAML.

Commands declare the options with `OUTPUT`, `JSON`, `COMPACT` and call `emit(data, ...)` with a
function that draws the table. Data goes to stdout, messages and progress to stderr, so
`rtfit ... --json | jq` always reads clean JSON. Only Typer is imported here; Rich and PyYAML
are imported when used.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer

__all__ = ["COMPACT", "FORMATS", "JSON", "OUTPUT", "emit", "output_format", "print_json"]

FORMATS = ("table", "json", "yaml")

OUTPUT = typer.Option(None, "--output", "-o", help="Output format: table (default), json or yaml.",
                      metavar="FORMAT")
JSON = typer.Option(False, "--json", help="Print JSON (same as -o json).")
COMPACT = typer.Option(False, "--compact", help="With --json: one line instead of indented JSON.")




def output_format(output: str | None, as_json: bool = False) -> str:
    """The format asked for: `--json` wins, then `-o FORMAT`, else `table`. Bad values exit 2."""
    if as_json:
        return "json"
    if output is None:
        return "table"
    fmt = output.strip().lower()
    if fmt not in FORMATS:
        typer.echo(f"error: -o/--output must be one of {', '.join(FORMATS)}, not {output!r}", err=True)
        raise typer.Exit(2)
    return fmt


def _plain(data: Any) -> Any:
    return json.loads(json.dumps(data, default=str))


def print_json(data: Any, compact: bool = False) -> None:
    if compact:
        sys.stdout.write(json.dumps(data, default=str, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")


def emit(data: Any, output: str | None = None, as_json: bool = False, compact: bool = False,
         table: Callable[[], None] | None = None) -> None:
    """Print `data` in the asked format; `table()` draws the default view (JSON when absent)."""
    fmt = output_format(output, as_json)
    if fmt == "json" or (fmt == "table" and table is None):
        print_json(data, compact)
    elif fmt == "yaml":
        import yaml

        sys.stdout.write(yaml.safe_dump(_plain(data), sort_keys=False, width=110, allow_unicode=True))
    else:
        assert table is not None
        table()
