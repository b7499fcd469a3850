"""train task: a small MLP on the digits split with PyTorch (CPU), from the composed `pytorch` runtime."""

import json
import os
from pathlib import Path

import numpy as np
import torch

art = Path(os.environ["RTFIT_ARTIFACTS"])
data = np.load(art / "digits.npz")
torch.manual_seed(0)
x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
x_test, y_test = torch.from_numpy(data["x_test"]), torch.from_numpy(data["y_test"])

model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                            torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
for _epoch in range(60):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = (model(x_test).argmax(1) == y_test).float().mean().item()
torch.save(model, art / "model.pt")
(art / "train.json").write_text(json.dumps({"torch": torch.__version__, "test_accuracy": acc}))
print(f"torch {torch.__version__} from {Path(torch.__file__).parent}; test accuracy {acc:.4f}")
if acc < 0.9:
    raise SystemExit(f"accuracy {acc:.4f} below 0.90")
