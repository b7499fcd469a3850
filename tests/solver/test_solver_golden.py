"""Golden scenarios (tests/solver/golden/*.yaml) from real compatibility cases.

Each file: `model` (Contract 1), optional `inventory` (Contract 2), optional `top`, and `expect`.
Every scenario runs on both engines (fast path and CP-SAT), which must agree exactly, and every
feasible answer must pass the independent validator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import solver
from solver.check.validate import validate_selection
from solver.testing import mini_catalog

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.yaml"))


def _subset(expected: Any, actual: Any, where: str = "") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected a mapping, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{where}.{k} missing in {actual!r}"
            _subset(v, actual[k], f"{where}.{k}")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    cat = mini_catalog()
    exp = case["expect"]
    top = case.get("top", 1)
    fast = solver.select(cat, case["model"], case.get("inventory"), top=top)
    cpsat = solver.select(cat, case["model"], case.get("inventory"), top=top, policy=solver.Policy(engine="cpsat"))
    out = fast.to_dict()
    assert cpsat.to_dict() == out, "CP-SAT and the fast path disagree"
    if fast.feasible:
        assert cpsat.choice is not None and fast.choice is not None
        assert cpsat.choice.key == fast.choice.key
    assert out["feasible"] is exp["feasible"], out
    assert out["catalog_revision"] == cat.revision
    if exp["feasible"]:
        assert validate_selection(cat, case["model"], case.get("inventory"), fast) == []
        _subset(exp.get("choice", {}), out["choice"], "choice")
        if "alternatives" in exp:
            assert len(out["alternatives"]) == exp["alternatives"]
        for key in exp.get("runtime_lacks", []):
            assert key not in out["choice"]["runtime"]
        text = " ".join(out["explanation"])
        for s in exp.get("explanation_contains", []):
            assert s in text, text
        products = [(a["gpu"] or {}).get("product") for a in [out["choice"], *out["alternatives"]]]
        for p in exp.get("products_exclude", []):
            assert p not in products
    else:
        rules = [c["rule"] for c in out["conflicts"]]
        for r in exp.get("rules", []):
            assert r in rules, rules
        if "rules_any" in exp:
            assert set(exp["rules_any"]) & set(rules), rules
        messages = " ".join(c["message"] for c in out["conflicts"])
        for s in exp.get("message_contains", []):
            assert s in messages, messages
        suggestions = " | ".join(out["suggestions"])
        for s in exp.get("suggestion_contains", []):
            assert s in suggestions, suggestions
        tallies = " ".join(c["message"] for c in out["conflicts"] if c["rule"] == "node-rejections")
        for s in exp.get("node_tally_contains", []):
            assert s in tallies, tallies
