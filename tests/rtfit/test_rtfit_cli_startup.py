"""Start-up of the `rtfit` command: what each command imports, and the lazy command table.

Timings are in bench/startup_bench.py (docs/benchmarks.md); here we check the cause of the
speed, which does not depend on machine load: `rtfit --help` imports none of the project's
packages, and a single selection never imports CP-SAT, pandas, pydantic or the service.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from rtfit.cli import COMMANDS, load_commands

HEAVY = ("ortools", "pandas", "pydantic", "fastapi", "sqlmodel", "sqlalchemy", "uvicorn", "kubernetes", "httpx")
PROJECT = ("catalog", "solver", "metadata_service", "node_agent", "workflow")

_PROBE = """
import atexit, json, sys
def report():
    sys.__stderr__.write("\\nMODULES " + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + "\\n")
atexit.register(report)
sys.argv = ["rtfit", *json.loads(sys.argv[1])]
from rtfit.cli import main
main()
"""


def _imported(args: list[str], tmp_path: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    assert proc.returncode in (0, 3), proc.stderr
    return set(json.loads(line[len("MODULES "):]))


def test_help_imports_no_project_package(tmp_path):
    mods = _imported(["--help"], tmp_path)
    assert not mods & set(PROJECT), mods & set(PROJECT)
    assert not mods & set(HEAVY)


def test_version(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rtfit.cli", "--version"], capture_output=True, text=True,
                          timeout=60, check=True)
    assert proc.stdout.startswith("rtfit ")


def test_one_node_select_imports_neither_cpsat_nor_the_service(tmp_path):
    (tmp_path / "m.yaml").write_text("framework: pytorch\n")
    (tmp_path / "n.yaml").write_text('nodes: [{name: l4-1, driver_version: "550.54.15", gpus: [{product: L4}]}]\n')
    mods = _imported(["select", "-m", "m.yaml", "-i", "n.yaml", "--json"], tmp_path)
    assert "solver" in mods and "catalog" in mods
    assert not mods & set(HEAVY), mods & set(HEAVY)
    assert not mods & {"metadata_service", "workflow", "node_agent"}


@pytest.mark.parametrize("module", sorted({m for m, _ in COMMANDS.values()}))
def test_the_command_table_matches_what_each_package_registers(module):
    """`rtfit --help` lists COMMANDS without importing: the table must say what register() adds."""
    registered = load_commands(module)
    listed = {name for name, (m, _) in COMMANDS.items() if m == module}
    assert set(registered) == listed
    for name, cmd in registered.items():
        first_line = (cmd.help or "").strip().splitlines()[0]
        assert COMMANDS[name][1] == first_line, name


def test_every_command_is_reachable_from_the_root():
    from typer.testing import CliRunner

    from rtfit.cli import app

    runner = CliRunner()
    for name in COMMANDS:
        res = runner.invoke(app, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
    assert isinstance(app, typer.Typer)
