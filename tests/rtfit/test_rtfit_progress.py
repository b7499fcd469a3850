"""Evidence extraction reports progress on stderr (one step per artifact), never on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rtfit.cli import app
from rtfit.progress import steps

EVIDENCE = sorted((Path(__file__).resolve().parents[2] / "catalog" / "data" / "evidence").glob("*.json"))[:2]


def test_catalog_evidence_shows_a_step_per_artifact_on_stderr(monkeypatch):
    assert len(EVIDENCE) == 2
    monkeypatch.setenv("RTFIT_PROGRESS", "1")
    res = CliRunner().invoke(app, ["catalog", "evidence", *map(str, EVIDENCE), "--json"])
    assert res.exit_code == 0, res.stderr
    for f in EVIDENCE:
        assert f"reading {f.name}" in res.stderr
    assert "2/2" in res.stderr
    assert len(json.loads(res.stdout)) == 2          # stdout stays the data alone
    monkeypatch.setenv("RTFIT_PROGRESS", "0")
    res = CliRunner().invoke(app, ["catalog", "evidence", *map(str, EVIDENCE), "--json"])
    assert res.exit_code == 0 and "reading" not in res.stderr


def test_steps_yields_every_item_once_whether_shown_or_not(monkeypatch):
    for flag in ("0", "1"):
        monkeypatch.setenv("RTFIT_PROGRESS", flag)
        assert list(steps([1, 2, 3], str)) == [1, 2, 3]
