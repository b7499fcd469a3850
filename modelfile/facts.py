"""What a model file says about its size: the plain facts the memory estimate is made from.

`ModelFacts` is produced by this package's readers (safetensors headers, GGUF
metadata, ONNX initializers, a Hugging Face folder's config.json and weight index) and crosses
packages as a plain mapping (`to_dict` / `from_dict`), so a request can carry it inline
(`artifact:` as a mapping) and the solver never reads a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DTYPE_BYTES", "ModelFacts", "facts_from_config"]

# Bytes per element of the dtypes model files use (safetensors / ONNX / torch names).
DTYPE_BYTES = {
    "F64": 8.0, "F32": 4.0, "F16": 2.0, "BF16": 2.0, "F8_E4M3": 1.0, "F8_E5M2": 1.0, "F8_E8M0": 1.0,
    "I64": 8.0, "I32": 4.0, "I16": 2.0, "I8": 1.0, "U8": 1.0, "BOOL": 1.0, "F4": 0.5, "U4": 0.5, "I4": 0.5,
}
_TORCH_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3"}


@dataclass(frozen=True)
class ModelFacts:
    """Counts read from a model artifact; layer geometry only for transformer decoders."""

    kind: str                                   # safetensors | gguf | onnx | hf-folder
    source: str                                 # the path (or name) read
    parameters: int                             # number of weight elements
    stored_bytes: int                           # bytes the weights take as stored
    dtypes: Mapping[str, int] = field(default_factory=dict, compare=False)   # dtype -> parameter count
    architecture: str | None = None
    layers: int | None = None
    hidden_size: int | None = None
    attention_heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    max_position: int | None = None
    read: tuple[str, ...] = ()                  # what was read, for the "how" of the estimate

    @property
    def is_decoder(self) -> bool:
        return bool(self.layers and self.kv_heads and self.head_dim)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dtypes"] = dict(self.dtypes)
        d["read"] = list(self.read)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelFacts:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values = dict(data)
        for name in ("kind", "source", "parameters", "stored_bytes"):
            if name not in values:
                raise ValueError(f"{name!r} is required")
        for name in ("parameters", "stored_bytes", "layers", "hidden_size", "attention_heads", "kv_heads",
                     "head_dim", "max_position"):
            v = values.get(name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{name!r} must be a non-negative integer, got {v!r}")
        dtypes = values.get("dtypes") or {}
        if not isinstance(dtypes, Mapping) or not all(isinstance(v, int) and not isinstance(v, bool)
                                                      for v in dtypes.values()):
            raise ValueError("'dtypes' must map dtype names to parameter counts")
        values["dtypes"] = {str(k): int(v) for k, v in dtypes.items()}
        values["read"] = tuple(str(x) for x in values.get("read") or ())
        return cls(**values)


# Transformers' `attribute_map` of GPT-2-style configs (GPT2Config, GPTJConfig): the standard name ->
# the key such a config.json stores instead (a GPT-2 folder otherwise had no decoder shape, so a
# serving request got no KV cache without saying why).
_ALIASES = {"hidden_size": "n_embd", "max_position_embeddings": "n_positions",
            "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}


def _get(cfg: Mapping[str, Any], name: str) -> Any:
    value = cfg.get(name)
    return value if value is not None or name not in _ALIASES else cfg.get(_ALIASES[name])


def _geometry(config: Mapping[str, Any]) -> dict[str, Any]:
    cfg = config.get("text_config") if isinstance(config.get("text_config"), Mapping) else config
    heads = _get(cfg, "num_attention_heads")
    hidden = _get(cfg, "hidden_size")
    head_dim = cfg.get("head_dim") or (hidden // heads if hidden and heads else None)
    arch = (config.get("architectures") or [None])[0]
    return {
        "architecture": arch or cfg.get("model_type"),
        "layers": _get(cfg, "num_hidden_layers"),
        "hidden_size": hidden,
        "attention_heads": heads,
        "kv_heads": cfg.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "max_position": _get(cfg, "max_position_embeddings"),
    }


def _config_parameters(cfg: Mapping[str, Any]) -> int | None:
    """Parameters of a Llama-style decoder from its config (attention, gated MLP, norms, embeddings)."""
    g = _geometry(cfg)
    inter, vocab = cfg.get("intermediate_size"), cfg.get("vocab_size")
    if not all((g["layers"], g["hidden_size"], g["attention_heads"], g["head_dim"], inter, vocab)):
        return None
    h, hd = g["hidden_size"], g["head_dim"]
    attn = h * g["attention_heads"] * hd * 2 + h * g["kv_heads"] * hd * 2
    mlp = 3 * h * inter
    per_layer = attn + mlp + 2 * h
    embed = vocab * h * (1 if cfg.get("tie_word_embeddings") else 2)
    return int(g["layers"] * per_layer + embed + h)


def facts_from_config(config: Mapping[str, Any], *, source: str, parameters: int | None = None,
                      stored_bytes: int | None = None, dtypes: Mapping[str, int] | None = None,
                      read: tuple[str, ...] = ()) -> ModelFacts:
    """Facts of a Hugging Face model from config.json, with the weight counts when they were read."""
    how = list(read)
    if parameters is None:
        parameters = _config_parameters(config)
        if parameters is None:
            raise ValueError("config.json lacks the fields to count parameters and no weights were found")
        how.append("parameters counted from config.json (Llama-style decoder: attention, gated MLP, norms, "
                   "embeddings)")
    dtype = _TORCH_DTYPE.get(str(config.get("torch_dtype") or config.get("dtype") or ""), "BF16")
    if stored_bytes is None:
        stored_bytes = int(parameters * DTYPE_BYTES[dtype])
    return ModelFacts(kind="hf-folder", source=source, parameters=int(parameters), stored_bytes=int(stored_bytes),
                      dtypes=dict(dtypes or {dtype: int(parameters)}), read=tuple(how), **_geometry(config))
