"""`rtfit catalog why` and `select` agree on confidence: both judge the gaps of the same (CUDA,
cuDNN) completion. `why` used to look only at bundled components, so a build with `needs`
(ONNX Runtime, TensorFlow) read "verified" while `select` answered "unverified" for it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from catalog import load_catalog
from rtfit.cli import app
from solver import select

runner = CliRunner()


@pytest.mark.parametrize("framework,version,gpu,driver", [
    ("onnxruntime", "1.21.0", "NVIDIA L4", "570.86.10"),
    ("tensorflow", "2.15.1", "NVIDIA L4", "535.54.03"),
    ("pytorch", "2.4.0", "NVIDIA L4", "550.54.15"),
])
def test_why_and_select_report_the_same_confidence(framework, version, gpu, driver):
    res = runner.invoke(app, ["catalog", "why", framework, version, gpu, "--driver", driver, "--json"])
    why = json.loads(res.stdout)
    ans = select(load_catalog(), {"framework": framework, "framework_version": f"=={version}"},
                 {"nodes": [{"name": "n1", "arch": "x86_64", "driver_version": driver,
                             "gpus": [{"product": gpu}]}]}).to_dict()
    assert why["compatible"] and ans["feasible"]
    assert why["confidence"] == ans["confidence"], (why["gaps"], ans.get("gaps"))
    assert sorted(why["gaps"]) == sorted(ans.get("gaps") or [])
