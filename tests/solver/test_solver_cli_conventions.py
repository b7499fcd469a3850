"""`rtfit select`: --why-not, --cluster/--node/--label filters, and the output convention."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from rtfit.cli import app

INV = {"nodes": [
    {"name": "l4-1", "cluster": "edge", "labels": {"zone": "a"}, "driver_version": "550.54.15",
     "gpus": [{"product": "L4"}]},
    {"name": "old-1", "cluster": "edge", "labels": {"zone": "b"}, "driver_version": "450.51.05",
     "gpus": [{"product": "T4"}]},
    {"name": "a100-1", "cluster": "dc", "labels": {"zone": "a"}, "driver_version": "550.54.15",
     "gpus": [{"product": "A100"}]},
]}


@pytest.fixture
def files(tmp_path):
    (tmp_path / "m.yaml").write_text("framework: pytorch\nprecision: fp16\n")
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(INV))
    return tmp_path


def _run(files, *args):
    return CliRunner().invoke(app, ["select", "-m", str(files / "m.yaml"), "-i", str(files / "n.yaml"), *args])


def test_why_not_lists_every_rule_with_its_verdict_and_sources(files):
    res = _run(files, "--why-not", "old-1", "--json")
    assert res.exit_code == 3, res.output
    out = json.loads(res.stdout)
    assert out["node"] == "old-1" and out["usable"] is False
    verdicts = {v["rule"]: v for v in out["verdicts"]}
    assert verdicts["driver-too-old"]["ok"] is False
    assert verdicts["driver-too-old"]["have"] == "450.51.05"
    assert verdicts["driver-too-old"]["records"] and verdicts["driver-too-old"]["sources"]
    for rule in ("arch-not-allowed", "no-gpu", "gpu-memory", "gpu-count", "no-free-gpu", "platform-mismatch",
                 "precision-unsupported", "no-kernel-for-gpu", "toolkit-drops-arch"):
        assert verdicts[rule]["ok"] is True, rule
    table = _run(files, "--why-not", "old-1")
    assert table.exit_code == 3 and "driver-too-old" in table.stdout and "NO" in table.stdout


def test_why_not_a_usable_node_exits_0(files):
    res = _run(files, "--why-not", "l4-1", "-o", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["usable"] is True


def test_why_not_unknown_node_is_bad_input(files):
    res = _run(files, "--why-not", "l4")
    assert res.exit_code == 2
    assert "no node named 'l4'" in res.stderr and "l4-1" in res.stderr


@pytest.mark.parametrize(("args", "nodes"), [
    (["--cluster", "dc"], {"a100-1"}),
    (["--node", "old-1", "--node", "l4-1"], {"old-1", "l4-1"}),
    (["--label", "zone=a"], {"l4-1", "a100-1"}),
    (["--cluster", "edge", "--label", "zone=b"], {"old-1"}),
])
def test_filters_like_the_api_where(files, args, nodes):
    res = _run(files, "--top", "5", "--json", *args)
    out = json.loads(res.stdout)
    seen = set()
    if out["feasible"]:
        seen = {a["node"] for a in [out["choice"], *out["alternatives"]]}
        seen |= {n for r in out["rejected"] for n in r["nodes"]}
    else:
        seen = {n for c in out["conflicts"] for n in c["nodes"]}
    assert seen == nodes


@pytest.mark.parametrize(("args", "names", "hint"), [
    (["--cluster", "edg"], "--cluster edg", "did you mean edge?"),
    (["--node", "l4-2"], "--node l4-2", "did you mean l4-1"),
    (["--label", "zone=c"], "--label zone=c", None),
    (["--cluster", "dc", "--node", "l4-1"], "--cluster dc --node l4-1", None),
])
def test_a_filter_that_matches_no_node_is_bad_input_naming_what_exists(files, args, names, hint):
    """Not "the inventory has no nodes" (it has three): a typo in a filter says what the inventory holds."""
    res = _run(files, *args)
    assert res.exit_code == 2, res.output
    line = res.stderr.strip()
    assert "\n" not in line and f"no node of the inventory matches {names}" in line, line
    assert "3 node(s): l4-1, old-1, a100-1" in line and "clusters: dc, edge" in line, line
    assert (hint in line) if hint else "did you mean" not in line, line


def test_an_empty_inventory_is_infeasible_and_says_so(files):
    (files / "n.yaml").write_text("nodes: []\n")
    res = _run(files, "--json")
    assert res.exit_code == 3, res.output
    conflict = json.loads(res.stdout)["conflicts"][0]
    assert conflict["rule"] == "no-nodes" and "inventory is empty" in conflict["message"]


def test_json_is_indented_and_compact_on_request(files):
    pretty = _run(files, "--json")
    assert pretty.stdout.startswith("{\n  ")
    compact = _run(files, "--json", "--compact")
    assert compact.stdout.count("\n") == 1
    assert json.loads(compact.stdout) == json.loads(pretty.stdout)


def test_yaml_output_is_the_same_object(files):
    as_yaml = yaml.safe_load(_run(files, "-o", "yaml").stdout)
    assert as_yaml == json.loads(_run(files, "--json").stdout)


def test_bad_output_format_is_exit_2(files):
    res = _run(files, "-o", "xml")
    assert res.exit_code == 2 and "table, json, yaml" in res.stderr
