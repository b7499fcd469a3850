"""Policy defaults a platform team would choose: small cached components never decide a selection,
Python is preferred by how widely the framework ships wheels for it; both documented and overridable."""

from __future__ import annotations

import pytest
import yaml

import solver
from catalog import load_catalog
from solver.facts.candidates import mature_pythons, python_coverage


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


INV = {"nodes": [
    # an older driver: only CUDA 11.x / 12.x-MVC builds, but Python is already cached here
    {"name": "a-cached-python", "driver_version": "470.82.01", "gpus": [{"product": "T4"}],
     "cached_components": ["python/3.11.9"]},
    {"name": "b-current", "driver_version": "580.65.06", "gpus": [{"product": "T4"}]},
]}


def test_cached_python_does_not_outrank_a_newer_framework(cat):
    sel = solver.select(cat, {"framework": "pytorch"}, INV).to_dict()
    assert sel["choice"]["node"] == "b-current", sel["choice"]
    old = solver.select(cat, {"framework": "pytorch"}, INV, policy=solver.Policy(cached_min_bytes=0)).to_dict()
    assert old["choice"]["node"] == "a-cached-python"   # the override restores bytes-first at any size


def test_big_cached_components_still_count(cat):
    inv = {"nodes": [
        {"name": "a", "driver_version": "550.54.15", "gpus": [{"product": "L4"}],
         "cached_components": ["pytorch/2.4.1+cu124"]},
        {"name": "b", "driver_version": "550.54.15", "gpus": [{"product": "L4"}]},
    ]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv).to_dict()
    assert sel["choice"]["node"] == "a" and sel["choice"]["runtime"]["pytorch"] == "2.4.1+cu124"


def test_python_is_chosen_by_how_widely_the_framework_ships_wheels(cat):
    cover = python_coverage(cat, "pytorch")
    mature = mature_pythons(cat, "pytorch")
    newest = max(cover)
    assert newest not in mature and 2 * cover[newest] < max(cover.values())
    inv = {"nodes": [{"name": "l4", "driver_version": "580.65.06", "gpus": [{"product": "L4"}]}]}
    sel = solver.select(cat, {"framework": "pytorch"}, inv).to_dict()
    py = sel["choice"]["runtime"]["python"]
    assert py != str(newest) and any(str(m) == py for m in mature)
    assert py == str(max(m for m in mature if str(m) in {str(p) for p in cover}))
    asked = solver.select(cat, {"framework": "pytorch", "python": str(newest)}, inv).to_dict()
    assert asked["choice"]["runtime"]["python"] == str(newest)   # the request overrides the preference


def _cli(tmp_path, *args):
    from typer.testing import CliRunner

    from rtfit.cli import app

    (tmp_path / "m.yaml").write_text("framework: pytorch\n")
    (tmp_path / "n.yaml").write_text(yaml.safe_dump(INV))
    return CliRunner().invoke(app, ["select", "-m", str(tmp_path / "m.yaml"), "-i", str(tmp_path / "n.yaml"),
                                    "--json", *args])


def test_a_policy_file_overrides_the_defaults_on_the_cli(tmp_path):
    import json

    assert json.loads(_cli(tmp_path).stdout)["choice"]["node"] == "b-current"
    (tmp_path / "p.yaml").write_text("cached_min_bytes: 0\n")
    res = _cli(tmp_path, "--policy", str(tmp_path / "p.yaml"))
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["choice"]["node"] == "a-cached-python"


@pytest.mark.parametrize("text, field", [("cached_min_bytes: -1\n", "cached_min_bytes"),
                                         ("cached_min_bytes: lots\n", "cached_min_bytes"),
                                         ("order: [newest, newest]\n", "order"),
                                         ("prefer_cluster: [a]\n", "prefer_cluster"),
                                         ("engine: magic\n", "engine")])
def test_a_bad_policy_file_is_exit_2_naming_the_file_and_field(tmp_path, text, field):
    (tmp_path / "p.yaml").write_text(text)
    res = _cli(tmp_path, "--policy", str(tmp_path / "p.yaml"))
    assert res.exit_code == 2, res.stdout
    assert "p.yaml" in res.stderr and field in res.stderr and "Traceback" not in res.stderr
