"""docs/formats.md cannot drift: every example goes through the real parser, and every field the
parsers accept is documented. The project's docs describe the formats themselves (no pointer to
a design file outside the repository)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import solver
from catalog import load_catalog
from solver.inputs import request as request_mod
from workflow import flow as flow_mod
from workflow.flow import parse_flow
from workflow.store.manifest import MANIFEST_NAME, read_manifest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "formats.md"
_BLOCK = re.compile(r"```(yaml|json) ([\w-]+)\n(.*?)```", re.S)


def _examples() -> dict[str, object]:
    out: dict[str, object] = {}
    for lang, name, body in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert name not in out, f"two examples named {name}"
        out[name] = json.loads(body) if lang == "json" else yaml.safe_load(body)
    return out


EX = _examples()


def _documented(field: str) -> bool:
    return f"| `{field}` |" in DOC.read_text(encoding="utf-8") or f"`{field}`" in DOC.read_text(encoding="utf-8")


def test_every_format_has_an_example():
    kinds = {name.split("-")[0] for name in EX}
    assert {"request", "inventory", "answer", "flow", "manifest"} <= kinds


@pytest.mark.parametrize("name", sorted(n for n in EX if n.startswith("request")))
def test_request_examples_parse(name):
    solver.parse_request(EX[name])


def test_every_request_field_is_documented():
    for field in request_mod._KEYS | request_mod._FORMAT_KEYS:
        assert _documented(field), field
    for value in (*request_mod.FRAMEWORKS, *request_mod.PRECISIONS, *request_mod.FORMAT_KINDS, *request_mod.ARCHES):
        assert f"`{value}`" in DOC.read_text(encoding="utf-8"), value


def test_inventory_example_parses_against_the_catalog_and_documents_every_field():
    inv = solver.parse_inventory(EX["inventory"], catalog=load_catalog())
    assert len(inv.nodes) == len(EX["inventory"]["nodes"])
    for node in EX["inventory"]["nodes"]:
        for field in node:
            assert _documented(field), field
        for gpu in node["gpus"]:
            for field in gpu:
                assert f"`{field}`" in DOC.read_text(encoding="utf-8"), field
    for field in ("name", "arch", "cluster", "driver_version", "gpus", "cached_components", "labels",
                  "product", "count", "free", "memory_mib", "compute_capability"):
        assert _documented(field), field


def _shape(value: object) -> object:
    """Keys (recursively) and value types, not values: the catalog grows, the shape must not move."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in sorted(value.items()) if k not in ("runtime",)}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_answers_have_the_shape_the_solver_gives():
    cat = load_catalog()
    real = solver.select(cat, EX["request"], EX["inventory"]).to_dict()
    assert real["feasible"] is True
    assert _shape(real) == _shape(EX["answer-feasible"])
    assert set(real["choice"]["runtime"]) == set(EX["answer-feasible"]["choice"]["runtime"])
    four = dict(EX["request"], gpu_count=4)
    real_no = solver.select(cat, four, EX["inventory"]).to_dict()
    assert real_no["feasible"] is False
    assert _shape(real_no) == _shape(EX["answer-infeasible"])
    assert [c["rule"] for c in real_no["conflicts"]] == [c["rule"] for c in EX["answer-infeasible"]["conflicts"]]
    for field in ("rule", "component", "need", "have", "nodes", "records", "details"):
        assert f"| `{field}` |" in DOC.read_text(encoding="utf-8"), field


def test_flow_example_validates_and_documents_every_field():
    flow = parse_flow(yaml.safe_dump(EX["flow"], sort_keys=False), source="docs/formats.md")
    assert [t.name for t in flow.tasks] == [t["name"] for t in EX["flow"]["tasks"]]
    for field in flow_mod._TASK_FIELDS | flow_mod._FLOW_FIELDS:
        assert _documented(field), field
    for field in flow_mod._SERVE_FIELDS:
        assert f"`{field}`" in DOC.read_text(encoding="utf-8"), field


def test_manifest_example_reads(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(EX["manifest"]))
    m = read_manifest(tmp_path)
    assert m.to_dict() == {**EX["manifest"], "env": EX["manifest"]["env"]}
    for field in m.to_dict():
        assert _documented(field), field


# what a pointer out of the repository looks like (spelt in parts, so this file is no such pointer)
# ... and a path of the development machine's checkouts (docs/first-hour.md once showed its worktree)
_OUTSIDE = ("/".join(("shared", "DESIGN")), "DESIGN" + ".md", "/".join(("..", "shared")), "/".join(("", "work", "")))


def test_no_pointer_to_a_design_file_outside_the_repository():
    offenders = []
    # catalog data too: its comments once cited a reference file of the development machine
    for path in [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("*/**/*.py"), ROOT / "Makefile",
                 *ROOT.glob("catalog/data/**/*.yaml"), *ROOT.glob("catalog/data/**/*.json"),
                 *ROOT.glob("examples/**/*.yaml")]:
        if any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            continue  # .venv, and .rtfit (the demo store of installed wheels that make demo stages)
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(needle in text for needle in _OUTSIDE):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders


def test_policy_example_parses_and_documents_every_field():
    from solver.inputs.policy import POLICY_KEYS, parse_policy

    policy = parse_policy(EX["policy"])
    assert policy.order[:2] == ("newest", "cached") and policy.cached_min_bytes == 0
    for field in POLICY_KEYS:
        assert f"| `{field}` |" in DOC.read_text(encoding="utf-8"), field
