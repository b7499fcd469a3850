"""Suggestions for an infeasible request, each verified by relaxing rules and re-checking.

A rule of the conflict core is *relaxed* by accepting every pair whose only failures are that
rule (or two core rules together). Only relaxations under which some pair becomes legal are
turned into sentences, specific to the rule: the driver to install on which nodes, the
framework versions and build to allow, the GPU to use (found by hardware planning), ...
"""

from __future__ import annotations

import itertools

from catalog.compat import Check
from catalog.versions import series
from solver.explain.failsets import FailureSets
from solver.facts.candidates import Candidate
from solver.facts.groups import NodeGroup
from solver.facts.problem import Problem
from solver.inputs.policy import Policy

__all__ = ["suggestions"]

_HARDWARE = {"precision-unsupported", "no-kernel-for-gpu", "toolkit-drops-arch", "cudnn-no-gpu-support",
             "platform-mismatch", "trt-engine-cc", "unknown-architecture", "gpu-memory", "no-gpu"}
Example = tuple[Candidate, NodeGroup, tuple[Check, ...]]


def _best(problem: Problem, examples: list[Example]) -> Example:
    return min(examples, key=lambda e: (problem.facts.newest_rank[e[0].index], e[0].index,
                                        e[1].nodes[0] if e[1].nodes else e[1].gpu_product or ""))


def _series_text(v) -> str:  # type: ignore[no-untyped-def]
    return ".".join(str(x) for x in series(v))


def _one(problem: Problem, rule: str, examples: list[Example]) -> str | None:
    req = problem.request
    best = _best(problem, examples)
    cand, group, checks = best
    check = next((c for c in checks if c.rule == rule), None)
    nodes = sorted({n for g in {id(e[1]): e[1] for e in examples}.values() for n in g.nodes})
    on = f" on {', '.join(nodes[:3])}{f' (+{len(nodes) - 3} more)' if len(nodes) > 3 else ''}" if nodes else ""
    if rule == "framework-version":
        oldest = min(examples, key=lambda e: (e[0].version, problem.facts.newest_rank[e[0].index]))[0]
        variant = oldest.build.build.variant if oldest.build is not None else None
        build = f" with a {variant} build" if variant else ""
        return (f"allow {oldest.framework} >= {_series_text(oldest.version)}{build} "
                f"(e.g. {oldest.framework} {best[0].label}), instead of {req.framework_version}")
    if rule == "python-version":
        return f"allow python {cand.python} (the request asks for {req.python})"
    if rule == "requires":
        parts = [f"{k} {cand.component_version(k)}" for k, _ in req.requires if cand.component_version(k) is not None]
        return f"relax requires: allow {', '.join(parts) or cand.label}"
    if rule in ("driver-too-old", "no-driver"):
        needs = [c.suggestion for _, _, chs in examples for c in chs if c.rule == rule and c.suggestion]
        drivers = sorted({s.rsplit(">= ", 1)[-1] for s in needs if ">= " in s})
        if rule == "no-driver" or not drivers:
            return f"install an NVIDIA driver{on}"
        from packaging.version import Version

        low = min(drivers, key=Version)
        return f"upgrade the driver{on} to >= {low} (for {cand.framework} {cand.label or cand.runtime()})"
    if rule == "no-free-gpu":
        # The node closest to fitting: how many more of its GPUs must be freed (not gpu_count).
        groups = sorted({id(e[1]): e[1] for e in examples}.values(),
                        key=lambda g: (req.gpu_count - g.free, g.nodes[0] if g.nodes else ""))
        g = groups[0]
        where = f" on {g.nodes[0]}" if g.nodes else ""
        return (f"free {req.gpu_count - g.free} more GPU(s){where} ({g.free} of {g.count} free; the model "
                f"needs {req.gpu_count}), or add capacity")
    if rule == "gpu-count":
        mig = sorted({e[1].mig_profile for e in examples if e[1].mig_profile is not None})
        hint = (f" (MIG devices{on} count as one GPU each: use {req.gpu_count} whole GPUs with MIG disabled)"
                if mig else "")
        return f"use a node with >= {req.gpu_count} GPUs of one product, or lower gpu_count{hint}"
    if rule == "precision-unsupported" and req.precision is not None:
        fmt = problem.catalog.numeric_format(req.precision)
        if fmt is not None and fmt.cc_allowed:
            ccs = ", ".join(str(c) for c in fmt.cc_allowed)
            return f"use a GPU with compute capability in [{ccs}] for {req.precision} ({fmt.id})"
        if fmt is not None and fmt.min_cc is not None:
            return f"use a GPU with compute capability >= {fmt.min_cc} for {req.precision} ({fmt.id})"
    if rule == "arch-not-allowed":
        return f"allow arch {group.arch} (nodes{on} are {group.arch})"
    if check is not None and check.suggestion:
        return check.suggestion + (on if rule not in _HARDWARE and rule not in ("opset-too-new",
                                                                              "trt-engine-version") else "")
    return None


def _planning_hint(problem: Problem) -> str | None:
    """Which catalog GPU products would run the request (hardware planning, newest driver)."""
    if problem.planning or not problem.request.uses_gpu:
        return None
    from solver.engines.fast import solve_fast
    from solver.facts.problem import build_problem

    plan = build_problem(problem.catalog, problem.request, None, index=problem.index,
                         policy=Policy(order=("newest", "fit", "cached", "gpus", "preference")))
    found = solve_fast(plan, top=3)
    if not found:
        return None
    names = ", ".join(f"{a.gpu.product} (CC {a.gpu.compute_capability})" for a in found if a.gpu)
    return f"use a GPU such as {names} (with a current driver)"


def suggestions(problem: Problem, core: tuple[str, ...], fsets: FailureSets) -> list[str]:
    out: list[str] = []
    hardware_needed = False
    for rule in core:
        examples = fsets.examples(frozenset({rule}))
        if not examples:
            continue
        text = _one(problem, rule, examples)
        if rule in _HARDWARE:
            hardware_needed = True
        if text and text not in out:
            out.append(text)
    if not out:
        for r1, r2 in itertools.combinations(core, 2):
            examples = fsets.examples(frozenset({r1, r2}))
            if examples:
                texts = [t for t in (_one(problem, r1, examples), _one(problem, r2, examples)) if t]
                if texts:
                    out.append(" and ".join(texts))
                    hardware_needed = hardware_needed or r1 in _HARDWARE or r2 in _HARDWARE
            if len(out) >= 3:
                break
    if hardware_needed or any(r in _HARDWARE for r in core):
        hint = _planning_hint(problem)
        if hint and hint not in out:
            out.append(hint)
    return out
