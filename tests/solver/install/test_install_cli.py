"""`rtfit select --emit FORM` and `"install": true` over HTTP carry the same recipe."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

import catalog
from rtfit.cli import app
from solver.install import install_for_answer

runner = CliRunner()
MODEL = {"framework": "pytorch", "framework_version": "==2.6.0+cu126", "python": "==3.11"}


def _model(tmp_path: Path, data: dict) -> str:
    p = tmp_path / "m.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def test_emit_forms(tmp_path: Path) -> None:
    m = _model(tmp_path, MODEL)
    out = {}
    for form in ("requirements", "uv", "pixi", "dockerfile", "stage"):
        r = runner.invoke(app, ["select", "-m", m, "--emit", form])
        assert r.exit_code == 0, r.output
        out[form] = r.stdout
    assert out["requirements"] == "--index-url https://download.pytorch.org/whl/cu126\ntorch==2.6.0+cu126\n"
    assert out["uv"].startswith("uv venv --python 3.11 && uv pip install --index-url")
    assert tomllib.loads(out["pixi"])["dependencies"]["pytorch"]["version"] == "==2.6.0"
    # a GPU runtime without a matching NGC container: NVIDIA's CUDA base of the catalog's full 12.6 version
    assert "\nFROM nvidia/cuda:12.6.3-base-ubuntu24.04\n" in out["dockerfile"]
    assert "\nRUN python -m pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cu126 " \
           "torch==2.6.0+cu126\n" in out["dockerfile"]
    assert out["stage"].splitlines()[0].startswith("rtfit store stage pytorch 2.6.0+cu126 --pip torch==2.6.0+cu126")


def test_emit_with_json_adds_install_equal_to_the_library(tmp_path: Path) -> None:
    r = runner.invoke(app, ["select", "-m", _model(tmp_path, MODEL), "--emit", "stage", "--json"])
    assert r.exit_code == 0, r.output
    answer = json.loads(r.stdout)
    install = answer.pop("install")
    assert install == install_for_answer(catalog.load_catalog(), "pytorch", answer)
    plain = json.loads(runner.invoke(app, ["select", "-m", _model(tmp_path, MODEL), "--json"]).stdout)
    assert "install" not in plain


def test_emit_bad_form_and_infeasible(tmp_path: Path) -> None:
    r = runner.invoke(app, ["select", "-m", _model(tmp_path, MODEL), "--emit", "rpm"])
    assert r.exit_code == 2 and "--emit must be one of" in r.output
    r = runner.invoke(app, ["select", "-m", _model(tmp_path, {"framework": "pytorch", "min_gpu_memory_gib": 4096}),
                            "--emit", "requirements"])
    assert r.exit_code == 3

