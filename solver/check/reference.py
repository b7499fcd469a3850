"""Brute-force reference: enumerate every (runtime, slot) pair and keep the legal ones.

For small instances (tests) and sampled benchmark runs. It builds runtimes straight from catalog
records (every build of the framework x every CUDA series it could use x every cuDNN / TensorRT /
Python a runtime of its shape may name), pairs each with every slot (a GPU product on a node, a
node's CPU, or a catalog product in planning mode), and filters with the validator's rules
(`validate.py`), not with the solver's. Nothing is pruned; the only shortcut is that a runtime's
verdict is memoised per slot *signature* (everything the rules read of a slot: the node name is
not one of them).

To make "equal objective" meaningful, each legal pair is scored with the core's own key
(`Problem.key`): the pair is mapped to the core's candidate (same runtime dict) and node group
(same node and product). A legal pair the core has no candidate or group for, or whose candidate
the core filters out or whose pair it judges infeasible, is reported in `disagreements`: that is
a finding against the core (or the spec), never silently dropped.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog import BuildRef, Catalog
from catalog.versions import series
from solver.check.validate import (
    Slot,
    pair_violations,
    planning_slots,
    runtime_only_violations,
    slot_violations,
    slots_of,
)
from solver.facts.problem import Problem, build_problem
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest, parse_request

__all__ = ["LegalPair", "ReferenceResult", "ReferenceTimeout", "brute_force", "brute_force_batch", "enumerate_runtimes", "reference_slots"]


@dataclass(frozen=True)
class LegalPair:
    runtime: tuple[tuple[str, str], ...]
    slot: Slot
    key: tuple[int, ...] | None        # the core's key; None when the pair could not be mapped

    def choice(self) -> dict[str, Any]:
        gpu = None
        if self.slot.cc is not None and self.slot.product is not None:
            gpu = {"product": self.slot.product, "count": None, "compute_capability": str(self.slot.cc)}
        return {"node": self.slot.node, "cluster": self.slot.cluster, "gpu": gpu, "runtime": dict(self.runtime)}


@dataclass(frozen=True)
class ReferenceResult:
    feasible: bool
    best: LegalPair | None
    legal: int                                     # number of legal (runtime, slot) pairs
    runtimes: int                                  # runtimes enumerated
    slots: int                                     # slots enumerated
    disagreements: tuple[str, ...] = field(default=())


def _series_str(v: Any) -> str:
    return ".".join(str(x) for x in series(v))


def enumerate_runtimes(catalog: Catalog, request: ModelRequest) -> Iterator[tuple[BuildRef | None, dict[str, str]]]:
    """Every runtime of the request's framework whose *shape* fits the request (legality is not judged)."""
    fw = request.framework
    gpu = request.uses_gpu
    refs: list[BuildRef | None] = [None] if fw == "none" else list(catalog.builds(fw))
    all_cuda = [_series_str(s) for s in catalog.cuda_series()]
    all_cudnn = [str(c.version) for c in catalog.cudnn]
    all_trt = sorted({str(v) for r in catalog.releases("tensorrt") for v in r.versions})
    all_py = [str(p) for p in catalog.python_series()]
    for ref in refs:
        bundled = ref.build.bundled if ref else {}
        needs = ref.build.needs if ref else {}
        cudas: list[str | None] = [None]
        if gpu:
            cudas = [_series_str(bundled["cuda"])] if "cuda" in bundled else all_cuda
        cudnns: list[str | None] = [None]
        if "cudnn" in bundled and gpu:
            cudnns = [str(bundled["cudnn"])]
        elif gpu and ("cudnn" in needs or (fw == "none" and request.required("cudnn") is not None)):
            cudnns = list(all_cudnn)
        trts: list[str | None] = [None]
        if fw != "tensorrt" and "tensorrt" in bundled:
            trts = [str(bundled["tensorrt"])]
        elif fw != "tensorrt" and "tensorrt" in needs:
            trts = list(all_trt)
        wants_py = fw != "none" or not gpu or request.python is not None or request.required("python") is not None
        pys: list[str | None] = list(all_py) if wants_py else [None]
        for cuda, cudnn, trt, py in itertools.product(cudas, cudnns, trts, pys):
            rt = {k: v for k, v in (("cuda", cuda), ("cudnn", cudnn), ("tensorrt", trt), ("python", py))
                  if v is not None}
            if ref is not None:
                rt[fw] = ref.label
            yield ref, rt


def reference_slots(catalog: Catalog, request: ModelRequest, inventory: Inventory | None) -> list[Slot]:
    if inventory is not None:
        return slots_of(catalog, inventory, gpu=request.uses_gpu)
    if request.uses_gpu:
        return planning_slots(catalog, request)
    return [Slot(None, None, a, a, None, None, None, 0, 0, None) for a in (request.arch or ("x86_64", "aarch64"))]


def _signature(slot: Slot) -> tuple:
    return (slot.arch, slot.platform, slot.product, slot.cc, slot.memory_mib, slot.count, slot.free, slot.driver)


class _CoreMap:
    """Maps a legal (runtime, slot) pair to the core's candidate and group, to score it."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.cands = {tuple(sorted(c.runtime().items())): c for c in problem.all_candidates}
        self.groups: dict[tuple, Any] = {}
        for g in problem.groups:
            if problem.planning:
                self.groups[(None, g.gpu_product if problem.request.uses_gpu else g.arch, None)] = g
            for n in g.nodes:
                self.groups[(n, g.gpu_product, g.mig_profile)] = g

    def key(self, runtime: tuple[tuple[str, str], ...], slot: Slot) -> tuple[tuple[int, ...] | None, str | None]:
        p = self.problem
        cand = self.cands.get(tuple(sorted(runtime)))
        where = f"runtime {dict(runtime)} on {slot.node or ''}/{slot.product or slot.arch}"
        if cand is None:
            return None, f"legal {where}: the core has no such candidate"
        g = self.groups.get((slot.node, slot.product if p.request.uses_gpu or slot.node else slot.arch,
                             slot.mig_profile))
        if g is None:
            return None, f"legal {where}: the core has no group for this slot"
        if cand.index in p.filtered:
            rules = ", ".join(c.rule for c in p.filtered[cand.index])
            return None, f"legal {where}: the core filters the candidate ({rules})"
        if not p.feasible(cand, g):
            rules = ", ".join(c.rule for c in g.node_checks) or "a pair rule"
            return None, f"legal {where}: the core judges the pair infeasible ({rules})"
        return p.key(cand, g, slot.node), None


class ReferenceTimeout(TimeoutError):
    """The enumeration ran past its deadline (benchmarks bound the reference this way)."""


def _legal_pairs(catalog: Catalog, req: ModelRequest, inv: Inventory | None, core: _CoreMap | None,
                 deadline: float | None = None) -> Iterator[tuple[LegalPair, str | None]]:
    """Every legal (runtime, slot) pair. Verdicts are memoised, never skipped: runtime-only rules
    once per runtime, slot rules once per slot signature, pair rules once per (build, CUDA, cuDNN,
    slot signature) - the only runtime parts they read."""
    slots = reference_slots(catalog, req, inv)
    runtimes = [(ref, rt) for ref, rt in enumerate_runtimes(catalog, req)
                if not runtime_only_violations(catalog, req, rt, ref)]
    slot_ok: dict[tuple, bool] = {}
    verdict: dict[tuple, bool] = {}
    for slot in slots:
        if deadline is not None and time.perf_counter() > deadline:
            raise ReferenceTimeout(f"brute force passed its deadline after {len(slot_ok)} slot signatures")
        sig = _signature(slot)
        if sig not in slot_ok:
            slot_ok[sig] = not slot_violations(catalog, req, slot)
        if not slot_ok[sig]:
            continue
        for ref, rt in runtimes:
            vk = (id(ref.build) if ref else None, ref.version if ref else None, rt.get("cuda"), rt.get("cudnn"), sig)
            if vk not in verdict:
                verdict[vk] = not pair_violations(catalog, req, rt, slot, ref)
            if not verdict[vk]:
                continue
            frozen = tuple(sorted(rt.items()))
            key, problem = core.key(frozen, slot) if core is not None else (None, None)
            yield LegalPair(frozen, slot, key), problem


def _parse(catalog: Catalog, request: ModelRequest | Mapping[str, Any],
           inventory: Inventory | Mapping[str, Any] | None) -> tuple[ModelRequest, Inventory | None]:
    req = request if isinstance(request, ModelRequest) else parse_request(request)
    inv = inventory if inventory is None or isinstance(inventory, Inventory) else parse_inventory(inventory)
    return req, inv


def brute_force(catalog: Catalog, request: ModelRequest | Mapping[str, Any],
                inventory: Inventory | Mapping[str, Any] | None = None, *, policy: Policy | None = None,
                score: bool = True, deadline: float | None = None) -> ReferenceResult:
    """Enumerate, filter with the validator's rules, and return the best legal pair by the core's key.

    `deadline` (a `time.perf_counter()` value) bounds the run: past it, `ReferenceTimeout` is raised.
    """
    req, inv = _parse(catalog, request, inventory)
    core = _CoreMap(build_problem(catalog, req, inv, policy or Policy())) if score else None
    best: LegalPair | None = None
    legal = 0
    disagreements: list[str] = []
    for pair, problem in _legal_pairs(catalog, req, inv, core, deadline):
        legal += 1
        if problem is not None and len(disagreements) < 20:
            disagreements.append(problem)
        if best is None or (pair.key is not None and (best.key is None or pair.key > best.key)):
            best = pair
    return ReferenceResult(feasible=legal > 0, best=best, legal=legal,
                           runtimes=sum(1 for _ in enumerate_runtimes(catalog, req)),
                           slots=len(reference_slots(catalog, req, inv)), disagreements=tuple(disagreements))


def brute_force_batch(catalog: Catalog, requests: list[ModelRequest | Mapping[str, Any]],
                      inventory: Inventory | Mapping[str, Any], *, policy: Policy | None = None,
                      quotas: Mapping[str, int] | None = None) -> tuple[int, ...]:
    """The best batch objective (placed, per-term sums) over *every* assignment of requests to slots.

    `quotas`: per cluster, the most GPUs the assignment may use there.

    Per request and slot the runtime is the slot's best legal one (by the core's key); its terms
    come from the core's `Problem.terms`. Exponential: for a handful of requests and slots only.
    """
    pol = policy or Policy()
    reqs = [_parse(catalog, r, None)[0] for r in requests]
    inv = _parse(catalog, {}, inventory)[1]
    assert inv is not None
    options: list[list[tuple[tuple[str | None, str | None, str | None], int, tuple[int, ...]]]] = []
    for req in reqs:
        problem = build_problem(catalog, req, inv, pol)
        core = _CoreMap(problem)
        best: dict[tuple[str | None, str | None, str | None], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for pair, _ in _legal_pairs(catalog, req, inv, core):
            if pair.key is None:
                continue
            where = (pair.slot.node, pair.slot.product, pair.slot.mig_profile)
            cand = core.cands[pair.runtime]
            group = core.groups[(pair.slot.node, pair.slot.product, pair.slot.mig_profile)]
            terms = problem.terms(cand, group)
            if where not in best or pair.key > best[where][0]:
                best[where] = (pair.key, tuple(terms[t] for t in pol.order))
        options.append([(w, req.gpu_count, t) for w, (_, t) in sorted(best.items(), key=lambda kv: str(kv[0]))])
    gpu_slots = slots_of(catalog, inv, gpu=True)
    free = {(s.node, s.product, s.mig_profile): s.free for s in gpu_slots}
    cluster = {(s.node, s.product, s.mig_profile): s.cluster for s in gpu_slots}
    quota = dict(quotas or {})
    top: tuple[int, ...] = (0,) * (len(pol.order) + 1)
    for combo in itertools.product(*[[None, *opts] for opts in options]):
        used: dict[tuple[str | None, str | None, str | None], int] = {}
        for o in combo:
            if o is not None and o[1]:
                used[o[0]] = used.get(o[0], 0) + o[1]
        if any(n > free.get(w, 0) for w, n in used.items()):
            continue
        in_cluster: dict[str | None, int] = {}
        for w, n in used.items():
            in_cluster[cluster.get(w)] = in_cluster.get(cluster.get(w), 0) + n
        if any(c in quota and n > quota[c] for c, n in in_cluster.items()):
            continue
        chosen = [o for o in combo if o is not None]
        value = (len(chosen), *(sum(o[2][t] for o in chosen) for t in range(len(pol.order))))
        top = max(top, value)
    return top
