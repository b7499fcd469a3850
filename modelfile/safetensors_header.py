"""safetensors: the JSON header only (8-byte little-endian length, then JSON); no tensor data read.

Format: https://github.com/huggingface/safetensors ("Format" section of the README).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from math import prod
from pathlib import Path

from modelfile.errors import UnreadableModel
from modelfile.facts import DTYPE_BYTES

__all__ = ["MAX_HEADER_BYTES", "read_header", "tensor_counts"]

MAX_HEADER_BYTES = 100 * 1024 * 1024   # the reference implementation's own limit


def read_header(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise UnreadableModel(f"{path}: too short for a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or n > path.stat().st_size - 8:
                raise UnreadableModel(f"{path}: safetensors header length {n} is not plausible")
            raw = f.read(n)
    except OSError as e:
        raise UnreadableModel(f"{path}: {e}") from e
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnreadableModel(f"{path}: the safetensors header is not JSON ({e})") from e
    if not isinstance(header, dict):
        raise UnreadableModel(f"{path}: the safetensors header is not a JSON object")
    return header


def tensor_counts(path: Path) -> tuple[int, int, Counter[str]]:
    """(parameters, stored bytes, parameters per dtype) of one safetensors file."""
    header = read_header(path)
    params, nbytes, dtypes = 0, 0, Counter[str]()
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = str(info["dtype"]), [int(d) for d in info["shape"]]
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise UnreadableModel(f"{path}: tensor {name!r} has no dtype/shape/data_offsets") from e
        if dtype not in DTYPE_BYTES:
            raise UnreadableModel(f"{path}: tensor {name!r} has an unknown dtype {dtype!r}")
        count = prod(shape)
        params += count
        nbytes += end - start
        dtypes[dtype] += count
    return params, nbytes, dtypes
