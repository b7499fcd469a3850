"""Flow files and `depends` expressions: parsing, semantics, and errors naming task, field, line."""

from __future__ import annotations

import pytest

from workflow.errors import ExpressionInvalid, FlowInvalid
from workflow.expr import And, Not, Or, Ref, parse_depends, parse_expression
from workflow.flow import parse_duration, parse_flow


def test_expression_precedence_and_default_state() -> None:
    e = parse_expression("a.Succeeded && (b.Failed || b.Skipped)")
    assert e == And((Ref("a"), Or((Ref("b", "Failed"), Ref("b", "Skipped")))))
    assert parse_expression("a || b && !c") == Or((Ref("a"), And((Ref("b"), Not(Ref("c"))))))
    assert parse_depends(["a", "b.Failed"]) == And((Ref("a"), Ref("b", "Failed")))
    assert parse_depends("train") == Ref("train", "Succeeded")


@pytest.mark.parametrize(
    "states,expected",
    [
        ({"a": "Succeeded", "b": "Failed"}, True),
        ({"a": "Succeeded", "b": "Skipped"}, True),
        ({"a": "Succeeded", "b": "Succeeded"}, False),
        ({"a": "Failed", "b": "Failed"}, False),
    ],
)
def test_expression_semantics(states: dict[str, str], expected: bool) -> None:
    assert parse_expression("a.Succeeded && (b.Failed || b.Skipped)").evaluate(states) is expected


def test_render_round_trips() -> None:
    for text in ["a.Succeeded && (b.Failed || b.Skipped)", "!(a.Failed) || c.Skipped", "x-1.Succeeded"]:
        e = parse_expression(text)
        assert parse_expression(e.render()) == e


@pytest.mark.parametrize(
    "text,message,column",
    [
        ("a &&", "found end of expression", 5),
        ("a.Done", "unknown state 'Done'", 1),
        ("(a || b", "missing ')'", 8),
        ("a b", "unexpected 'b'", 3),
        ("__import__('os')", "unexpected character", 12),
        ("a & b", "unexpected character '&'", 3),
        ("", "empty expression", 1),
    ],
)
def test_expression_errors_point_at_the_problem(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionInvalid) as info:
        parse_expression(text)
    assert message in str(info.value)
    assert info.value.position + 1 == column


BAD_FLOW = """\
name: demo
tasks:
  - name: train
    command: [python, train.py]
    timeout: soon
  - name: export
    depends: "train.Succeeded && (ghost.Failed"
    command: [python, export.py]
  - name: notify
    depends: [train, missing]
    command: "echo hi"
    retries: -1
    colour: blue
"""


def test_malformed_flow_names_task_field_and_line() -> None:
    with pytest.raises(FlowInvalid) as info:
        parse_flow(BAD_FLOW, source="flow.yaml")
    problems = {(p.task, p.field): p for p in info.value.problems}
    assert problems[("train", "timeout")].line == 5
    assert problems[("export", "depends")].line == 7 and "missing ')'" in problems[("export", "depends")].message
    assert problems[("notify", "command")].line == 11 and "not a shell string" in problems[("notify", "command")].message
    assert problems[("notify", "retries")].line == 12
    assert problems[("notify", "colour")].line == 13
    assert str(info.value).startswith("flow.yaml: task 'train', field 'timeout', line 5")


def test_unknown_task_and_cycles_are_rejected() -> None:
    text = "name: f\ntasks:\n  - {name: a, command: [x], depends: b}\n  - {name: b, command: [x], depends: c}\n" \
           "  - {name: c, command: [x], depends: 'a.Succeeded || ghost.Failed'}\n"
    with pytest.raises(FlowInvalid, match="task 'c', field 'depends', line 5: depends on unknown task 'ghost'"):
        parse_flow(text)
    cyc = "name: f\ntasks:\n  - {name: a, command: [x], depends: c}\n  - {name: b, command: [x], depends: a}\n" \
          "  - {name: c, command: [x], depends: b}\n"
    with pytest.raises(FlowInvalid, match=r"dependency cycle: a -> c -> b -> a|dependency cycle"):
        parse_flow(cyc)
    with pytest.raises(FlowInvalid, match="duplicate task name"):
        parse_flow("name: f\ntasks:\n  - {name: a, command: [x]}\n  - {name: a, command: [y]}\n")


def test_good_flow_parses_with_defaults() -> None:
    flow = parse_flow("name: f\ntasks:\n  - name: a\n    command: [echo, 1]\n    timeout: 1m30s\n    retries: 2\n"
                      "    runtime: {pytorch: '2.13.0+cpu'}\n  - name: b\n    depends: a\n    command: [echo]\n"
                      "    serve: {port: 8080}\n")
    a, b = flow.tasks
    assert a.timeout == 90 and a.retries == 2 and a.runtime == {"pytorch": "2.13.0+cpu"}
    assert b.predecessors == {"a"} and b.serve is not None and b.serve.health == "/healthz"
    assert [t.name for t in flow.topological()] == ["a", "b"]


def test_bad_yaml_and_runtime_names() -> None:
    with pytest.raises(FlowInvalid, match="line 2: not valid YAML: mapping values are not allowed"):
        parse_flow("name: f\n bad: x\ntasks: []\n")
    with pytest.raises(FlowInvalid, match="field 'runtime.cuda'"):
        parse_flow("name: f\ntasks:\n  - {name: a, command: [x], runtime: {cuda: ../../etc}}\n")


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("1.5s", 1.5), (7, 7)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds
