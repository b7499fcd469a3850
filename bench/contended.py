"""The contended batch family: seeded fleets and request batches where the placement choice matters.

Used by `bench/batch_bench.py` (see bench/README.md). One instance of size n has n requests and
about n nodes in four clusters, built so that greedy first-fit (requests in order, each to its
best-keyed node) leaves requests unplaced or places them worse than necessary:

- *Scarce large GPUs*: 8% of the nodes are 8 x H100 80GB HBM3 / 8 x A100-SXM4-80GB; a fifth of
  the models need >= 70 GiB per GPU (only those run them), while the small models that could run
  anywhere prefer the same nodes because those cache their runtime stack (the `cached` term comes
  first in the policy order): served first, they take the capacity the large models needed.
- *Multi-GPU requests that must share a node*: gpu_count 2, 3, 4, 6 and 8 (a request's GPUs are on
  one node).
- *Mixed sizes where greedy fragments capacity*: 3- and 6-GPU requests next to 2-, 4- and 8-GPU
  ones on 4- and 8-GPU nodes (3+3 leaves 2 free on an 8-GPU node: useless for a 4 or 8).
- *Cache-aware costs*: nodes cache one of a few coherent runtime stacks (CUDA, cuDNN, Python,
  PyTorch build), so the same request gains different cached bytes on different nodes.
- *Per-cluster quotas*: the batch may use at most 60% of each cluster's free GPUs.

Requests arrive in a seeded random order (models replicated ~15 times each, shuffled).
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["contended"]

# product, GPUs per node, share of the nodes (the large ones are the scarce 8%)
LARGE = [("NVIDIA H100 80GB HBM3", 8, 5), ("NVIDIA A100-SXM4-80GB", 8, 3)]
SMALL = [("NVIDIA L40S", 4, 10), ("NVIDIA L40S", 8, 8), ("NVIDIA A10G", 4, 14), ("NVIDIA L4", 8, 10),
         ("NVIDIA L4", 4, 12), ("NVIDIA L4", 1, 10), ("Tesla T4", 4, 10), ("Tesla T4", 1, 10)]
DRIVERS = ["570.124.06", "580.65.06"]
# what a node has cached: the large nodes mostly the current PyTorch stack (what the small models
# want too), the others a mix (older stacks, partial stacks, nothing)
STACK_NEW = ["cuda/12.4.1", "cudnn/9.1.0", "python/3.11", "pytorch/2.5.1+cu124"]
STACKS = [[], STACK_NEW, ["cuda/12.1.1", "cudnn/8.9.7", "python/3.10", "pytorch/2.4.1+cu121"],
          ["cuda/12.6.3", "cudnn/9.1.0", "python/3.12"], ["python/3.11"]]
CLUSTERS = ["c0", "c1", "c2", "c3"]
QUOTA_SHARE = 0.6


def _fleet(rng: random.Random, n: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    share = LARGE + SMALL
    weights = [w for *_, w in share]
    for i in range(n):
        product, count, _ = rng.choices(share, weights=weights)[0]
        large = (product, count) in {(p, c) for p, c, _ in LARGE}
        busy = 0 if rng.random() < 0.7 else rng.randint(0, count // 2)
        stack = STACK_NEW if large and rng.random() < 0.8 else rng.choice(STACKS)
        nodes.append({"name": f"n{i:05d}", "cluster": rng.choice(CLUSTERS), "arch": "x86_64",
                      "driver_version": rng.choice(DRIVERS),
                      "gpus": [{"product": product, "count": count, "free": count - busy}],
                      "cached_components": list(stack)})
    return nodes


def _model(rng: random.Random, i: int) -> dict[str, Any]:
    kind = rng.choices(["large", "medium", "small"], weights=[20, 30, 50])[0]
    m: dict[str, Any] = {"name": f"m{i}", "framework": "pytorch"}
    if kind == "large":      # only the 80 GB GPUs
        m["min_gpu_memory_gib"] = 70
        m["gpu_count"] = rng.choices([1, 2, 4, 8], weights=[30, 25, 25, 20])[0]
        m["precision"] = "bf16"
    elif kind == "medium":   # >= 40 GiB: L40S (48 GB) or the large ones
        m["min_gpu_memory_gib"] = 40
        m["gpu_count"] = rng.choices([1, 2, 3, 4, 6], weights=[30, 20, 20, 15, 15])[0]
    else:                    # fits almost anywhere
        m["min_gpu_memory_gib"] = rng.choice([8, 12, 16])
        m["gpu_count"] = rng.choices([1, 2, 3], weights=[60, 25, 15])[0]
    if rng.random() < 0.5:
        m["framework_version"] = ">=2.4"
    return m


def contended(n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, int]]:
    """(requests, inventory, quotas) of the contended family: n requests on n nodes."""
    rng = random.Random(seed)
    nodes = _fleet(rng, n)
    models = [_model(rng, i) for i in range(max(1, n // 15))]
    reqs = [dict(rng.choice(models)) for _ in range(n)]
    rng.shuffle(reqs)
    free: dict[str, int] = {}
    for node in nodes:
        free[node["cluster"]] = free.get(node["cluster"], 0) + sum(g["free"] for g in node["gpus"])
    quotas = {c: int(free.get(c, 0) * QUOTA_SHARE) for c in CLUSTERS}
    return reqs, {"nodes": nodes}, quotas
