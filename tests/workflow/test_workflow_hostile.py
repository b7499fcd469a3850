"""Hostile flow files: `depends` expressions too deep or too long are refused quickly with one line
(exit 2, never a traceback), and a `workdir` that is a symlink out of the flow's folder is refused
when the task would start."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_workflow_engine import run_flow

from workflow.errors import ExpressionInvalid
from workflow.expr import MAX_DEPTH, MAX_LENGTH, parse_expression

PY = sys.executable


@pytest.mark.parametrize(
    "text",
    ["(" * 400 + "a" + ")" * 400, "!" * 5000 + "a", "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1)],
    ids=["400-parens", "5000-nots", "just-too-deep"],
)
def test_deep_expressions_are_refused_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ExpressionInvalid, match="nested deeper"):
        parse_expression(text)


def test_expressions_at_the_bounds_still_parse() -> None:
    deep = "(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH
    assert parse_expression(deep).render() == "a.Succeeded"
    assert parse_expression("!" * MAX_DEPTH + "a").evaluate({"a": "Succeeded"}) is True
    assert parse_expression("a && b  ").render() == "a.Succeeded && b.Succeeded"
    with pytest.raises(ExpressionInvalid, match="unexpected character '@'"):
        parse_expression("a &&   @")


def test_long_expressions_are_linear_then_bounded() -> None:
    # 800 KB took 21 s: the tokenizer copied the rest of the string for every token.
    near_limit = " || ".join(f"t{i}" for i in range(MAX_LENGTH // 8))[:MAX_LENGTH].rsplit(" ||", 1)[0]
    started = time.perf_counter()
    parse_expression(near_limit)
    assert time.perf_counter() - started < 2.0
    with pytest.raises(ExpressionInvalid, match="longer than"):
        parse_expression("a || " * 160_000 + "a")


@pytest.mark.parametrize("depends", ["(" * 400 + "a" + ")" * 400, "!" * 5000 + "a", "a || " * 160_000 + "a"])
def test_flow_check_on_hostile_depends_exits_2_with_one_line(tmp_path: Path, depends: str) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(json.dumps({"name": "f", "tasks": [{"name": "a", "command": ["true"]},
                                                       {"name": "b", "command": ["true"], "depends": depends}]}))
    started = time.monotonic()
    done = subprocess.run([PY, "-m", "rtfit", "flow", "check", str(flow)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "Traceback" not in done.stderr and len(done.stderr) < 2000, done.stderr[-500:]
    assert time.monotonic() - started < 60


def test_workdir_symlink_out_of_the_flow_folder_is_refused(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")  # not under tmp_path, the flow's folder
    (tmp_path / "inside").mkdir()
    (tmp_path / "escape").symlink_to(outside)
    (tmp_path / "inside" / "ok").symlink_to(tmp_path / "inside")
    witness = tmp_path / "cwd.txt"
    pwd = [PY, "-c", f"import os; open({str(witness)!r}, 'a').write(os.getcwd() + '\\n')"]
    flow = {"name": "wd", "tasks": [
        {"name": "escape", "command": pwd, "workdir": "escape"},
        {"name": "inside", "command": pwd, "workdir": "inside/ok"},
        {"name": "missing", "command": pwd, "workdir": "nowhere"},
    ]}
    result, state = run_flow(tmp_path, json.dumps(flow))
    assert result.states == {"escape": "Failed", "inside": "Succeeded", "missing": "Failed"}
    record = state.get_run(result.run_id)
    assert "outside the flow's folder" in record.tasks["escape"].message
    assert "does not exist" in record.tasks["missing"].message
    assert witness.read_text().split() == [str((tmp_path / "inside").resolve())]
