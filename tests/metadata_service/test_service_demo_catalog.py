"""`make run` (`rtfit serve --demo`) serves the checkout's catalog, not the one stored at its first start.

Found in a fresh-clone trial: after a `git pull` that changed the catalog, `make run` validated the new
catalog (revision f36e...) and then served the revision stored at the first start (ed08...), so the
CLI and the demo service answered from different catalogs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from catalog import load_catalog
from catalog.loader import default_catalog_dir
from metadata_service.db import Database
from metadata_service.storage import catalogs as catalog_store
from rtfit.cli import app


def _older_catalog(tmp_path: Path) -> Path:
    """The bundled catalog with one note changed: another valid revision, as a checkout before a pull."""
    folder = tmp_path / "older-catalog"
    shutil.copytree(default_catalog_dir(), folder)
    doc = yaml.safe_load((folder / "gpus.yaml").read_text())
    doc["gpus"][0]["note"] = (doc["gpus"][0].get("note") or "") + " (an older checkout)"
    (folder / "gpus.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return folder


def _active(data: Path) -> str:
    db = Database(f"sqlite:///{data / 'rtfit.db'}")
    try:
        with db.read_session() as session:
            return catalog_store.get_active(session).revision
    finally:
        db.dispose()


@pytest.mark.parametrize("demo", [True, False])
def test_serve_demo_switches_to_the_catalog_on_disk(tmp_path, monkeypatch, demo):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)   # start-up only: migrate, bootstrap, seed
    for key in [k for k in __import__("os").environ if k.startswith("RTFIT_") and k != "RTFIT_CACHE_DIR"]:
        monkeypatch.delenv(key)
    for key in ("RTFIT_DEMO", "RTFIT_TOKENS_FILE", "PROMETHEUS_MULTIPROC_DIR"):  # `serve` sets these in-process:
        monkeypatch.setenv(key, "")                                                 # restored after the test
        monkeypatch.delenv(key)
    data = tmp_path / "data"
    monkeypatch.setenv("RTFIT_DATA_DIR", str(data))
    older = _older_catalog(tmp_path)
    old_rev = load_catalog(older).revision
    new_rev = load_catalog().revision
    assert old_rev != new_rev
    args = ["serve", "--port", "1"] + (["--demo"] if demo else [])
    monkeypatch.setenv("RTFIT_CATALOG", str(older))            # the first start, before the pull
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert _active(data) == old_rev
    monkeypatch.delenv("RTFIT_CATALOG")                         # after the pull: the bundled catalog
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    # --demo follows the checkout; a real service keeps its stored revision until an admin uploads one
    assert _active(data) == (new_rev if demo else old_rev)
