"""README.md's examples that say they are real output are the CLI's current output.

Found in a fresh-clone trial: the `rtfit select` example showed `"python": "3.11"` where the CLI
answers 3.13, and the `rtfit catalog why` output had lost rules and its confidence. Each example
here is run through the real CLI app (Typer's runner) on the bundled catalog and compared."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml
from typer.testing import CliRunner

from rtfit.cli import app

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
runner = CliRunner()


def _blocks(lang: str | None = None) -> list[str]:
    return [body for kind, body in _FENCE.findall(README) if lang is None or kind == lang]


def _sessions(block: str) -> list[tuple[str, str]]:
    """[(command, the output printed under it)] of a console block of `$ rtfit ...` lines."""
    out: list[tuple[str, str]] = []
    for part in re.split(r"^\$ ", block, flags=re.M)[1:]:
        command, _, text = part.partition("\n")
        out.append((command.strip(), text.strip()))
    return out


def _run(command: str) -> str:
    args = shlex.split(command)
    assert args[0] == "rtfit", command
    res = runner.invoke(app, args[1:], env={"COLUMNS": "100"})
    assert res.exception is None or isinstance(res.exception, SystemExit), (command, res.output)
    return res.stdout


def test_catalog_why_examples_are_real_output():
    blocks = [b for b in _blocks("") if b.lstrip().startswith("$ rtfit catalog why")]
    assert blocks, "README.md lost its `rtfit catalog why` example"
    sessions = [s for b in blocks for s in _sessions(b)]
    assert len(sessions) >= 2
    for command, shown in sessions:
        real = _run(command).strip()
        assert real == shown, (f"README.md's output of `{command}` is not what it prints now; paste the "
                               f"output of `.venv/bin/rtfit {command[6:]}`:\n{real}")


def _side_by_side(block: str) -> tuple[dict, dict]:
    """The README's request and inventory, printed side by side (`# model.yaml   # nodes.yaml`)."""
    lines = block.splitlines()
    col = lines[0].index("# nodes.yaml")
    left = "\n".join(line[:col].rstrip() for line in lines[1:])
    right = "\n".join(line[col:] for line in lines[1:])
    return yaml.safe_load(left), yaml.safe_load(right)


def test_select_example_is_real_output(tmp_path):
    block = next(b for b in _blocks("yaml") if b.startswith("# model.yaml"))
    model, nodes = _side_by_side(block)
    assert model["name"] == "detector-v3" and [n["name"] for n in nodes["nodes"]] == ["edge-01", "edge-02", "old-t4"]
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(model))
    (tmp_path / "nodes.yaml").write_text(yaml.safe_dump(nodes))
    shown_block = next(b for b in _blocks("") if b.startswith("$ rtfit select --model model.yaml"))
    command, shown = _sessions(shown_block)[0]
    command = command.split("#")[0].replace("model.yaml", str(tmp_path / "model.yaml")).replace(
        "nodes.yaml", str(tmp_path / "nodes.yaml"))
    res = runner.invoke(app, shlex.split(command)[1:])
    assert res.exit_code == 0, res.output
    answer = json.loads(res.stdout)
    # the README shows the answer's first two keys (the rest is described in the prose after it)
    assert {k: answer[k] for k in ("feasible", "choice")} == json.loads(shown), res.stdout
    # ... and that prose names the alternative: edge-02's A10 with pytorch 2.5.1+cu118
    alt = answer["alternatives"][0]
    assert (alt["node"], alt["gpu"]["product"], alt["runtime"]["pytorch"]) == ("edge-02", "NVIDIA A10", "2.5.1+cu118")
    assert "edge-02's A10 with `pytorch 2.5.1+cu118`" in README


def test_matrix_excerpt_rows_are_rows_of_the_command_shown():
    """The README's matrix excerpt: its command (with the `--gpu` columns it shows) prints its header
    and each of its rows. The command shown had no --gpu, so it printed 58 columns, not these 7."""
    start = README.index("`rtfit catalog matrix --kind builds --framework pytorch --format markdown --gpu")
    command = README[start + 1:README.index("`", start + 1)].replace("\n", " ")
    table = README[start:].split("\n\n")[1]
    assert table.startswith("| build |"), table[:80]
    real = _run(command).splitlines()
    rows = table.splitlines()
    assert rows[:2] == real[:2], (rows[:2], real[:2])
    missing = [r for r in rows[2:] if r not in real]
    assert not missing and len(rows) >= 8, missing


def test_documented_cpu_torch_stage_lines_use_the_catalogs_recipe():
    """`rtfit store stage pytorch X+cpu` in the docs pins the torch spec and index that the catalog's own
    recipe (`rtfit select --emit stage`) gives for that build. They said `--pip torch==2.13.0`, which on
    PyPI is the CUDA build, under a +cpu label (fresh-clone trial; the dev machine's local wheel hid it)."""
    from solver.cli import _local, _policy

    lines = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "workflow.md"):
        text = doc.read_text(encoding="utf-8").replace("\\\n", " ")
        lines += [line.split("#")[0] for line in text.splitlines()
                  if line.startswith("rtfit store stage pytorch ") and line.split()[4].endswith("+cpu")]
    assert len(lines) >= 2
    for line in lines:
        args = shlex.split(line)
        version = args[4]
        answer = _local({"framework": "pytorch", "framework_version": f"=={version}", "gpu_count": 0, "python": "==3.11"},
                        None, None, 1, _policy(None, None), install=True)
        recipe = shlex.split(next(s for s in answer["install"]["stage"] if s.startswith("rtfit store stage pytorch")))
        torch = [a for a in recipe if a.startswith("torch==")]
        url = recipe[recipe.index("--index-url") + 1] if "--index-url" in recipe else None
        assert torch and torch[0] in args, (line, recipe)
        assert url is None or url in args, (line, recipe)
