"""`rtfit select` per Contract 3: JSON shape, exit codes 0/3/2, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from solver.cli import register
from solver.testing import mini_catalog, mini_catalog_documents

runner = CliRunner()


@pytest.fixture()
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command("noop")
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    return a


@pytest.fixture()
def catdir(tmp_path: Path) -> Path:
    d = tmp_path / "catalog"
    d.mkdir()
    for name, doc in mini_catalog_documents().items():
        (d / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return d


def _write(tmp_path: Path, name: str, data: object) -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def test_feasible_json(app: typer.Typer, catdir: Path, tmp_path: Path) -> None:
    model = _write(tmp_path, "m.yaml", {"framework": "pytorch", "precision": "bf16"})
    inv = _write(tmp_path, "n.yaml", {"nodes": [{"name": "edge-01", "cluster": "edge-seoul", "arch": "x86_64",
                                                  "driver_version": "535.104.05", "gpus": [{"product": "NVIDIA L4"}]}]})
    res = runner.invoke(app, ["select", "--model", str(model), "--inventory", str(inv), "--catalog", str(catdir),
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"feasible", "catalog_revision", "choice", "alternatives", "explanation", "confidence",
                        "gaps", "rejected"}
    assert out["catalog_revision"] == mini_catalog().revision
    assert out["choice"]["node"] == "edge-01" and out["choice"]["cluster"] == "edge-seoul"
    assert out["choice"]["gpu"] == {"product": "NVIDIA L4", "count": 1, "compute_capability": "8.9"}
    assert "cuda" in out["choice"]["runtime"] and "pytorch" in out["choice"]["runtime"]


def test_infeasible_exit_3(app: typer.Typer, catdir: Path, tmp_path: Path) -> None:
    model = _write(tmp_path, "m.yaml", {"framework": "pytorch", "precision": "bf16"})
    inv = _write(tmp_path, "n.yaml", {"nodes": [{"name": "t4", "driver_version": "535.104.05",
                                                  "gpus": [{"product": "T4"}]}]})
    res = runner.invoke(app, ["select", "-m", str(model), "-i", str(inv), "--catalog", str(catdir), "--json"])
    assert res.exit_code == 3
    out = json.loads(res.stdout)
    assert set(out) == {"feasible", "catalog_revision", "conflicts", "suggestions"}
    assert out["conflicts"][0]["rule"] == "precision-unsupported"


def test_planning_mode_and_rich_output(app: typer.Typer, catdir: Path, tmp_path: Path) -> None:
    model = _write(tmp_path, "m.yaml", {"framework": "pytorch", "precision": "fp8"})
    res = runner.invoke(app, ["select", "-m", str(model), "--catalog", str(catdir), "--json", "--top", "2"])
    out = json.loads(res.stdout)
    assert res.exit_code == 0 and out["choice"]["node"] is None and len(out["alternatives"]) == 1
    res = runner.invoke(app, ["select", "-m", str(model), "--catalog", str(catdir)])
    assert res.exit_code == 0 and "choice" in res.stdout


@pytest.mark.parametrize(("model", "inventory", "needle"), [
    ("framework: [unclosed", None, "not valid YAML"),
    ({"framework": "caffe"}, None, "framework"),
    ({"framework": "pytorch", "framework_version": "=>2"}, None, "framework_version"),
    ({"framework": "pytorch"}, {"nodes": [{"name": "a", "gpus": [{"product": "Mystery"}]}]},
     "nodes[0].gpus[0].product"),
    ({"framework": "pytorch"}, "nodes: [{name: a, gpus: [{product: L4, free: 3}]}]", "free"),
])
def test_bad_input_exit_2(app: typer.Typer, catdir: Path, tmp_path: Path, model: object, inventory: object,
                          needle: str) -> None:
    args = ["select", "-m", str(_write(tmp_path, "m.yaml", model)), "--catalog", str(catdir), "--json"]
    if inventory is not None:
        args += ["-i", str(_write(tmp_path, "n.yaml", inventory))]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert res.stdout == ""
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_missing_files_and_bad_catalog(app: typer.Typer, catdir: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["select", "-m", str(tmp_path / "nope.yaml"), "--json"])
    assert res.exit_code == 2 and "not found" in res.stderr
    model = _write(tmp_path, "m.yaml", {"framework": "pytorch"})
    res = runner.invoke(app, ["select", "-m", str(model), "--catalog", str(tmp_path / "no-catalog"), "--json"])
    assert res.exit_code == 2 and "catalog" in res.stderr
    (catdir / "gpus.yaml").write_text("gpus: [{id: gpu.x}]")
    res = runner.invoke(app, ["select", "-m", str(model), "--catalog", str(catdir), "--json"])
    assert res.exit_code == 2 and "catalog is invalid" in res.stderr
