"""GGUF: key-value metadata and tensor infos through the `gguf` package's memory-mapped reader
(tensor data is mapped, never read). Layer geometry from `<arch>.block_count`,
`<arch>.attention.head_count[_kv]`, `<arch>.embedding_length`, `<arch>.context_length`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from modelfile.errors import UnreadableModel
from modelfile.facts import ModelFacts

__all__ = ["read_gguf"]


def _value(field: Any) -> Any:
    parts = field.parts
    if not field.data:
        return None
    if len(field.data) == 1:
        v = parts[field.data[0]]
        if hasattr(v, "tobytes") and v.dtype.kind == "u" and v.dtype.itemsize == 1:
            return bytes(v).decode("utf-8", errors="replace")
        return v.tolist()[0] if hasattr(v, "tolist") else v
    return [parts[i].tolist() for i in field.data]


def read_gguf(path: Path) -> ModelFacts:
    try:
        from gguf import GGUFReader
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise UnreadableModel("reading GGUF needs the 'gguf' package") from e
    try:
        reader = GGUFReader(str(path), "r")
    except (ValueError, OSError, KeyError, IndexError) as e:
        raise UnreadableModel(f"{path}: not a readable GGUF file ({e})") from e
    meta = {name: _value(field) for name, field in reader.fields.items() if not name.startswith("tokenizer.")}
    arch = meta.get("general.architecture")
    params, nbytes, dtypes = 0, 0, Counter[str]()
    for t in reader.tensors:
        params += int(t.n_elements)
        nbytes += int(t.n_bytes)
        dtypes[t.tensor_type.name] += int(t.n_elements)

    def key(suffix: str) -> Any:
        return meta.get(f"{arch}.{suffix}") if arch else None

    heads, hidden = key("attention.head_count"), key("embedding_length")
    head_dim = key("attention.key_length") or (hidden // heads if heads and hidden else None)
    return ModelFacts(
        kind="gguf", source=str(path), parameters=params, stored_bytes=nbytes, dtypes=dict(dtypes),
        architecture=arch, layers=key("block_count"), hidden_size=hidden, attention_heads=heads,
        kv_heads=key("attention.head_count_kv") or heads, head_dim=head_dim, max_position=key("context_length"),
        read=(f"GGUF v{_value(reader.fields['GGUF.version']) if 'GGUF.version' in reader.fields else '?'} metadata "
              f"and {len(reader.tensors)} tensor infos (data not read)",),
    )
