"""verify task: the int8 model keeps accuracy within TOLERANCE of fp32 and is smaller."""

import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

TOLERANCE = float(os.environ.get("ACCURACY_TOLERANCE", "0.02"))  # absolute accuracy drop allowed
art = Path(os.environ["RTFIT_ARTIFACTS"])
data = np.load(art / "digits.npz")


def accuracy(path: Path) -> float:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float((sess.run(None, {"x": data["x_test"]})[0].argmax(1) == data["y_test"]).mean())


fp32, int8 = art / "model.onnx", art / "model.int8.onnx"
report = {"fp32_accuracy": accuracy(fp32), "int8_accuracy": accuracy(int8), "tolerance": TOLERANCE,
          "fp32_bytes": fp32.stat().st_size, "int8_bytes": int8.stat().st_size}
(art / "verify.json").write_text(json.dumps(report, indent=2))
print(json.dumps(report))
if report["int8_accuracy"] < report["fp32_accuracy"] - TOLERANCE:
    raise SystemExit("int8 accuracy dropped more than the tolerance")
if report["int8_bytes"] >= report["fp32_bytes"]:
    raise SystemExit("int8 model is not smaller")
