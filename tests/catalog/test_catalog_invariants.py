"""Invariants over the whole catalog, also enforced by `rtfit catalog validate`."""

from __future__ import annotations

import copy
import json
import shutil

from typer.testing import CliRunner

from catalog import load_catalog, load_catalog_from_documents
from catalog.compat import unselectable_builds
from catalog.evidence import EVIDENCE_DIR
from rtfit.cli import app
from tests.catalog.conftest import write_catalog


def test_every_bundled_build_is_selectable_somewhere():
    assert [(r.release.id, r.label, why) for r, why in unselectable_builds(load_catalog())] == []


def test_a_build_whose_needs_match_no_component_is_named(tmp_path):
    docs = copy.deepcopy(dict(load_catalog().documents))
    docs["cudnn.yaml"] = {"cudnn": [c for c in docs["cudnn.yaml"]["cudnn"] if c["id"] != "cudnn.8.9.7"]}
    cat = load_catalog_from_documents(docs)
    bad = {(r.release.id, r.label): why for r, why in unselectable_builds(cat)}
    assert {k[0] for k in bad} == {"tensorflow.2.16", "tensorflow.2.17"}, bad
    assert all("needs cuDNN ==8.9.* for CUDA 12.3; no cuDNN record" in why for why in bad.values())
    folder = write_catalog(tmp_path / "c", docs)
    shutil.copytree(EVIDENCE_DIR, folder / "evidence")
    res = CliRunner().invoke(app, ["catalog", "validate", "--catalog", str(folder), "--json"])
    assert res.exit_code == 1, res.output
    assert len(json.loads(res.output)["problems"]) == len(bad)
    assert any("tensorflow 2.16" in p["message"] and "no cuDNN record" in p["message"]
               for p in json.loads(res.output)["problems"])
