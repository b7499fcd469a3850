"""Golden scenarios on the BUNDLED catalog (tests/solver/golden_catalog/*.yaml): real facts, real cases.

Same file format as tests/solver/golden (model, inventory, expect), plus `expect.records`: the
catalog records whose facts the scenario rests on. Each must exist and cite at least one source,
so a scenario cannot silently outlive the facts it was written from. Both engines must agree and
every feasible answer must pass the independent validator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import solver
from catalog import load_catalog
from solver.check.validate import validate_selection

GOLDEN = sorted((Path(__file__).parent / "golden_catalog").glob("*.yaml"))


def _subset(expected: Any, actual: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}.{k} missing in {actual!r}"
            _subset(v, actual[k], f"{where}.{k}")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_catalog(path: Path, cat) -> None:
    case = yaml.safe_load(path.read_text())
    exp = case["expect"]
    for rid in exp.get("records", []):
        rec = cat.record(rid)
        assert rec is not None, f"{path.name}: record {rid} is not in the catalog"
        assert rec.sources and all(s in cat.sources for s in rec.sources), rid
    fast = solver.select(cat, case["model"], case.get("inventory"), top=case.get("top", 1))
    cpsat = solver.select(cat, case["model"], case.get("inventory"), top=case.get("top", 1),
                          policy=solver.Policy(engine="cpsat"))
    out = fast.to_dict()
    assert cpsat.to_dict() == out, "CP-SAT and the fast path disagree"
    assert out["feasible"] is exp["feasible"], out
    if exp["feasible"]:
        assert validate_selection(cat, case["model"], case.get("inventory"), fast) == []
        _subset(exp.get("choice", {}), out["choice"], "choice")
        text = " ".join(out["explanation"])
        for s in exp.get("explanation_contains", []):
            assert s in text, text
    else:
        rules = [c["rule"] for c in out["conflicts"]]
        for r in exp.get("rules", []):
            assert r in rules, rules
        messages = " ".join(c["message"] for c in out["conflicts"])
        for s in exp.get("message_contains", []):
            assert s in messages, messages


def test_every_new_family_has_a_scenario() -> None:
    frameworks = {yaml.safe_load(p.read_text())["model"].get("framework") for p in GOLDEN}
    assert {"vllm", "jax", "sglang", "tensorrt-llm", "pytorch"} <= frameworks
    assert any("jetson" in p.stem for p in GOLDEN)
