"""A Hugging Face model folder: config.json for the geometry, the weights' headers for the counts.

Weights are counted from every `*.safetensors` header in the folder; without them, from
`model.safetensors.index.json` (`metadata.total_size`, bytes); without either, from config.json.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from modelfile.errors import UnreadableModel
from modelfile.facts import DTYPE_BYTES, ModelFacts, facts_from_config
from modelfile.safetensors_header import tensor_counts

__all__ = ["read_hf_folder"]


def read_hf_folder(path: Path) -> ModelFacts:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UnreadableModel(f"{path / 'config.json'}: {e}") from e
    if not isinstance(config, dict):
        raise UnreadableModel(f"{path / 'config.json'}: not a JSON object")
    shards = sorted(path.glob("*.safetensors"))
    read = ["config.json"]
    try:
        if shards:
            params, nbytes, dtypes = 0, 0, Counter[str]()
            for shard in shards:
                p, b, d = tensor_counts(shard)
                params, nbytes = params + p, nbytes + b
                dtypes.update(d)
            read.append(f"{len(shards)} safetensors header(s)")
            return facts_from_config(config, source=str(path), parameters=params, stored_bytes=nbytes,
                                     dtypes=dict(dtypes), read=tuple(read))
        index = path / "model.safetensors.index.json"
        if index.is_file():
            total = int(json.loads(index.read_text(encoding="utf-8"))["metadata"]["total_size"])
            dtype = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}.get(str(config.get("torch_dtype")), "BF16")
            params = int(total / DTYPE_BYTES[dtype])
            read.append(f"model.safetensors.index.json total_size {total:,} B / {DTYPE_BYTES[dtype]:g} B ({dtype})")
            return facts_from_config(config, source=str(path), parameters=params, stored_bytes=total,
                                     dtypes={dtype: params}, read=tuple(read))
        return facts_from_config(config, source=str(path), read=tuple(read))
    except (KeyError, TypeError, ValueError) as e:
        raise UnreadableModel(f"{path}: {e}") from e
