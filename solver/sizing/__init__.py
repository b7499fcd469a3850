"""Sizing: how much GPU memory a model needs, from facts read out of its artifact.

Pure functions on plain data: `ModelFacts` (what a model file says), `estimate_memory` (weights,
KV cache, overhead, split per GPU), and `verdict` (runnable / runnable only with a change /
incompatible, each change re-checked by a selection). Reading files is the `modelfile` package's job; its `ModelFacts` is the input here.
"""

from solver.sizing.estimate import PRECISION_BYTES, MemoryEstimate, Serving, estimate_memory

__all__ = [
    "PRECISION_BYTES",
    "MemoryEstimate",
    "Serving",
    "estimate_memory",
]
