"""Three verdicts for a request that names an artifact: runnable, runnable only with a change,
incompatible.

When the request as given fits nowhere, each change a user can make without a new model is
tried in turn — a smaller context (max_model_len), fewer concurrent sequences (max_num_seqs),
more GPUs per replica (tensor_parallel), a lower precision — with the memory estimated anew and
a full selection run for the changed request. A change is reported only when that selection is
feasible; for each kind the least drastic change that fits is kept.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from catalog import Catalog
from solver.inputs.inventory import Inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest
from solver.result import Selection
from solver.sizing.estimate import Serving, estimate_memory

__all__ = ["LOWER_PRECISIONS", "sized_select"]

# Each precision -> the lower ones worth trying, least drastic first.
LOWER_PRECISIONS = {None: ("fp8", "int8", "fp4"), "fp32": ("bf16", "fp16", "fp8", "int8", "fp4"),
                    "tf32": ("bf16", "fp16", "fp8", "int8", "fp4"), "bf16": ("fp8", "int8", "fp4"),
                    "fp16": ("fp8", "int8", "fp4"), "fp8": ("fp4",), "int8": ("fp4",), "fp4": ()}
_MIN_CONTEXT = 512
_MAX_TP = 8


def _with(request: ModelRequest, *, serving: Serving | None = None, precision: str | None = None,
          keep_precision: bool = True) -> ModelRequest:
    serving = serving if serving is not None else request.serving
    prec = request.precision if keep_precision else precision
    assert request.artifact is not None
    est = estimate_memory(request.artifact, precision=prec, serving=serving)
    count = max(request.gpu_count, serving.tensor_parallel if serving is not None else 1)
    return replace(request, serving=serving, precision=prec, memory=est, gpu_count=count,
                   min_gpu_memory_gib=round(est.per_gpu_gib, 2))


def _halvings(start: int, floor: int) -> list[int]:
    out, v = [], start // 2
    while v >= floor:
        out.append(v)
        v //= 2
    return out


def _variants(request: ModelRequest) -> list[tuple[str, dict[str, Any], list[ModelRequest]]]:
    """(kind, what changes, candidate requests least drastic first) for each kind of change."""
    s = request.serving or Serving()
    out: list[tuple[str, dict[str, Any], list[ModelRequest]]] = []
    facts = request.artifact
    assert facts is not None
    if facts.is_decoder and s.max_model_len:
        out.append(("smaller context", {"field": "serving.max_model_len"},
                    [_with(request, serving=replace(s, max_model_len=n))
                     for n in _halvings(s.max_model_len, _MIN_CONTEXT)]))
    if facts.is_decoder and s.max_model_len and s.max_num_seqs > 1:
        out.append(("fewer sequences", {"field": "serving.max_num_seqs"},
                    [_with(request, serving=replace(s, max_num_seqs=n)) for n in _halvings(s.max_num_seqs, 1)]))
    tps = [t for t in (2, 4, 8) if s.tensor_parallel < t <= _MAX_TP]
    out.append(("more GPUs", {"field": "serving.tensor_parallel"},
                [_with(request, serving=replace(s, tensor_parallel=t)) for t in tps]))
    out.append(("lower precision", {"field": "precision"},
                [_with(request, precision=p, keep_precision=False) for p in LOWER_PRECISIONS[request.precision]]))
    return out


def _describe(kind: str, before: ModelRequest, after: ModelRequest) -> str:
    b, a = before.serving or Serving(), after.serving or Serving()
    if kind == "smaller context":
        return f"serve with max_model_len {a.max_model_len} instead of {b.max_model_len}"
    if kind == "fewer sequences":
        return f"serve with max_num_seqs {a.max_num_seqs} instead of {b.max_num_seqs}"
    if kind == "more GPUs":
        return f"split over tensor_parallel = {a.tensor_parallel} GPUs instead of {b.tensor_parallel}"
    return f"run at precision {after.precision} instead of {before.precision or 'the stored dtype'}"


def _request_delta(after: ModelRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"min_gpu_memory_gib": after.min_gpu_memory_gib}
    if after.serving is not None:
        out["serving"] = after.serving.to_dict()
    if after.precision is not None:
        out["precision"] = after.precision
    out["gpu_count"] = after.gpu_count
    return out


def sized_select(catalog: Catalog, request: ModelRequest, inventory: Inventory | None, *, top: int,
                 policy: Policy | None) -> Selection:
    from solver.select import select

    first = select(catalog, request, inventory, top=top, policy=policy, sized=False)
    memory = request.memory.to_dict() if request.memory is not None else {
        "given_min_gpu_memory_gib": request.min_gpu_memory_gib,
        "how": ["min_gpu_memory_gib given in the request; the artifact was read but not used to size"]}
    if first.feasible:
        return replace(first, verdict="runnable", memory=memory,
                       explanation=(*first.explanation, *_memory_lines(request)))
    changes: list[dict[str, Any]] = []
    memory_bound = any(c.rule == "gpu-memory" for c in first.conflicts)
    if memory_bound and request.memory is not None:
        for kind, what, candidates in _variants(request):
            for changed in candidates:
                found = select(catalog, changed, inventory, top=1, policy=policy, sized=False)
                if found.feasible and found.choice is not None:
                    changes.append({"change": kind, **what, "description": _describe(kind, request, changed),
                                    "request": _request_delta(changed), "choice": found.choice.to_dict(),
                                    "memory": changed.memory.to_dict() if changed.memory else None})
                    break
    verdict = "runnable-with-change" if changes else "incompatible"
    return replace(first, verdict=verdict, memory=memory, changes=tuple(changes))


def _memory_lines(request: ModelRequest) -> tuple[str, ...]:
    if request.memory is None:
        return ()
    return (f"GPU memory needed per GPU estimated from the artifact: {request.memory.per_gpu_gib:.2f} GiB "
            f"({'; '.join(request.memory.how[:-1])})",)
