"""export task: the trained model to ONNX (opset 17), plus reference logits for validation."""

import os
from pathlib import Path

import numpy as np
import torch

art = Path(os.environ["RTFIT_ARTIFACTS"])
model = torch.load(art / "model.pt", weights_only=False)
model.eval()
x_test = torch.from_numpy(np.load(art / "digits.npz")["x_test"])
torch.onnx.export(model, (x_test[:1],), str(art / "model.onnx"), input_names=["x"], output_names=["logits"],
                  dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17, dynamo=False)
with torch.no_grad():
    np.save(art / "torch_logits.npy", model(x_test).numpy())
print(f"exported {art / 'model.onnx'} ({(art / 'model.onnx').stat().st_size} bytes)")
