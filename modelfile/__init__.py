"""Read what a model artifact says about its size, without loading its weights.

Imports nothing else of rtfit (the solver reads its `ModelFacts` as plain data).

`inspect_artifact(path)` accepts a safetensors file, a GGUF file, an ONNX file, or a folder (a
Hugging Face model folder with config.json, or a folder of safetensors shards) and returns
`ModelFacts`. `resolve_request(request, base)` replaces a request's `artifact:` path
by those facts (a plain mapping), which the solver turns into a memory estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelfile.errors import ModelFileError, UnknownModelFormat, UnreadableModel
from modelfile.facts import ModelFacts

__all__ = ["ModelFacts", "ModelFileError", "UnknownModelFormat", "UnreadableModel", "inspect_artifact", "resolve_request"]


def inspect_artifact(path: str | Path) -> ModelFacts:
    p = Path(path)
    if p.is_dir():
        if (p / "config.json").is_file():
            from modelfile.hf_folder import read_hf_folder

            return read_hf_folder(p)
        shards = sorted(p.glob("*.safetensors"))
        if shards:
            from collections import Counter

            from modelfile.safetensors_header import tensor_counts

            params, nbytes, dtypes = 0, 0, Counter[str]()
            for s in shards:
                a, b, c = tensor_counts(s)
                params, nbytes = params + a, nbytes + b
                dtypes.update(c)
            return ModelFacts(kind="safetensors", source=str(p), parameters=params, stored_bytes=nbytes,
                              dtypes=dict(dtypes), read=(f"{len(shards)} safetensors header(s)",))
        raise UnknownModelFormat(f"{p}: a folder without config.json or *.safetensors files")
    if not p.is_file():
        raise UnknownModelFormat(f"{p}: no such file or folder")
    with p.open("rb") as f:
        magic = f.read(8)
    if magic[:4] == b"GGUF":
        from modelfile.gguf_meta import read_gguf

        return read_gguf(p)
    if p.suffix == ".safetensors":
        from modelfile.safetensors_header import tensor_counts

        params, nbytes, dtypes = tensor_counts(p)
        return ModelFacts(kind="safetensors", source=str(p), parameters=params, stored_bytes=nbytes,
                          dtypes=dict(dtypes), read=("safetensors header",))
    if p.suffix == ".onnx":
        from modelfile.onnx_graph import read_onnx

        return read_onnx(p)
    raise UnknownModelFormat(f"{p}: not a .safetensors, .onnx or GGUF file, nor a model folder")


def resolve_request(request: Mapping[str, Any], base: str | Path | None = None) -> dict[str, Any]:
    """The request with a string `artifact:` replaced by the facts read from it (relative to `base`)."""
    out = dict(request)
    artifact = out.get("artifact")
    if isinstance(artifact, str):
        path = Path(artifact)
        if not path.is_absolute() and base is not None:
            path = Path(base) / path
        out["artifact"] = inspect_artifact(path).to_dict()
    return out
