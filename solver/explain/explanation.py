"""Explanations: why this choice, or — only on failure — which rules conflict and what would fix it.

Failure pass: every (candidate, node group) pair of the problem, including the candidates the
request filters removed and the groups node rules closed, gets the set of rules that reject it.
The distinct failure rule sets come from `failsets.py`. The smallest set of rules that rejects
*every* pair (a minimum unsatisfiable core in this encoding) is found with CP-SAT: one Boolean
per rule, one clause per distinct failure set, minimise the number of rules (then prefer rules
declared earlier). When that optimum is small and unique it is found by enumeration instead,
without a solver call (a test holds the two equal). Each rule of the core is rendered with the
catalog's own `Check` messages (component, versions, record, source), built only for the
core's rules. Suggestions come from relaxing a core rule (or
two) and re-checking: only relaxations that make some pair legal are suggested. Per-node
rejection tallies ("12 nodes: driver too old") accompany both answers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from packaging.version import Version

from catalog.compat import (
    Check,
    binary_path,
    check_driver,
    check_kernels,
    check_needs_components,
    check_toolkit_arch,
    driver_cuda,
)
from catalog.versions import spec_allows
from solver.explain.failsets import FailureSets, failure_sets
from solver.facts.candidates import Candidate, Target
from solver.facts.groups import NodeGroup
from solver.facts.problem import Problem
from solver.result import Assignment, Conflict, ConflictDetail
from solver.rules.definitions import PHRASES, RULES
from solver.rules.pair import pair_failure_rules_many, table_signatures

__all__ = ["FailureExplanation", "explain_choice", "explain_failure", "node_rejections", "rejection_tallies",
           "rejections"]

_RULE_ORDER = {name: i for i, name in enumerate(RULES)}


@dataclass(frozen=True)
class FailureExplanation:
    conflicts: tuple[Conflict, ...]
    suggestions: tuple[str, ...]
    core: tuple[str, ...]


def _nodes_text(nodes: list[str], limit: int = 3) -> str:
    shown = ", ".join(nodes[:limit])
    return shown + (f" (+{len(nodes) - limit} more)" if len(nodes) > limit else "")


def _group_label(g: NodeGroup) -> list[str]:
    return list(g.nodes) if g.nodes else [g.gpu_product or g.arch]


def _first_failures(problem: Problem, target: Target) -> np.ndarray:
    """Per candidate of the table: the code (`CatalogIndex.rule_code`) of the first pair rule rejecting it on
    `target` (-1: legal).

    Memoised per (candidate table, platform, CC, driver: what the pair rules read of a target);
    judged once per pair signature (`pairrules.pair_failure_rules_many`, as the failure sets are).
    """
    facts = problem.facts
    ix = problem.index
    key = (facts.table_key, target.platform, target.cc, target.driver)
    found = ix.first_failures.get(key)
    if found is None:
        sig_of, reps = table_signatures(ix, facts.table_key, facts.all_candidates)
        names = pair_failure_rules_many(ix, reps, target, facts.table_key)
        first = np.array([ix.rule_code(n[0]) if n else -1 for n in names], dtype=np.int16)
        found = ix.first_failures.setdefault(key, first[sig_of] if len(reps) else np.zeros(0, dtype=np.int16))
    return found


def _first_failure_matrix(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Target]]:
    """(first-failure code matrix: distinct (platform, CC, driver) of the table x candidate, with
    rows filled on demand; which rows are filled (set only after the row is written, so a thread
    never reads a row another is still writing); that row per table target; a target per row),
    per table."""
    t = problem.table
    key = ("first-failures", problem.facts.table_key)
    found = t.memo.get(key)
    if found is None:
        rows: dict[tuple, int] = {}
        row_of = np.array([rows.setdefault((tg.platform, tg.cc, tg.driver), len(rows)) for tg in t.targets],
                          dtype=np.int64)
        reps: dict[int, Target] = {}
        for tg, r in zip(t.targets, row_of.tolist(), strict=True):
            reps.setdefault(r, tg)
        matrix = np.full((len(rows), len(problem.all_candidates)), -2, dtype=np.int16)
        filled = np.zeros(len(rows), dtype=bool)
        found = t.memo.setdefault(key, (matrix, filled, row_of, [reps[r] for r in range(len(rows))]))
    return found


def _runtime_reasons(problem: Problem, tids: np.ndarray) -> list[str]:
    """Per table target id: the most common first failing rule of the request's first 200
    runtimes there (ties: the rule declared first in `rules.RULES`); the request's own rule when
    it keeps none."""
    if not len(problem.facts.kept_index):
        rejected = np.flatnonzero(~problem.facts.ok_mask)
        rule = problem.facts.failures_of(int(rejected[0]))[0].rule if len(rejected) else "no-candidate"
        return [rule] * len(tids)
    first = problem.facts.kept_index[:200]
    matrix, filled, row_of, reps = _first_failure_matrix(problem)
    rows, at = np.unique(row_of[tids], return_inverse=True)
    for r in rows[~filled[rows]].tolist() if matrix.shape[1] else []:
        matrix[r] = _first_failures(problem, reps[r])   # equal values if another thread writes it too
        filled[r] = True
    m = matrix[rows][:, first]
    names_of = problem.index.rule_names     # read after the rows: holds every code they use
    ncodes = len(names_of)
    hit = m >= 0
    counts = np.bincount(np.nonzero(hit)[0] * ncodes + m[hit], minlength=len(rows) * ncodes).reshape(-1, ncodes)
    # A build for another platform (the aarch64 wheels on an x86_64 node) says nothing about the
    # node: it is the reason only when no runtime of the node's own platform got further.
    if "platform-mismatch" in names_of:
        pm = names_of.index("platform-mismatch")
        other = counts.sum(axis=1) - counts[:, pm] > 0
        counts[other, pm] = 0
    best = counts.argmax(axis=1)
    some = counts.max(axis=1) > 0
    names = [names_of[b] if ok else "no-candidate" for b, ok in zip(best.tolist(), some.tolist(), strict=True)]
    return [names[i] for i in at.reshape(-1).tolist()]


def rejection_tallies(problem: Problem) -> list[str]:
    """["12 nodes: driver too old", "3 nodes: no free GPU"] — why nodes are not usable."""
    unit = "products" if problem.planning else "nodes"
    return [f"{n} {unit if n != 1 else unit[:-1]}: {phrase}" for _, n, _, phrase in _rejections(problem)]


def _phrase(problem: Problem, rule: str, nodes: Sequence[str]) -> str:
    """The tally phrase of `rule`; a GPU-memory tally that holds GPUs whose memory is not recorded
    says so (an NVIDIA A40 with no size in the catalog is not "short of" 20 GiB)."""
    if rule != "gpu-memory" or not nodes:
        return PHRASES.get(rule, rule)
    names = set(nodes)
    unknown = {n for g in problem.base_groups if g.memory_mib is None for n in _group_label(g) if n in names}
    if not unknown:
        return PHRASES[rule]
    return "GPU memory not recorded" if unknown >= names else "not enough GPU memory, or its size not recorded"


def rejections(problem: Problem) -> list[tuple[str, int, list[str]]]:
    """[(rule, how many nodes, which nodes)] — why nodes are not usable, most frequent first.

    Vectorised over the group table, in the order node checks are applied (arch, GPU presence,
    memory, count, free GPUs, precision/engine CC, then the runtime rules).
    """
    return [(rule, n, list(nodes)) for rule, n, nodes, _ in _rejections(problem)]


def _rejected(problem: Problem, rule: str, classes: np.ndarray) -> tuple[tuple[str, ...], str]:
    """The sorted names of the nodes in the node classes `classes` of the table (a group's label
    once per group row), and `rule`'s tally phrase for them (`_phrase`).

    Both depend on the table and the classes only, so they are memoised on the table (insert-only,
    keyed by value): a fleet-wide answer lists thousands of rejected nodes, and the selections
    that fail alike share one sorted list.
    """
    t = problem.table
    key = ("rejected-nodes", rule, classes.tobytes())
    found = t.memo.get(key)
    if found is None:
        groups = problem.base_groups
        rows = np.flatnonzero(np.isin(t.node_classes().class_of, classes)).tolist()
        names = sorted(itertools.chain.from_iterable(_group_label(groups[r]) for r in rows))
        found = t.memo.setdefault(key, (tuple(names), _phrase(problem, rule, names)))
    return found


def _rejections(problem: Problem) -> list[tuple[str, int, tuple[str, ...], str]]:
    """`rejections` with the nodes as the memoised tuple, and each rule's tally phrase."""
    from solver.engines.fast import target_rules

    scores = problem.scores()
    t = problem.table
    req = problem.request
    names: list[str] = []

    def code(rule: str) -> int:
        if rule not in names:
            names.append(rule)
        return names.index(rule)

    # Judged per class of rows alike for the node rules (target, arch, GPU count, free GPUs,
    # memory); a row is usable exactly when its class is (runtimes depend on the target only).
    cls = t.node_classes()
    target_id, arch_id, count, free, memory = cls.target_id, cls.arch_id, cls.count, cls.free, cls.memory
    usable = scores.mask[cls.rep_row]
    reason = np.full(len(target_id), -1, dtype=np.int64)
    node_ok = scores.arch_ok[arch_id] & scores.target_ok[target_id]
    if req.uses_gpu:
        node_ok &= (count >= req.gpu_count) & (free >= req.gpu_count)
        if req.min_memory_mib:
            node_ok &= memory >= req.min_memory_mib
    # per target, then gathered per class: the first rule that closes it, in the order applied
    no_runtime = node_ok & ~usable
    if no_runtime.any():
        tcode = np.full(len(t.targets), -1, dtype=np.int64)
        tids = np.unique(target_id[no_runtime])
        for tid, rule in zip(tids.tolist(), _runtime_reasons(problem, tids), strict=True):
            tcode[tid] = code(rule)
        reason = np.where(no_runtime, tcode[target_id], -1)
    closed = np.flatnonzero(~scores.target_ok)
    if len(closed):
        _, rules = target_rules(problem)
        tcode = np.full(len(t.targets), -1, dtype=np.int64)
        for tid in closed.tolist():
            tcode[tid] = code(rules[tid][0])
        rows = ~scores.target_ok[target_id]
        reason[rows] = tcode[target_id[rows]]
    if req.uses_gpu:
        reason[(count >= req.gpu_count) & (free < req.gpu_count)] = code("no-free-gpu")
        reason[count < req.gpu_count] = code("gpu-count")
        if req.min_memory_mib:
            reason[memory < req.min_memory_mib] = code("gpu-memory")
        no_gpu = t.memo.get("no-gpu")
        if no_gpu is None:
            no_gpu = t.memo.setdefault("no-gpu", np.array([tg.cc is None for tg in t.targets], dtype=bool))
        reason[no_gpu[target_id]] = code("no-gpu")
    reason[~scores.arch_ok[arch_id]] = code("arch-not-allowed")
    reason[usable] = -1
    hit = reason >= 0
    if not hit.any():
        return []
    counts = np.bincount(reason[hit], weights=cls.members[hit], minlength=len(names))
    items = sorted(((names[i], int(n), *_rejected(problem, names[i], np.flatnonzero(reason == i)))
                    for i, n in enumerate(counts) if n),
                   key=lambda kv: (-kv[1], _RULE_ORDER.get(kv[0], 99)))
    return items


def explain_choice(problem: Problem, choice: Assignment, total_units: int,
                   rejected: list[ConflictDetail] | None = None) -> list[str]:
    """Why this choice, in sentences; `rejected` (when given) receives the unusable nodes per rule."""
    cand = problem.all_candidates[choice.candidate]
    group = problem.base_groups[choice.group]
    runtime = ", ".join(f"{k} {v}" for k, v in choice.runtime)
    where = f"node {choice.node}" + (f" (cluster {choice.cluster})" if choice.cluster else "") if choice.node else \
        "hardware plan (no inventory)"
    gpu = f" with {choice.gpu.count} x {choice.gpu.product} (CC {choice.gpu.compute_capability})" if choice.gpu else ""
    lines = [f"chose {where}{gpu} and runtime {runtime}"]
    lines.extend(_gpu_topology(problem, choice, group))
    lines.extend(_why_pair(problem, cand, group))
    terms = problem.terms(cand, group)
    if terms["cached"]:
        lines.append(f"{terms['cached'] / 1e9:.1f} GB of the runtime is already cached on the node")
    rank = -terms["newest"]
    lines.append("newest compatible versions" if rank == 0 else
                 f"{rank} newer runtime combination(s) in the catalog are ruled out here by the request, this "
                 "node's GPU and driver, or a higher policy term (cached bytes)")
    lines.append(f"objective order: {', '.join(problem.policy.order)}, then node name")
    if problem.planning:
        lines.append("planning mode assumes a current NVIDIA driver (the newest minimum any catalog CUDA needs)")
    found = _rejections(problem)
    if found:
        unit = "products" if problem.planning else "nodes"
        parts = []
        for rule, n, nodes, phrase in found:
            tally = f"{n} {unit if n != 1 else unit[:-1]}: {phrase}"
            parts.append(f"{tally} ({_nodes_text(nodes, 5)})" if nodes else tally)
            if rejected is not None:
                rejected.append(ConflictDetail(tally, nodes=tuple(nodes), rule=rule))
        lines.append(f"not usable: {'; '.join(parts)}")
    return lines


def _gpu_topology(problem: Problem, choice: Assignment, group: NodeGroup) -> list[str]:
    """MIG device or multi-GPU interconnect of the chosen GPUs, with the catalog's source."""
    gpu = choice.gpu
    if gpu is None:
        return []
    if gpu.mig_profile is not None:
        mem = f" ({group.memory_mib} MiB)" if group.memory_mib is not None else ""
        return [f"runs on one MIG {gpu.mig_profile} device{mem} of a {gpu.product}: its own memory and SMs, "
                "isolated from the GPU's other MIG devices"]
    if gpu.count < 2:
        return []
    known = problem.catalog.gpu(gpu.product)
    if gpu.interconnect is not None and known is not None:
        cat = problem.catalog
        said = [s for s in known.sources if s in cat.sources and gpu.interconnect in cat.sources[s].doc.lower()]
        return [f"the {gpu.count} GPUs are on one node, connected by {gpu.interconnect.upper()} "
                f"(catalog {known.id}: {cat.cite(said or known.sources)})"]
    return [f"the {gpu.count} GPUs are on one node; the catalog records no NVLink for {gpu.product}, so "
            "expect PCIe bandwidth between them (tensor parallelism pays for it)"]


def _why_pair(problem: Problem, cand: Candidate, group: NodeGroup) -> list[str]:
    cat = problem.catalog
    t = group.target
    if t.cc is None or not cand.gpu:
        return [f"CPU-only runtime on {t.platform}"]
    out: list[str] = []
    path = "ptx"
    if cand.build is not None:
        out.append(check_kernels(cat, cand.build, t.cc).message)
        path = binary_path(cand.build.build, t.cc) or "ptx"
    if cand.cuda is not None:
        out.append(check_toolkit_arch(cat, cand.cuda, t.cc).message)
        dcuda = driver_cuda(cat, cand.build.build if cand.build is not None else None, cand.cuda, path)  # type: ignore[arg-type]
        out.append(check_driver(cat, dcuda, t.driver, path, node=group.representative or "").message)
    return out


# -- failure ------------------------------------------------------------------------------------

_ENUMERATE_LIMIT = 4000   # subsets tried by `_smallest_hitting_set` before it leaves the core to CP-SAT


def _smallest_hitting_set(rules: list[str], sets: list[frozenset[str]]) -> tuple[str, ...] | None:
    """The CP-SAT core's optimum found by enumeration, when it is small and *unique*: fewest
    rules, then the smallest sum of positions in `rules`. None when there is a tie at the
    optimum (CP-SAT's pick among equals is its own) or more than `_ENUMERATE_LIMIT` subsets
    would have to be tried."""
    bit = {r: 1 << i for i, r in enumerate(rules)}
    masks = sorted({sum(bit[r] for r in s) for s in sets}, key=lambda m: m.bit_count())
    minimal: list[int] = []             # a set containing another is hit whenever that one is
    for m in masks:
        if not any(m & k == k for k in minimal):
            minimal.append(m)
    tried = 0
    for size in range(1, len(rules) + 1):
        best: tuple[int, ...] | None = None
        tie = False
        for combo in itertools.combinations(range(len(rules)), size):
            tried += 1
            if tried > _ENUMERATE_LIMIT:
                return None
            m = sum(1 << i for i in combo)
            if all(k & m for k in minimal):
                if best is None or sum(combo) < sum(best):
                    best, tie = combo, False
                elif sum(combo) == sum(best):
                    tie = True
        if best is not None:
            return None if tie else tuple(rules[i] for i in best)
    return None


def _min_core(sets: list[frozenset[str]]) -> tuple[str, ...]:
    rules = sorted({r for s in sets for r in s}, key=lambda r: (_RULE_ORDER.get(r, 99), r))
    found = _smallest_hitting_set(rules, sets)
    if found is not None:
        return found
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    a = {r: model.NewBoolVar(r) for r in rules}
    for s in sets:
        model.AddBoolOr([a[r] for r in s])
    big = len(rules) ** 2 + 1  # fewest rules first; among equal counts, rules earlier in RULES
    model.Minimize(sum((big + i) * a[r] for i, r in enumerate(rules)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = 5.0
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return tuple(rules)
    return tuple(r for r in rules if solver.BooleanValue(a[r]))


def _cite_once(message: str, cited: set[str]) -> str:
    """Keep a message's full source citation the first time only; later ones keep the record id.

    Rule messages end in "(catalog: <record>; <document> <url>; ...)"; three refusals resting on
    the same record would otherwise repeat the same documents three times in one conflict.
    """
    at = message.find(" (catalog: ")
    if at < 0:
        return message
    citation = message[at:]
    if citation not in cited:
        cited.add(citation)
        return message
    record = citation[len(" (catalog: "):].split(";")[0].rstrip(")")
    return f"{message[:at]} (catalog: {record})"


def _conflict(fsets: FailureSets, rule: str) -> Conflict:
    """The sentence of one core rule: its distinct messages over the examples, with their nodes.

    Examples come from the failure sets holding `rule`, fewest rules first; examples whose
    runtime the request accepts speak about the hardware and come before request-filtered ones.
    """
    ok_mask = fsets.problem.facts.ok_mask.tolist()
    ordered = [fs for fs in sorted(fsets.sets, key=len) if rule in fs]
    per_group = RULES[rule].scope in ("node", "target") if rule in RULES else False
    messages: dict[str, dict[str, None]] = {}    # message -> nodes (an ordered set)
    checks_of: dict[str, Check] = {}             # message -> its check (structured fields)
    seen: set[tuple[str, int]] = set()   # (message, id of group): a group's nodes are added once

    def add(checks: tuple[Check, ...], g: NodeGroup) -> None:
        for ch in checks:
            checks_of.setdefault(ch.message, ch)
            node_set = messages.setdefault(ch.message, {})
            if (ch.message, id(g)) not in seen:
                seen.add((ch.message, id(g)))
                node_set.update(dict.fromkeys(_group_label(g)))

    if rule in RULES and RULES[rule].scope == "request":
        # The checks depend on the candidate only, every example's runtime is request-filtered
        # (no accepted pass) and no node is named: the distinct candidates, in order, suffice.
        seq: list[int] = []
        for fs in ordered:
            for chunk in fsets.sets[fs]:
                seq.extend(chunk.cands)
        for i in dict.fromkeys(seq):
            for ch in fsets.rule_checks(rule, i, chunk):
                checks_of.setdefault(ch.message, ch)
                messages.setdefault(ch.message, {})
        ordered = []
    for accepted in (True, False):
        for fs in ordered:
            for chunk in fsets.sets[fs]:
                picked = [i for i in chunk.cands if ok_mask[i] is accepted]
                if per_group:   # the same checks for every candidate of the chunk
                    if picked:
                        add(fsets.rule_checks(rule, picked[0], chunk), chunk.group)
                    continue
                g = chunk.group
                for i in picked:
                    for ch in fsets.rule_checks(rule, i, chunk):
                        if (ch.message, id(g)) not in seen:
                            add((ch,), g)
    texts = []
    cited: set[str] = set()
    for msg, node_set in list(messages.items())[:3]:
        nodes = list(node_set)
        msg = _cite_once(msg, cited)
        scope = RULES[rule].scope if rule in RULES else "pair"
        texts.append(msg if scope in ("request", "node") or not nodes else f"{msg} [{_nodes_text(nodes)}]")
    more = len(messages) - len(texts)
    # The text keeps three examples; the structured fields keep every one, never truncated.
    details = tuple(ConflictDetail(msg, checks_of[msg].component, checks_of[msg].need, checks_of[msg].have,
                                   tuple(node_set), tuple(checks_of[msg].records))
                    for msg, node_set in messages.items())
    first = details[0] if details else ConflictDetail("")
    return Conflict(rule, "; ".join(texts) + (f" (and {more} similar)" if more > 0 else ""),
                    component=first.component, need=first.need, have=first.have,
                    nodes=tuple(dict.fromkeys(n for d in details for n in d.nodes)),
                    records=tuple(dict.fromkeys(r for d in details for r in d.records)), details=details)


def node_rejections(problem: Problem, tallies: list[str] | None = None,
                    conflicts: Sequence[Conflict] = ()) -> Conflict:
    """The `node-rejections` conflict: the tally sentence, and per rule every node it closed.

    A rule that is also a conflict of its own lends its entry `component` and `records`, and its
    `need` and `have` when every refusal of that rule states the same ones (else they stay empty:
    the rule's own conflict lists them per refusal)."""
    found = rejections(problem)
    tallies = tallies if tallies is not None else rejection_tallies(problem)
    by_rule = {c.rule: c for c in conflicts}

    def detail(rule: str, nodes: list[str], text: str) -> ConflictDetail:
        own = by_rule.get(rule)
        if own is None:
            return ConflictDetail(text, nodes=tuple(nodes), rule=rule)
        same = len({(d.need, d.have) for d in own.details}) <= 1
        return ConflictDetail(text, own.component, own.need if same else "", own.have if same else "",
                              tuple(nodes), own.records, rule=rule)

    details = tuple(detail(rule, nodes, text) for (rule, _, nodes), text in zip(found, tallies, strict=True))
    return Conflict("node-rejections", "; ".join(tallies), component="node",
                    nodes=tuple(dict.fromkeys(n for _, _, ns in found for n in ns)), details=details)


def _cause_first(problem: Problem, core: tuple[str, ...], conflicts: list[Conflict]) -> list[Conflict]:
    """When the requested versions exist in the catalog, the cause is what stops *them*.

    Other versions being "outside the requested framework_version" is no cause then: the
    requested ones lack a build for the platform (another core rule says so), or their needs
    match no component record (no runtime could be formed: said here, from `compat`).
    """
    request = problem.request
    spec = request.framework_version
    if spec is None or "framework-version" not in core:
        return conflicts
    cat = problem.catalog
    wanted = [ref for ref in cat.builds(request.framework) if ref.build.gpu == request.uses_gpu
              and spec_allows(spec, Version(ref.label))]
    if not wanted:
        return conflicts   # the catalog has no such version: the range is the cause
    def key(ref):  # type: ignore[no-untyped-def]  # structural: candidates are cached per revision
        return ref.release.id, ref.label, ref.build.platforms

    formed = {key(c.build) for c in problem.all_candidates if c.build is not None}
    unformed = [ref for ref in wanted if key(ref) not in formed]
    platforms = {g.target.platform for g in problem.base_groups}
    no_build = "platform-mismatch" in core and not any(set(ref.build.platforms) & platforms for ref in wanted)
    if len(unformed) < len(wanted) and not no_build:
        return conflicts   # the requested builds exist here and fail on other rules: the range is part of the core
    out = [c for c in conflicts if c.rule != "framework-version"]
    if unformed and len(unformed) == len(wanted):
        seen: dict[str, None] = {}
        for ref in unformed:
            check = check_needs_components(cat, ref, None)
            msg = check.message if not check.ok else (
                f"{ref.framework} {ref.label}: no runtime can be formed from its needs "
                f"({', '.join(f'{k} {v}' for k, v in ref.build.needs.items())}) and the catalog's components")
            seen.setdefault(msg)
        more = len(seen) - 3
        out.insert(0, Conflict("no-component", "; ".join(list(seen)[:3]) + (f" (and {more} similar)" if more > 0 else "")))
    return out


def explain_failure(problem: Problem) -> FailureExplanation:
    if not problem.all_candidates:
        fw = problem.request.framework
        kind = "GPU" if problem.request.uses_gpu else "CPU-only"
        return FailureExplanation((Conflict("no-candidate", f"the catalog (revision {problem.catalog.revision[:12]}) "
                                           f"has no {kind} build of {fw}"),),
                                  (f"use a framework with a {kind} build in the catalog",), ("no-candidate",))
    if not problem.base_groups:
        return FailureExplanation((Conflict("no-nodes", "no node to choose from: the inventory is empty, or the "
                                            "request's where filter matched none of its nodes"),),
                                  ("add nodes to the inventory or widen the where filter (cluster, nodes, labels); "
                                   "or plan hardware without an inventory",), ("no-nodes",))
    fsets = failure_sets(problem)
    core = _min_core(list(fsets.sets))
    conflicts = _cause_first(problem, core, [_conflict(fsets, r) for r in core])
    # A conflict's examples come from the failure sets (a few per set); its `nodes` field lists
    # every node the rule closes (the rejection tally's nodes for that rule) as well.
    closed = {rule: nodes for rule, _, nodes in rejections(problem)}
    conflicts = [replace(c, nodes=tuple(dict.fromkeys((*c.nodes, *closed.get(c.rule, ())))))
                 if RULES.get(c.rule) is None or RULES[c.rule].scope != "request" else c for c in conflicts]
    tallies = rejection_tallies(problem)
    if tallies and not problem.planning:
        conflicts.append(node_rejections(problem, tallies, conflicts))
    from solver.explain.suggest import suggestions

    return FailureExplanation(tuple(conflicts), tuple(suggestions(problem, core, fsets)), core)
