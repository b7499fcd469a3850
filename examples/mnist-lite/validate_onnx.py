"""validate task: the ONNX model is well-formed and ONNX Runtime reproduces PyTorch's logits."""

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

art = Path(os.environ["RTFIT_ARTIFACTS"])
onnx.checker.check_model(onnx.load(art / "model.onnx"))
data = np.load(art / "digits.npz")
sess = ort.InferenceSession(str(art / "model.onnx"), providers=["CPUExecutionProvider"])
logits = sess.run(None, {"x": data["x_test"]})[0]
diff = float(np.abs(logits - np.load(art / "torch_logits.npy")).max())
acc = float((logits.argmax(1) == data["y_test"]).mean())
print(f"onnxruntime {ort.__version__}: max |ort - torch| = {diff:.2e}, accuracy {acc:.4f}")
if diff > 1e-4:
    raise SystemExit(f"ONNX Runtime output differs from PyTorch by {diff}")
