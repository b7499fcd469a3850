"""ONNX: the graph's initializers (dims and element type), external data never loaded.

A model whose weights are embedded in the protobuf is parsed whole (that is how protobuf reads);
a model with external data files is parsed without them (`load_external_data=False`).
"""

from __future__ import annotations

from collections import Counter
from math import prod
from pathlib import Path

from modelfile.errors import UnreadableModel
from modelfile.facts import ModelFacts

__all__ = ["read_onnx"]


def read_onnx(path: Path) -> ModelFacts:
    try:
        import onnx
        from onnx import helper
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise UnreadableModel("reading ONNX needs the 'onnx' package") from e
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several unrelated types
        raise UnreadableModel(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    params, nbytes, dtypes = 0, 0, Counter[str]()
    for init in model.graph.initializer:
        count = prod(init.dims) if init.dims else 1
        try:
            np_dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
            size = np_dtype.itemsize
            name = onnx.TensorProto.DataType.Name(init.data_type)
        except (KeyError, ValueError, TypeError) as e:
            raise UnreadableModel(f"{path}: initializer {init.name!r} has an unknown data type {init.data_type}") from e
        params += count
        nbytes += count * size
        dtypes[name] += count
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    return ModelFacts(kind="onnx", source=str(path), parameters=params, stored_bytes=nbytes, dtypes=dict(dtypes),
                      architecture=model.graph.name or None,
                      read=(f"{len(model.graph.initializer)} initializers of the ONNX graph (opset "
                            f"{opsets.get('ai.onnx', '?')}), external data not loaded",))
