"""prepare-data task: sklearn's bundled 8x8 digits (nothing downloaded) -> a fixed train/test split.

Runs in the composed `scikit-learn` runtime; writes $RTFIT_ARTIFACTS/digits.npz.
"""

import os
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

out = Path(os.environ["RTFIT_ARTIFACTS"])
digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)
y = digits.target.astype(np.int64)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
np.savez(out / "digits.npz", x_train=x_train, x_test=x_test, y_train=y_train, y_test=y_test)
print(f"digits: {len(x_train)} train, {len(x_test)} test, {x.shape[1]} features")
sample = {"x": x_test[:32].round(6).tolist(), "y": y_test[:32].tolist()}
(out / "sample.json").write_text(__import__("json").dumps(sample))
