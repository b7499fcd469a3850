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


def test_the_examples_onnxruntime_tasks_ask_for_the_catalogs_cpu_build() -> None:
    """flow.yaml's ONNX Runtime tasks ask the solver for the CPU-only onnxruntime build they pin (the
    store's 1.32.0). Until the catalog recorded CPU onnxruntime past 1.20 they asked `framework: none`
    (the solver would have chosen 1.20.1); a request the catalog cannot place, or one whose choice is
    not the pinned build, fails here."""
    import yaml

    import solver
    from catalog import load_catalog

    cat = load_catalog()
    text = (ROOT / "examples" / "mnist-lite" / "flow.yaml").read_text()
    tasks = [t for t in yaml.safe_load(text)["tasks"] if "onnxruntime" in (t.get("runtime") or {})]
    assert {t["runtime"]["onnxruntime"] for t in tasks} == {"1.32.0"} and len(tasks) == 4
    for t in tasks:
        assert t["model"]["framework"] == "onnxruntime" and t["model"]["gpu_count"] == 0, t["name"]
        asked = solver.select(cat, t["model"], None)
        assert asked.feasible, (t["name"], asked.to_dict())
        assert asked.to_dict()["choice"]["runtime"]["onnxruntime"] == t["runtime"]["onnxruntime"], t["name"]
    # the pin is the newest CPU-only build the catalog knows (no framework_version asked)
    newest = solver.select(cat, {"framework": "onnxruntime", "gpu_count": 0}, None)
    assert newest.to_dict()["choice"]["runtime"]["onnxruntime"] == "1.32.0"
    assert "framework: none" not in text.split("name: mnist-lite")[0]
