"""The executable spec: is this answer legal for this request, inventory and catalog?

`validate_selection` checks a `Selection` (or its Contract-3 dict) *without* the solver engine:
it re-reads the catalog records the answer names (the framework build behind a label, the CUDA
toolkits of its series, the cuDNN release, the GPU product) and re-applies the pairwise rules of
`catalog.compat` plus the request and node rules of docs/solver-internals.md. It imports nothing
from the solver's facts, rules, groups or engines, so a bug there cannot hide itself here.
It returns every violated rule (an empty list means the answer is legal); it never raises on a
bad answer. `validate_batch` adds the capacity rule for batch placements. The rules themselves
live in `validate_rules.py` (re-exported here). The brute-force
reference (`reference.py`) enumerates runtimes and filters them with `runtime_violations`.

Runtime shape conventions (what a runtime must contain, beyond legality):
- a GPU request's runtime has `cuda` and uses a `gpu: true` build; a CPU-only one has no `cuda`;
- a framework runtime has the framework key (its label) and `python`;
- `cudnn` / `tensorrt` appear exactly when the build bundles or needs them (framework `tensorrt`:
  its own key only); framework `none` adds `python` when the request names python (always for
  CPU-only) and `cudnn` when `requires` names it;
- a bare CUDA runtime (framework none) has no known SASS, so the driver rule uses the native
  minimum (minor-version compatibility is not assumed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from catalog import BuildRef, Catalog
from solver.check.validate_rules import (
    Slot,
    Violation,
    _v,
    allowed_series,
    find_builds,
    pair_violations,
    planning_slots,
    runtime_only_violations,
    runtime_violations,
    slot_violations,
    slots_of,
)
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.request import ModelRequest, parse_request

__all__ = [
    "Slot",
    "Violation",
    "allowed_series",
    "find_builds",
    "planning_slots",
    "pair_violations",
    "runtime_only_violations",
    "runtime_violations",
    "slot_violations",
    "slots_of",
    "validate_batch",
    "validate_choice",
    "validate_selection",
]

def _coerce(request: ModelRequest | Mapping[str, Any], inventory: Inventory | Mapping[str, Any] | None
            ) -> tuple[ModelRequest, Inventory | None]:
    req = request if isinstance(request, ModelRequest) else parse_request(request)
    inv = inventory if inventory is None or isinstance(inventory, Inventory) else parse_inventory(inventory)
    return req, inv


def _find_slot(catalog: Catalog, request: ModelRequest, inventory: Inventory | None, choice: Mapping[str, Any],
               where: str) -> tuple[list[Slot], list[Violation]]:
    gpu = choice.get("gpu")
    node = choice.get("node")
    if inventory is None:
        if node is not None:
            return [], [Violation("no-such-node", f"planning mode names node {node!r}", where)]
        slots = planning_slots(catalog, request) if request.uses_gpu else [
            Slot(None, None, a, a, None, None, None, 0, 0, None) for a in (request.arch or ("x86_64", "aarch64"))]
    else:
        n = inventory.node(str(node)) if node is not None else None
        if n is None:
            return [], [Violation("no-such-node", f"node {node!r} is not in the inventory", where)]
        if choice.get("cluster") != n.cluster:
            return [], [Violation("cluster-mismatch", f"cluster {choice.get('cluster')!r} != {n.cluster!r}", where)]
        slots = slots_of(catalog, Inventory(nodes=(n,)), gpu=request.uses_gpu)
    if not request.uses_gpu:
        if gpu not in (None, {}):
            return [], [Violation("gpu-for-cpu-request", f"a CPU-only request was given GPU {gpu}", where)]
        return slots, []
    if not isinstance(gpu, Mapping):
        return [], [Violation("no-gpu", "a GPU request's answer names no GPU", where)]
    known = catalog.gpu(str(gpu.get("product")))
    name = known.name if known else gpu.get("product")
    found = [s for s in slots if s.product == name and s.mig_profile == gpu.get("mig_profile")]
    bad: list[Violation] = []
    if not found:
        bad.append(Violation("no-such-gpu", f"{gpu.get('product')!r} is not on {node or 'the catalog'}", where))
    if gpu.get("count") != request.gpu_count:
        bad.append(Violation("gpu-count", f"answer uses {gpu.get('count')} GPUs, request {request.gpu_count}", where))
    if found and _v(gpu.get("compute_capability")) not in {s.cc for s in found}:
        bad.append(Violation("cc-mismatch", f"answer says CC {gpu.get('compute_capability')}", where))
    return found, bad


def validate_choice(catalog: Catalog, request: ModelRequest | Mapping[str, Any],
                    inventory: Inventory | Mapping[str, Any] | None, choice: Mapping[str, Any], *,
                    where: str = "choice") -> list[Violation]:
    """Every rule a Contract-3 `choice` object breaks (empty: legal)."""
    req, inv = _coerce(request, inventory)
    slots, bad = _find_slot(catalog, req, inv, choice, where)
    if bad:
        return bad
    runtime = choice.get("runtime")
    if not isinstance(runtime, Mapping):
        return [Violation("runtime-shape", "runtime is not a mapping", where)]
    refs: list[BuildRef | None] = [None]
    if req.framework != "none":
        refs = list(find_builds(catalog, req.framework, str(runtime.get(req.framework, ""))))
        if not refs:
            return [Violation("unknown-build", f"{req.framework} {runtime.get(req.framework)!r} is no catalog "
                              "build", where)]
    best: list[Violation] | None = None
    for slot in slots:
        for ref in refs:
            found = slot_violations(catalog, req, slot) + runtime_violations(catalog, req, runtime, slot, ref)
            if not found:
                return []
            if best is None or len(found) < len(best):
                best = found
    return [Violation(v.rule, v.message, where) for v in best or []]


def validate_selection(catalog: Catalog, request: ModelRequest | Mapping[str, Any],
                       inventory: Inventory | Mapping[str, Any] | None, answer: Any) -> list[Violation]:
    """Check a `Selection` or its Contract-3 dict: the choice, every alternative, and the shape."""
    data = answer.to_dict() if hasattr(answer, "to_dict") else answer
    req, inv = _coerce(request, inventory)
    if not isinstance(data, Mapping):
        return [Violation("shape", "the answer is not a mapping", "")]
    out: list[Violation] = []
    if data.get("catalog_revision") != catalog.revision:
        out.append(Violation("catalog-revision", f"answer names revision {data.get('catalog_revision')!r}", ""))
    if data.get("feasible") is not True:
        conflicts = data.get("conflicts")
        if data.get("feasible") is not False or not conflicts or not all(
                isinstance(c, Mapping) and c.get("rule") and c.get("message") for c in conflicts):
            out.append(Violation("shape", "an infeasible answer needs conflicts with a rule and a message", ""))
        return out
    choices = [("choice", data.get("choice"))]
    choices += [(f"alternatives[{i}]", c) for i, c in enumerate(data.get("alternatives") or [])]
    seen: set[Any] = set()
    for where, choice in choices:
        if not isinstance(choice, Mapping):
            out.append(Violation("shape", "not a choice object", where))
            continue
        out += validate_choice(catalog, req, inv, choice, where=where)
        runtime = choice.get("runtime")
        place = choice.get("node") if inv is not None else (
            (choice.get("gpu") or {}).get("product"),
            tuple(sorted(runtime.items())) if isinstance(runtime, Mapping) else None)
        if place in seen:
            out.append(Violation("alternatives-distinct", f"{place!r} appears twice", where))
        seen.add(place)
    return out


def validate_batch(catalog: Catalog, requests: Sequence[ModelRequest | Mapping[str, Any]],
                   inventory: Inventory | Mapping[str, Any], answer: Any,
                   quotas: Mapping[str, int] | None = None) -> list[Violation]:
    """Check a batch answer: one legal placement per request, no pool used beyond its free GPUs, and
    no cluster beyond its quota (`quotas`: the most GPUs the batch may use per cluster)."""
    data = answer.to_dict() if hasattr(answer, "to_dict") else answer
    reqs = [_coerce(r, None)[0] for r in requests]
    inv = _coerce(reqs[0] if reqs else {}, inventory)[1] if inventory is not None else None
    placements = list(data.get("placements") or [])
    out: list[Violation] = []
    if len(placements) != len(reqs):
        return [Violation("shape", f"{len(placements)} placements for {len(reqs)} requests", "")]
    used: dict[tuple[str, str], int] = {}
    for i, (req, p) in enumerate(zip(reqs, placements, strict=True)):
        out += [Violation(v.rule, v.message, f"placements[{i}].{v.where}")
                for v in validate_selection(catalog, req, inv, p)]
        if p.get("feasible") and req.uses_gpu and isinstance(p.get("choice"), Mapping):
            gpu = p["choice"].get("gpu") or {}
            known = catalog.gpu(str(gpu.get("product")))
            key = (str(p["choice"].get("node")), known.name if known else str(gpu.get("product")),
                   gpu.get("mig_profile"))
            used[key] = used.get(key, 0) + int(gpu.get("count") or 0)
    slots = slots_of(catalog, inv, gpu=True) if inv is not None else []
    free = {(s.node, s.product, s.mig_profile): s.free for s in slots}
    for (node, product, mig), n in sorted(used.items(), key=str):
        if n > free.get((node, product, mig), 0):
            what = f"{product} MIG {mig}" if mig else product
            out.append(Violation("over-capacity", f"{n} x {what} placed on {node}, "
                                 f"{free.get((node, product, mig), 0)} free", ""))
    cluster_of = {s.node: s.cluster for s in slots}
    per_cluster: dict[str, int] = {}
    for (node, _, _), n in used.items():
        cluster = cluster_of.get(node)
        if cluster is not None:
            per_cluster[cluster] = per_cluster.get(cluster, 0) + n
    for cluster, n in sorted(per_cluster.items()):
        if quotas and cluster in quotas and n > quotas[cluster]:
            out.append(Violation("over-quota", f"{n} GPUs placed in cluster {cluster}, quota {quotas[cluster]}", ""))
    if data.get("feasible") != all(p.get("feasible") for p in placements):
        out.append(Violation("shape", "batch `feasible` must be true exactly when every request is placed", ""))
    return out
