"""GPU memory a model needs, per GPU, from its facts: weights + KV cache + overhead.

- Weights: parameters x bytes of the requested precision (fp32/tf32 4, fp16/bf16 2, fp8/int8 1,
  fp4 0.5); without a precision, the bytes as stored (quantized GGUF files stay quantized).
- KV cache (transformer decoders with `serving`): 2 (K and V) x layers x KV heads x head dim x
  bytes per element (2; 4 at fp32; 1 at fp8/int8/fp4, whose serving engines quantize the cache)
  x max_model_len x max_num_seqs — the formula of Hugging Face's Llama 3.1 memory table.
- Overhead per GPU: 1 GiB for the CUDA context, cuBLAS/cuDNN workspaces and allocator slack, plus
  activations: 10 % of the weights for decoders being served, 20 % for other models (batch 1).
- Split: weights and KV cache divide evenly over `tensor_parallel` GPUs; the overhead does not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelfile.facts import ModelFacts

__all__ = ["PRECISION_BYTES", "MemoryEstimate", "Serving", "estimate_memory"]

GIB = 1024**3
PRECISION_BYTES = {"fp32": 4.0, "tf32": 4.0, "fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}
_KV_BYTES = {"fp32": 4.0, "tf32": 4.0, "fp8": 1.0, "int8": 1.0, "fp4": 1.0}
CONTEXT_GIB = 1.0


@dataclass(frozen=True)
class Serving:
    max_model_len: int | None = None
    max_num_seqs: int = 1
    tensor_parallel: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"max_model_len": self.max_model_len, "max_num_seqs": self.max_num_seqs,
                "tensor_parallel": self.tensor_parallel}


@dataclass(frozen=True)
class MemoryEstimate:
    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes_per_gpu: int
    tensor_parallel: int
    precision: str | None
    how: tuple[str, ...]

    @property
    def per_gpu_bytes(self) -> int:
        tp = max(self.tensor_parallel, 1)
        return (self.weights_bytes + self.kv_cache_bytes) // tp + self.overhead_bytes_per_gpu

    @property
    def per_gpu_gib(self) -> float:
        return self.per_gpu_bytes / GIB

    def to_dict(self) -> dict[str, Any]:
        return {"per_gpu_gib": round(self.per_gpu_gib, 2), "weights_gib": round(self.weights_bytes / GIB, 2),
                "kv_cache_gib": round(self.kv_cache_bytes / GIB, 2),
                "overhead_gib_per_gpu": round(self.overhead_bytes_per_gpu / GIB, 2),
                "tensor_parallel": self.tensor_parallel, "precision": self.precision, "how": list(self.how)}


def kv_cache_bytes(facts: ModelFacts, serving: Serving, precision: str | None) -> int:
    if not facts.is_decoder or serving.max_model_len is None:
        return 0
    per_token = 2 * facts.layers * facts.kv_heads * facts.head_dim * _KV_BYTES.get(precision or "", 2.0)  # type: ignore[operator]
    return int(per_token * serving.max_model_len * serving.max_num_seqs)


def estimate_memory(facts: ModelFacts, *, precision: str | None = None, serving: Serving | None = None) -> MemoryEstimate:
    serving = serving or Serving()
    how = [f"read {facts.kind} {facts.source}: " + "; ".join(facts.read)] if facts.read else []
    if precision is not None:
        weights = int(facts.parameters * PRECISION_BYTES[precision])
        how.append(f"weights: {facts.parameters:,} parameters x {PRECISION_BYTES[precision]:g} B ({precision}) "
                   f"= {weights / GIB:.2f} GiB")
    else:
        weights = facts.stored_bytes
        how.append(f"weights: {facts.parameters:,} parameters as stored ({', '.join(sorted(facts.dtypes))}) "
                   f"= {weights / GIB:.2f} GiB")
    kv = kv_cache_bytes(facts, serving, precision)
    if kv:
        how.append(f"KV cache: 2 x {facts.layers} layers x {facts.kv_heads} KV heads x {facts.head_dim} head dim x "
                   f"{_KV_BYTES.get(precision or '', 2.0):g} B x {serving.max_model_len} tokens x "
                   f"{serving.max_num_seqs} sequences = {kv / GIB:.2f} GiB")
    elif facts.is_decoder:
        how.append("no KV cache counted: give serving.max_model_len for LLM serving")
    elif serving.max_model_len:
        how.append(f"no KV cache counted: {facts.kind} {facts.source} gives no decoder shape (layers, KV heads, "
                   f"head dim), so serving.max_model_len {serving.max_model_len} adds nothing to the estimate")
    share = 0.10 if (kv and facts.is_decoder) else 0.20
    overhead = int(CONTEXT_GIB * GIB + share * weights / max(serving.tensor_parallel, 1))
    how.append(f"overhead per GPU: {CONTEXT_GIB:g} GiB CUDA context/workspaces + {share:.0%} of the weights "
               f"share for activations = {overhead / GIB:.2f} GiB")
    if serving.tensor_parallel > 1:
        how.append(f"weights and KV cache split over tensor_parallel = {serving.tensor_parallel} GPUs")
    est = MemoryEstimate(weights, kv, overhead, serving.tensor_parallel, precision, tuple(how))
    return MemoryEstimate(weights, kv, overhead, serving.tensor_parallel, precision,
                          (*how, f"per GPU: {est.per_gpu_gib:.2f} GiB"))


def parse_serving(raw: Mapping[str, Any] | None) -> Serving | None:
    if raw is None:
        return None
    return Serving(max_model_len=raw.get("max_model_len"), max_num_seqs=int(raw.get("max_num_seqs") or 1),
                   tensor_parallel=int(raw.get("tensor_parallel") or 1))
