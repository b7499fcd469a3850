"""`--why-not NODE`: every rule judged for one node, each verdict with the records it rests on.

The solver proper stops at the first rule that rejects a pair and explains a failure with the
smallest set of rules; a user asking about *one* node wants the opposite: every rule, passed or
failed, for that node. The node is solved alone (so the answer is exactly what `select` would do
with an inventory of that node), and the rules are judged for the runtime that answer chose — or,
when nothing fits, for the newest runtime the request accepts (the one a user most likely
expected). Rules come from the same functions the solver uses (`catalog.compat`, `rules`,
`groups.node_checks`), so a verdict here can never disagree with a refusal there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalog import Catalog
from catalog.compat import (
    Check,
    binary_path,
    check_cudnn_driver,
    check_cudnn_gpu,
    check_driver,
    check_driver_window,
    check_kernels,
    check_platform,
    check_precision,
    check_ptx_verified,
    check_toolkit_arch,
    driver_cuda,
)
from solver.errors import InvalidInventory
from solver.facts.candidates import Candidate
from solver.facts.groups import NodeGroup, node_checks
from solver.index.catalog_index import CatalogIndex
from solver.index.fleet_index import FleetIndex
from solver.inputs.inventory import Inventory, parse_inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest, parse_request
from solver.rules.definitions import candidate_failures

__all__ = ["why_not"]

# The name a passing check reports -> the rule it passed (the name a failure would carry).
_RULE_OF = {"platform": "platform-mismatch", "kernels": "no-kernel-for-gpu", "toolkit-arch": "toolkit-drops-arch",
            "cudnn": "cudnn-no-gpu-support", "driver": "driver-too-old", "cudnn-driver": "driver-too-old",
            "precision": "precision-unsupported", "components": "no-component"}


def _verdict(cat: Catalog, ch: Check, scope: str) -> dict[str, Any]:
    return {"rule": _RULE_OF.get(ch.rule, ch.rule), "scope": scope, "ok": ch.ok, "message": ch.message,
            "component": ch.component, "need": ch.need, "have": ch.have, "records": list(ch.records),
            "sources": [{"id": s, "doc": cat.sources[s].doc, "url": cat.sources[s].url}
                        for s in ch.sources if s in cat.sources]}


def _node_verdicts(ix: CatalogIndex, request: ModelRequest, g: NodeGroup) -> list[Check]:
    failed = {c.rule: c for c in node_checks(ix, request, g)}
    where = f"node {g.representative}"
    out: list[Check] = []
    allowed = ", ".join(request.arch) if request.arch else "any"
    out.append(failed.get("arch-not-allowed") or Check("arch-not-allowed", True,
               f"{where} is {g.arch}; the request allows {allowed}", component="arch", need=allowed, have=g.arch))
    if not request.uses_gpu:
        return out
    if "no-gpu" in failed:
        return [*out, failed["no-gpu"]]
    out.append(Check("no-gpu", True, f"{where} has {g.count} x {g.gpu_product}", component="gpu",
                     need=f"{request.gpu_count} GPU(s)", have=f"{g.count} x {g.gpu_product}"))
    mem = f"{g.memory_mib} MiB" if g.memory_mib is not None else "unknown memory"
    needs = f"the model needs {request.min_gpu_memory_gib:g} GiB per GPU" if request.min_memory_mib else \
        "the request sets no memory minimum"
    out.append(failed.get("gpu-memory") or Check(
        "gpu-memory", True, f"{g.gpu_product} has {mem}; {needs}", component="gpu",
        need=f"{request.min_memory_mib} MiB per GPU", have=mem))
    out.append(failed.get("gpu-count") or Check(
        "gpu-count", True, f"{where} has {g.count} x {g.gpu_product}; the model needs {request.gpu_count}",
        component="gpu", need=f"{request.gpu_count} GPU(s)", have=f"{g.count} GPU(s)"))
    if "gpu-count" not in failed:
        out.append(failed.get("no-free-gpu") or Check(
            "no-free-gpu", True, f"{where} has {g.free} of {g.count} free; the model needs {request.gpu_count}",
            component="gpu", need=f"{request.gpu_count} free GPU(s)", have=f"{g.free} free"))
    return out


def _runtime_verdicts(cat: Catalog, request: ModelRequest, cand: Candidate, g: NodeGroup) -> list[Check]:
    out: list[Check] = list(candidate_failures(cat, request, cand))
    if not out:
        asked = [f"{k} {v}" for k, v in (("framework_version", request.framework_version),
                                          ("python", request.python)) if v is not None]
        asked += [f"requires.{k} {v}" for k, v in request.requires]
        rt = ", ".join(f"{k} {v}" for k, v in cand.runtime().items())
        out.append(Check("request", True, f"runtime {rt} is within the request ({'; '.join(asked) or 'no ranges'})",
                         cand.build.sources if cand.build else (), component=cand.framework,
                         records=(cand.build.release.id,) if cand.build else ()))
    t = g.target
    ref = cand.build
    if ref is not None:
        out.append(check_platform(ref, t.platform))
    if t.cc is None or not cand.gpu:
        return out
    prec = check_precision(cat, request.precision, t.cc)
    out.append(prec)
    if t.driver is not None:
        window = check_driver_window(cat, t.cc, t.driver, node=g.representative or "")
        out.append(window if not window.ok else Check("driver-window", True, window.message, window.sources,
                                                      component="driver", need="a driver branch that supports "
                                                      "this GPU", have=str(t.driver), records=window.records))
    path = "ptx"
    if ref is not None:
        out.append(check_kernels(cat, ref, t.cc))
        path = binary_path(ref.build, t.cc) or "ptx"
        if cand.strict:
            out.append(check_ptx_verified(cat, ref, cand.cuda, t.cc))
    if cand.cuda is not None:
        out.append(check_toolkit_arch(cat, cand.cuda, t.cc))
        if cand.cudnn is not None and cand.cudnn_ccs is not None:
            out.append(check_cudnn_gpu(cat, cand.cudnn, cand.cuda, t.cc, by=cand.label or ""))
        # the driver JIT-compiles PTX only of a toolkit it supports: the build's toolkit may count (pair rules)
        dcuda = driver_cuda(cat, ref.build if ref is not None else None, cand.cuda, path)  # type: ignore[arg-type]
        out.append(check_driver(cat, dcuda, t.driver, path, node=g.representative or ""))  # type: ignore[arg-type]
        if cand.cudnn is not None and cand.cudnn_min_driver is not None and t.driver is not None:
            out.append(check_cudnn_driver(cat, cand.cudnn, cand.cuda, t.driver))
    return out


def _runtime_to_judge(catalog: Catalog, request: ModelRequest, inventory: Inventory, problem: Any, policy: Policy,
                      index: CatalogIndex | FleetIndex) -> tuple[Candidate | None, str]:
    """(the runtime whose rules `why_not` shows, why that one): see `why_not`."""
    from solver.engines.fast import solve_fast
    from solver.select import select

    best = solve_fast(problem, 1)
    if best:
        return problem.all_candidates[best[0].candidate], "the runtime this node would run"
    if len(inventory.nodes) > 1:
        whole = select(catalog, request, inventory, policy=policy, index=index)
        choice = whole.choice
        if whole.feasible and choice is not None:
            same = [c for c in problem.all_candidates if c.runtime() == choice.runtime_map]
            if same:
                return same[0], f"the runtime the answer chose (on {choice.node})"
    kept = [problem.all_candidates[int(i)] for i in problem.facts.kept_index]
    for g in problem.base_groups:
        fits = problem.facts.feasible_on(g.target) if g.target.cc is not None or not request.uses_gpu else ()
        if fits:
            return fits[0], "the newest runtime the request accepts that runs on this node's GPU and driver"
    if kept:
        return kept[0], "the newest runtime the request accepts (none runs on this node's GPU and driver)"
    if problem.all_candidates:
        return min(problem.all_candidates, key=lambda c: (problem.facts.newest_rank[c.index], c.index)), \
            "the newest runtime of the framework (the request accepts none)"
    return None, "no runtime of the framework in the catalog"


def why_not(catalog: Catalog, request: ModelRequest | Mapping[str, Any], inventory: Inventory | Mapping[str, Any]
            | list[Any], node: str, *, policy: Policy | None = None,
            index: CatalogIndex | None = None, fleet: FleetIndex | None = None) -> dict[str, Any]:
    """{"node", "usable", "answer", "runtime", "verdicts": [...]} for one node of `inventory`.

    `index`: the caller's `CatalogIndex` of `catalog` (a service keeps one per revision); without
    one, a fresh index serves this call alone. `fleet`: the caller's `FleetIndex` of `inventory`
    under that index, if it keeps one (used to find the runtime the whole fleet's answer chose).

    The runtime whose rules are shown (`runtime_judged` says which and why): the one the node
    would run, when it is usable; else the one the answer for the whole inventory chose (what the
    user compares the node with); else the newest the request accepts that runs on this node's
    GPU and driver; else the newest the request accepts."""
    from solver.facts.problem import build_problem
    from solver.select import select

    if not isinstance(request, ModelRequest):
        request = parse_request(request)
    if not isinstance(inventory, Inventory):
        inventory = parse_inventory(inventory)
    found = inventory.node(node)
    if found is None:
        names = [n.name for n in inventory.nodes]
        import difflib

        near = [n for n in names if node.lower() in n.lower() or n.lower() in node.lower()][:5] or \
            difflib.get_close_matches(node, names, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else (f"; nodes: {', '.join(names[:10])}"
                                                                   + (" ..." if len(names) > 10 else ""))
        raise InvalidInventory("why_not", f"no node named {node!r} in the inventory{hint}")
    one = Inventory(nodes=(found,))
    policy = policy or Policy()
    ix = fleet.index if fleet is not None else index if index is not None else CatalogIndex(catalog)
    answer = select(catalog, request, one, policy=policy, index=ix)
    problem = build_problem(catalog, request, one, policy, index=ix)
    cand, judged = _runtime_to_judge(catalog, request, inventory, problem, policy, fleet if fleet is not None else ix)
    verdicts: list[dict[str, Any]] = []
    for g in problem.base_groups:
        verdicts.extend(_verdict(catalog, ch, "node") for ch in _node_verdicts(ix, request, g))
        if cand is not None:
            verdicts.extend(_verdict(catalog, ch, "runtime") for ch in _runtime_verdicts(catalog, request, cand, g))
    if cand is None:
        verdicts.append({"rule": "no-candidate", "scope": "request", "ok": False,
                         "message": f"the catalog has no build of {request.framework} for this kind of runtime",
                         "component": request.framework, "need": "", "have": "", "records": [], "sources": []})
    return {"node": node, "usable": answer.feasible, "runtime": cand.runtime() if cand is not None else None,
            "runtime_judged": judged,
            "verdicts": verdicts, "answer": answer.to_dict()}
