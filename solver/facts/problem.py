"""One selection problem: the facts of (catalog, request, inventory or planning, policy).

`Problem` is what both engines (`fast.py`, `solve.py`), the explainer and the independent
checks consume: the request-filtered runtime candidates, the node groups with their node
checks, memoised pair verdicts, and the objective terms of every (candidate, group) pair.
Everything request-only is cached per request, and pair verdicts per (candidate table, target)
across requests, in the `CatalogIndex` of the catalog revision; node groups and their tables in
the `FleetIndex` of the inventory. Both are passed in (`index=`), which is what makes repeated
selections cheap; without one, a fresh index serves this problem alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from packaging.version import InvalidVersion, Version

from catalog import Catalog
from catalog.compat import Check
from solver.facts.candidates import STRICT, Candidate, Target, cached_match, cached_weight, candidates_for
from solver.facts.groups import NodeGroup, node_checks, planning_driver, planning_groups
from solver.facts.table import group_table
from solver.index.catalog_index import CatalogIndex
from solver.index.fleet_index import FleetIndex
from solver.inputs.inventory import Inventory
from solver.inputs.policy import Policy
from solver.inputs.request import ModelRequest
from solver.rules.definitions import candidate_failures
from solver.rules.filters import table_columns
from solver.rules.verdicts import verdict_bytes

if TYPE_CHECKING:
    from solver.engines.fast import RowScores

__all__ = ["Problem", "RequestFacts", "build_problem", "candidate_table", "indexes", "lex_weights", "request_facts"]

log = logging.getLogger(__name__)
UNKNOWN_MEMORY_WASTE = 1 << 30


def _extra_kinds(request: ModelRequest) -> frozenset[str]:
    # a strict request gets its own candidate table: its pair rules refuse PTX on an unrecorded toolkit
    strict = {STRICT} if request.strict else set()
    if request.framework != "none":
        return frozenset(strict)  # a framework runtime has cuDNN exactly when its build bundles or needs it
    kinds = set(strict)
    if request.python is not None or request.required("python") is not None:
        kinds.add("python")
    if request.required("cudnn") is not None:
        kinds.add("cudnn")
    return frozenset(kinds)


@dataclass(eq=False)
class RequestFacts:
    """Request-only facts, cached per request in the catalog index."""

    index: CatalogIndex
    catalog: Catalog
    request: ModelRequest
    table_key: tuple
    all_candidates: tuple[Candidate, ...]
    ok_mask: np.ndarray             # per candidate of the table: no request rule rejects it
    newest_rank: dict[int, int]
    rule_bits: np.ndarray           # per candidate: filters.RULE_BITS of the rules rejecting it (0: none)
    kept_index: np.ndarray          # indices of `candidates`, in their order
    _filtered: dict[int, tuple[Check, ...]] | None = None
    _failures: dict[int, tuple[Check, ...]] = field(default_factory=dict)
    _feasible: dict[Target, tuple[Candidate, ...]] = field(default_factory=dict)
    best_memo: dict[tuple, Candidate | None] = field(default_factory=dict)
    rule_memo: dict[tuple, object] = field(default_factory=dict)   # request-rule verdicts on values
    _rank_array: np.ndarray | None = None
    _candidates: tuple[Candidate, ...] | None = None

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The candidates no request rule rejects, by (newest rank, index) (built on first use)."""
        if self._candidates is None:
            self._candidates = tuple(map(self.all_candidates.__getitem__, self.kept_index.tolist()))
        return self._candidates

    @property
    def rank_array(self) -> np.ndarray:
        """`newest_rank` as an array indexed by candidate index."""
        if self._rank_array is None:
            arr = np.zeros(len(self.all_candidates), dtype=np.int64)
            for i, r in self.newest_rank.items():
                arr[i] = r
            self._rank_array = arr
        return self._rank_array

    @property
    def filtered(self) -> dict[int, tuple[Check, ...]]:
        """{candidate index: the request rules rejecting it} (messages built on first use)."""
        if self._filtered is None:
            self._filtered = {i: self.failures_of(i) for i in np.flatnonzero(~self.ok_mask).tolist()}
        return self._filtered

    def failures_of(self, index: int) -> tuple[Check, ...]:
        """The request rules rejecting candidate `index`, with messages (built once, on demand)."""
        if self.ok_mask[index]:
            return ()
        found = self._failures.get(index)
        if found is None:
            found = self._failures.setdefault(
                index, candidate_failures(self.catalog, self.request, self.all_candidates[index], self.rule_memo))
        return found

    def verdicts(self, target: Target) -> bytes:
        """One byte per candidate of the table: 1 when the pair rules accept it on `target`."""
        table = self.index.verdicts.get(self.table_key)
        if table is None:
            table = self.index.verdicts.setdefault(self.table_key, {})
        found = table.get(target)
        if found is None:
            found = table.setdefault(target, verdict_bytes(self.index, self.table_key, self.all_candidates, target))
        return found

    def feasible_on(self, target: Target) -> tuple[Candidate, ...]:
        found = self._feasible.get(target)
        if found is None:
            ok = self.verdicts(target)
            found = self._feasible.setdefault(target, tuple(c for c in self.candidates if ok[c.index]))
        return found


def candidate_table(ix: CatalogIndex, framework: str, gpu: bool, extra: frozenset[str]) -> tuple[Candidate, ...]:
    """The runtime candidates of (framework, GPU or CPU, extra kinds), once per catalog index."""
    key = (framework, gpu, extra)
    found = ix.candidates.get(key)
    if found is None:
        found = ix.candidates.setdefault(key, candidates_for(ix.catalog, framework, gpu, extra))
    return found


def request_facts(index: CatalogIndex | Catalog, request: ModelRequest) -> RequestFacts:
    """The request-only facts of `request` (kept per request in the catalog index)."""
    ix = index if isinstance(index, CatalogIndex) else CatalogIndex(index)
    return ix.request_facts(request, lambda: _request_facts(ix, request))


def _request_facts(ix: CatalogIndex, request: ModelRequest) -> RequestFacts:
    catalog = ix.catalog
    extra = _extra_kinds(request)
    table = candidate_table(ix, request.framework, request.uses_gpu, extra)
    table_key = (catalog.revision, request.framework, request.uses_gpu, extra)
    cols = table_columns(ix, table_key, table)
    bits = cols.request_rule_bits(request)
    ok = bits == 0
    kept_index = cols.by_rank[ok[cols.by_rank]]    # by (newest rank, index)
    return RequestFacts(index=ix, catalog=catalog, request=request, table_key=table_key, all_candidates=table,
                        ok_mask=ok, newest_rank=cols.newest_rank, rule_bits=bits,
                        kept_index=kept_index, _rank_array=cols.rank)


def _parse_cached(entries: frozenset[str]) -> tuple[tuple[str, Version | None], ...]:
    out = []
    for e in sorted(entries):
        kind, _, version = e.partition("/")
        try:
            out.append((kind.strip().lower(), Version(version.strip())))
        except InvalidVersion:
            out.append((kind.strip().lower(), None))
    return tuple(out)


class Problem:
    """The facts of one selection (see docs/solver-internals.md)."""

    def __init__(self, index: CatalogIndex, request: ModelRequest, fleet: FleetIndex | None,
                 policy: Policy) -> None:
        catalog = index.catalog
        self.index = index
        self.fleet = fleet
        self.catalog = catalog
        self.request = request
        self.inventory = inventory = fleet.inventory if fleet is not None else None
        self.policy = policy
        self.planning = inventory is None
        self.facts = request_facts(index, request)
        self.all_candidates = self.facts.all_candidates
        label_keys = tuple(sorted({k for k, _ in policy.prefer_labels}))
        if inventory is None:
            if request.uses_gpu:
                base = planning_groups(catalog, request)
            else:
                # CPU-only planning: one host per allowed arch; identical answers are reported once.
                allowed = request.arch or ("x86_64", "aarch64")
                base = tuple(NodeGroup(index=i, nodes=(), cluster=None, labels=(), arch=a,
                                       driver=planning_driver(catalog), target=Target(platform=a), gpu_product=None,
                                       gpu_id=None, memory_mib=None, count=0, free=0, cached=frozenset())
                             for i, a in enumerate(allowed))
            self.node_rank: dict[str, int] = {}
            self.table = group_table(base, self.node_rank, True)
        else:
            assert fleet is not None
            base = fleet.groups(request.uses_gpu, label_keys)
            self.node_rank = fleet.node_rank
            self.table = fleet.table(request.uses_gpu, label_keys)
        self.base_groups = base
        self._groups: tuple[NodeGroup, ...] | None = None
        self._cached_memo: dict[tuple[int, frozenset[str]], int] = {}
        self._parsed_cache: dict[frozenset[str], tuple] = {}
        self._component_hits: dict[frozenset[str], dict] = {}
        cand_terms = [t for t in policy.order if t in ("cached", "newest")]
        self._cand_order = tuple(cand_terms)
        self._scores: RowScores | None = None

    def scores(self) -> RowScores:
        """The fast engine's per-group columns (mask, best runtime, terms), built once per problem:
        the fast engine and the rejection tallies read the same ones."""
        if self._scores is None:
            from solver.engines.fast import RowScores

            self._scores = RowScores(self)
        return self._scores

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        """The request-filtered candidates, by (newest rank, index)."""
        return self.facts.candidates

    @property
    def filtered(self) -> dict[int, tuple[Check, ...]]:
        """{candidate index: request-rule failures} of the candidates the request filters remove."""
        return self.facts.filtered

    @property
    def groups(self) -> tuple[NodeGroup, ...]:
        """Every node group with its node checks (built on first use; the fast path avoids it)."""
        if self._groups is None:
            self._groups = tuple(replace(g, node_checks=node_checks(self.index, self.request, g))
                                 for g in self.base_groups)
        return self._groups

    # -- feasibility ------------------------------------------------------------------------
    def open_groups(self) -> list[NodeGroup]:
        return [g for g in self.groups if not g.node_checks]

    def feasible_candidates(self, group: NodeGroup) -> tuple[Candidate, ...]:
        if group.node_checks:
            return ()
        return self.facts.feasible_on(group.target)

    def feasible(self, cand: Candidate, group: NodeGroup) -> bool:
        return (not group.node_checks and bool(self.facts.ok_mask[cand.index])
                and bool(self.facts.verdicts(group.target)[cand.index]))

    def pairs(self) -> Iterator[tuple[Candidate, NodeGroup]]:
        for g in self.open_groups():
            for c in self.feasible_candidates(g):
                yield c, g

    # -- objective ----------------------------------------------------------------------------
    def cached_bytes(self, cand: Candidate, group: NodeGroup) -> int:
        return self.cached_bytes_for(cand, group.cached)

    def cached_bytes_for(self, cand: Candidate, cached: frozenset[str]) -> int:
        """Bytes of `cand`'s components already present in a node's cached set."""
        if not cached:
            return 0
        memo_key = (cand.index, cached)
        found = self._cached_memo.get(memo_key)
        cid = self.table.cached_index.get(cached)
        if found is None and cid is not None:  # a cached set of the fleet: the precomputed signatures
            from solver.index.cached import cached_index

            idx = cached_index(self.table, self.facts, self.policy.cached_min_bytes)
            found = int(idx.cb_sig[cid, idx.sig_of[cand.index]])
            self._cached_memo[memo_key] = found
        if found is None:
            parsed = self._parsed_cache.get(cached)
            if parsed is None:
                parsed = self._parsed_cache[cached] = _parse_cached(cached)
            hits = self._component_hits.setdefault(cached, {})
            found = 0
            for comp in cand.components:
                hit = hits.get(comp)
                if hit is None:
                    hit = hits[comp] = any(cached_match(comp, p) for p in parsed)
                if hit:
                    found += cached_weight(comp.size_bytes, self.policy.cached_min_bytes)
            self._cached_memo[memo_key] = found
        return found

    def group_terms(self, group: NodeGroup) -> dict[str, int]:
        req = self.request
        fit = 0
        if req.uses_gpu:
            # unknown memory ranks below every known size (UNKNOWN_MEMORY_WASTE MiB wasted)
            mem = group.memory_mib if group.memory_mib is not None else UNKNOWN_MEMORY_WASTE + req.min_memory_mib
            fit = -(mem - req.min_memory_mib) * req.gpu_count
        pref = 0
        pol = self.policy
        if group.cluster is not None and group.cluster in pol.prefer_clusters:
            pref += (len(pol.prefer_clusters) - pol.prefer_clusters.index(group.cluster)) * (len(pol.prefer_labels) + 1)
        labels = dict(group.labels)
        pref += sum(1 for k, v in pol.prefer_labels if labels.get(k) == v)
        return {"fit": fit, "gpus": -(group.free - req.gpu_count), "preference": pref}

    def terms(self, cand: Candidate, group: NodeGroup) -> dict[str, int]:
        out = self.group_terms(group)
        out["cached"] = self.cached_bytes(cand, group)
        out["newest"] = -self.facts.newest_rank[cand.index]
        return out

    def rank_of(self, group: NodeGroup, node: str | None = None) -> int:
        if self.planning:
            return group.index
        return self.node_rank[node if node is not None else group.nodes[0]]

    def key(self, cand: Candidate, group: NodeGroup, node: str | None = None) -> tuple[int, ...]:
        """Lexicographic objective key (bigger is better): policy terms, then the tie-breaks."""
        t = self.terms(cand, group)
        return (*(t[name] for name in self.policy.order), -self.rank_of(group, node), -cand.index)

    def candidate_key(self, cand: Candidate, group: NodeGroup) -> tuple[int, ...]:
        """The candidate-dependent part of `key` (same order), for choosing within one group."""
        return self.candidate_key_for(cand, group.cached)

    def candidate_key_for(self, cand: Candidate, cached: frozenset[str]) -> tuple[int, ...]:
        parts = []
        for name in self._cand_order:
            parts.append(self.cached_bytes_for(cand, cached) if name == "cached"
                         else -self.facts.newest_rank[cand.index])
        return (*parts, -cand.index)


def indexes(catalog: Catalog, inventory: Inventory | None,
            index: CatalogIndex | FleetIndex | None) -> tuple[CatalogIndex, FleetIndex | None]:
    """The (catalog index, fleet index or None in planning mode) to solve with.

    `index` is what the caller keeps across selections: a `FleetIndex` of this inventory, or a
    `CatalogIndex` of this catalog (the fleet index is then built for this call), or None (both
    are built for this call). An index of another catalog or inventory is refused.
    """
    if isinstance(index, FleetIndex):
        if inventory is not None and index.inventory is not inventory:
            raise ValueError("the fleet index was built for another inventory")
        cix = index.index
        fleet: FleetIndex | None = index if inventory is not None else None
    else:
        cix = index if index is not None else CatalogIndex(catalog)
        fleet = FleetIndex(cix, inventory) if inventory is not None else None
    if cix.catalog is not catalog:
        raise ValueError("the index was built for another catalog")
    return cix, fleet


def build_problem(catalog: Catalog, request: ModelRequest, inventory: Inventory | None = None,
                  policy: Policy | None = None, *, index: CatalogIndex | FleetIndex | None = None) -> Problem:
    cix, fleet = indexes(catalog, inventory, index)
    problem = Problem(cix, request, fleet, policy or Policy())
    log.debug("problem: %d/%d candidates after request filters, %d node groups", len(problem.facts.kept_index),
              len(problem.all_candidates), len(problem.base_groups))
    return problem


def lex_weights(columns: list[list[int]]) -> list[int]:
    """Integer weights w such that sum(w[i] * term_i) orders pairs like the lexicographic key.

    `columns[i]` holds term i's values over all pairs (first = most important). Each term is
    weighted by the product of the value spans of the terms after it (mixed radix).
    """
    weights = [0] * len(columns)
    w = 1
    for i in range(len(columns) - 1, -1, -1):
        weights[i] = w
        col = columns[i]
        span = (max(col) - min(col) + 1) if col else 1
        w *= span
    return weights
