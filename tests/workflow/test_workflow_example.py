"""The mnist-lite example end to end: stage the composed runtimes (cached in .rtfit/demo-store),
run the flow locally with the real solver, and check what each step produced."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mnist_lite_flow_end_to_end() -> None:
    store = Path(os.environ.get("RTFIT_DEMO_STORE", ROOT / ".rtfit" / "demo-store"))
    r = subprocess.run([str(ROOT / "examples" / "mnist-lite" / "run.sh"), "--json", "--compact"], capture_output=True, text=True,
                       timeout=1800, env=os.environ | {"RTFIT_DEMO_STORE": str(store)})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["tasks"] == {"prepare-data": "Succeeded", "train": "Succeeded", "export": "Succeeded",
                            "validate": "Succeeded", "quantize": "Succeeded", "verify": "Succeeded",
                            "serve": "Succeeded", "smoke-requests": "Succeeded", "notify-failure": "Skipped"}
    status = subprocess.run([str(ROOT / ".venv" / "bin" / "rtfit"), "flow", "status", out["run"], "--store", str(store),
                             "--json"], capture_output=True, text=True, check=True)
    tasks = json.loads(status.stdout)["tasks"]
    assert tasks["train"]["runtime"]["pytorch"] == "2.13.0+cpu"
    assert tasks["quantize"]["runtime"]["onnxruntime"] == "1.32.0"
    run_dir = store / ".runs" / "runs" / out["run"]
    report = json.loads((run_dir / "artifacts" / "verify.json").read_text())
    assert report["int8_bytes"] < report["fp32_bytes"]
    assert report["int8_accuracy"] >= report["fp32_accuracy"] - report["tolerance"]
    train_log = (run_dir / "logs" / "train.log").read_text()
    assert f"from {store.resolve() / 'pytorch' / '2.13.0+cpu'}" in train_log  # torch came from the store
    assert "32/32 correct" in (run_dir / "logs" / "smoke-requests.log").read_text() or \
        "correct" in (run_dir / "logs" / "smoke-requests.log").read_text()


def test_the_examples_reason_for_framework_none_is_the_catalogs() -> None:
    """flow.yaml says why its ONNX Runtime tasks ask for `framework: none`: the catalog's CPU-only
    onnxruntime builds end before the store's 1.32.0. It said "no CPU-only onnxruntime build yet ...
    infeasible" after CPU builds had been catalogued (fresh-clone trial). When the catalog gains
    1.32.0 this fails: switch the tasks to `framework: onnxruntime, gpu_count: 0`."""
    import re

    import yaml

    import solver
    from catalog import load_catalog

    cat = load_catalog()
    text = (ROOT / "examples" / "mnist-lite" / "flow.yaml").read_text()
    pinned = {t["runtime"]["onnxruntime"] for t in yaml.safe_load(text)["tasks"] if "onnxruntime" in (t.get("runtime") or {})}
    assert pinned == {"1.32.0"}
    asked = solver.select(cat, {"framework": "onnxruntime", "gpu_count": 0}, None)
    newest = asked.to_dict()["choice"]["runtime"]["onnxruntime"]
    series = ".".join(newest.split(".")[:2])
    found = re.search(r"CPU-only onnxruntime builds end at\s+(\S+) \(asking .* would choose (\S+), not the store's (\S+)\)",
                      text.replace("\n#", ""), re.S)
    assert found, "flow.yaml no longer says why the ONNX Runtime tasks use framework: none"
    assert found.groups() == (series, newest, "1.32.0"), (found.groups(), newest)
    pin = solver.select(cat, {"framework": "onnxruntime", "gpu_count": 0, "framework_version": "==1.32.0"}, None)
    assert not pin.feasible
