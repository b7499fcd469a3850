"""quantize task: dynamic int8 quantization of the weights with onnxruntime.quantization."""

import os
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic

art = Path(os.environ["RTFIT_ARTIFACTS"])
quantize_dynamic(str(art / "model.onnx"), str(art / "model.int8.onnx"), weight_type=QuantType.QInt8)
print(f"int8 model: {(art / 'model.int8.onnx').stat().st_size} bytes (fp32: {(art / 'model.onnx').stat().st_size})")
