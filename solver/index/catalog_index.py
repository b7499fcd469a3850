"""The catalog index: everything the solver derives from one catalog revision, owned in one place.

Selections judge the same facts again and again: the runtime candidates of a framework, the
request-rule columns of a candidate table, the pair rules of a (candidate, target), the driver
a CUDA version needs. A `CatalogIndex` holds those answers for ONE catalog object. It is passed
explicitly (`select(..., index=...)`), shared by every thread that selects on that revision, and
freed with it: when the caller drops the index (a new catalog revision became active), every
fact derived from the old catalog goes too. Nothing is kept at module level and nothing is keyed
by `id()`.

Concurrency: every table here is *insert-only*. A value is a pure function of its key and the
catalog, so two threads that miss at once compute equal values and either insert wins; no entry
is ever removed while the index lives, so a reader can never find an entry gone between a check
and a use. The only bounded table (`request_facts`: one entry per distinct request) is an LRU
behind a lock, and a caller keeps the value it was handed. Numbering (pair signatures, rule
sets, rule codes) is assigned under the index's lock so two threads never give one number to
two keys. To bound memory under an unbounded stream of new targets, a caller replaces the whole
index (`size()` says how big it grew); readers holding the old one finish on it.

Warming (`warm`): the tables a fleet's first selections would fill (the candidate tables of every
framework family, their request-rule columns, and the pair-rule and verdict tables of each
target the fleet has) can be filled ahead of them, off the request path: the first steps of a
selection of `{"framework": f}` (its problem and runtime index) through the normal code path, on
a small fleet of one idle copy of a node per target not yet warm. (Explanations derive their
per-target columns from these on demand; an infeasible answer's suggestions judge GPU products
the fleet does not have: those stay on demand too.)
`warm_targets` records, per (framework, strict), the targets done, so a caller warms only what a
new inventory adds. Warming never changes an answer: every table it fills holds the value a
selection would have computed for the same key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from catalog import Catalog
from catalog.model import BuildRef

if TYPE_CHECKING:
    from solver.facts.candidates import Target
    from solver.facts.problem import RequestFacts
    from solver.index.fleet_index import FleetIndex
    from solver.inputs.inventory import Inventory, Node

__all__ = ["CatalogIndex", "build_key"]

REQUEST_FACTS_SIZE = 256     # distinct requests whose facts are kept (LRU)
WARM_CHUNK = 4               # `warm`: targets per selection (`stop` is asked between them)


def build_key(ref: BuildRef) -> tuple[str, int]:
    """(release record id, position of the build in the release): a framework build's identity
    in its catalog, as a plain value (no object ids)."""
    builds = ref.release.builds
    for i, b in enumerate(builds):
        if b is ref.build:
            return ref.release.id, i
    return ref.release.id, next(i for i, b in enumerate(builds) if b == ref.build)


class CatalogIndex:
    """Per-catalog-revision derived facts (see the module docstring for the ownership rules)."""

    def __init__(self, catalog: Catalog, *, request_facts_size: int = REQUEST_FACTS_SIZE) -> None:
        self.catalog = catalog
        self.revision = catalog.revision
        self._lock = threading.Lock()
        self._request_facts: OrderedDict[Hashable, RequestFacts] = OrderedDict()
        self._request_facts_size = max(int(request_facts_size), 1)
        # facts/candidates.py: (framework, gpu, extra kinds) -> candidate table
        self.candidates: dict[tuple, tuple] = {}
        # rules/filters.py: table key -> TableColumns
        self.columns: dict[tuple, Any] = {}
        # facts/problem.py: table key -> {target: verdict bytes}
        self.verdicts: dict[tuple, dict] = {}
        # rules/verdicts.py: (table key, platform, cc) -> (need id per candidate, distinct needs)
        self.needs: dict[tuple, tuple] = {}
        # rules/pair.py
        self.checks: dict[tuple, Any] = {}            # catalog `compat` checks by their arguments
        self.paths: dict[tuple, str | None] = {}      # binary path per (build, cc)
        self.build_keys: dict[Any, tuple | None] = {}  # candidate -> `build_key` of its build
        self.signature_ids: dict[tuple, int] = {}     # pair signature -> small int
        self.signature_of: dict[Any, int] = {}        # candidate -> its signature's int
        self.table_signatures: dict[tuple, tuple] = {}
        self.split: dict[tuple, tuple] = {}
        self.many: dict[tuple, tuple] = {}
        self.many_done: dict[tuple, list] = {}
        self.failures: dict[tuple, tuple] = {}
        self.ok: dict[tuple, bool] = {}
        self.driver_requirements: dict[tuple, tuple | None] = {}
        # rules/definitions.py
        self.target_checks: dict[tuple, tuple] = {}
        # explain/: first failing rule per (table, platform, cc, driver); pair-rule sets per column
        self.first_failures: dict[tuple, Any] = {}
        self.pair_sets: dict[tuple, tuple] = {}
        self.columns_ids: dict[bytes, int] = {}
        self.rule_sets: list[frozenset[str]] = []
        self.rule_set_ids: dict[frozenset[str], int] = {}
        from solver.rules.definitions import RULES

        self.rule_names: list[str] = list(RULES)
        self.rule_codes: dict[str, int] = {name: i for i, name in enumerate(RULES)}
        # `warm`: (framework, strict) -> the targets whose tables are filled (an empty set: the
        # framework's candidate tables, no target yet)
        self.warm_targets: dict[tuple[str, bool], frozenset[Target]] = {}

    # -- warming --------------------------------------------------------------------------------
    def cold_targets(self, fleet: Inventory | FleetIndex | Iterable[Node], *,
                     frameworks: Iterable[str] | None = None, strict: bool = False) -> dict[Target, Node]:
        """The targets of `fleet`'s nodes (GPU products as resolved against this catalog, on their
        platform and driver) that some framework of `frameworks` has not warmed, each with the
        first node (by the fleet's group order) that has it."""
        from solver.facts.groups import base_groups
        from solver.index.fleet_index import FleetIndex
        from solver.inputs.inventory import Inventory
        from solver.inputs.request import FRAMEWORKS

        if isinstance(fleet, FleetIndex):
            groups, nodes = fleet.groups(True), fleet.inventory.nodes
        else:
            nodes = fleet.nodes if isinstance(fleet, Inventory) else tuple(fleet)
            groups = base_groups(self.catalog, Inventory(nodes=tuple(nodes)))
        names = tuple(FRAMEWORKS if frameworks is None else frameworks)
        done = [self.warm_targets.get((f, strict)) for f in names]
        first: dict[Target, str] = {}
        for g in groups:
            if g.nodes and g.target not in first and any(d is None or g.target not in d for d in done):
                first[g.target] = g.nodes[0]
        wanted = set(first.values())
        by_name = {n.name: n for n in nodes if n.name in wanted}
        return {t: by_name[name] for t, name in first.items()}

    def warm(self, fleet: Inventory | FleetIndex | Iterable[Node], *, frameworks: Iterable[str] | None = None,
             strict: bool = False, stop: Callable[[], bool] | None = None) -> list[str]:
        """Fill the tables the first selection of `{"framework": f}` (`"strict": true` too when
        `strict`) on `fleet` would fill, for every framework of `frameworks` (default: every family
        `parse_request` knows), for the targets not warm yet (`cold_targets`); returns the
        frameworks warmed.

        Per framework, the first steps of `select` (its problem and the fast engine's runtime
        index: `cached_index`) through the normal code path on a small fleet made of one idle copy
        (every GPU free) of a node per cold target (so the cost is bounded by the number of distinct targets, not of
        nodes), `WARM_CHUNK` targets at a time, each chunk recorded in `warm_targets` once done. An
        empty fleet warms the candidate tables alone. `stop` is asked before each chunk: True ends
        the warm there (what is done stays recorded; a later call does the rest).
        """
        from solver.facts.problem import build_problem
        from solver.index.cached import cached_index
        from solver.index.fleet_index import FleetIndex
        from solver.inputs.inventory import Inventory
        from solver.inputs.policy import Policy
        from solver.inputs.request import FRAMEWORKS, parse_request

        names = tuple(FRAMEWORKS if frameworks is None else frameworks)
        cold = self.cold_targets(fleet, frameworks=names, strict=strict)
        warmed = []
        for framework in names:
            done = self.warm_targets.get((framework, strict))
            todo = [(t, n) for t, n in cold.items() if done is None or t not in done]
            if done is not None and not todo:
                continue
            model: dict[str, Any] = {"framework": framework}
            if strict:
                model["strict"] = True
            request = parse_request(model)
            for start in range(0, max(len(todo), 1), WARM_CHUNK):
                if stop is not None and stop():
                    return warmed
                chunk = todo[start:start + WARM_CHUNK]
                # idle copies: a busy node's groups are never judged, its target would stay cold
                nodes = tuple({n.name: replace(n, gpus=tuple(replace(g, free=g.count) for g in n.gpus))
                               for _, n in chunk}.values())
                small = FleetIndex(self, Inventory(nodes=nodes))
                # what every selection of the family computes first (`select` -> the fast engine's
                # scores): the candidate table and its columns, then the runtime index of the fleet's
                # table, which judges the pair rules of every candidate on every target (explanations,
                # top-k and suggestions are left out: per request, and derived from these)
                problem = build_problem(self.catalog, request, small.inventory, Policy(), index=small)
                if len(problem.facts.kept_index):
                    cached_index(problem.table, problem.facts, problem.policy.cached_min_bytes)
                with self._lock:
                    done = self.warm_targets[(framework, strict)] = \
                        (self.warm_targets.get((framework, strict)) or frozenset()) | frozenset(t for t, _ in chunk)
            warmed.append(framework)
        return warmed

    # -- memo helpers ---------------------------------------------------------------------------
    @staticmethod
    def get_or_make(table: dict, key: Hashable, make: Callable[[], Any]) -> Any:
        """`table[key]`, made and inserted on a miss (insert-only: see the module docstring)."""
        found = table.get(key)
        if found is None:
            found = make()
            found = table.setdefault(key, found)
        return found

    def number(self, table: dict, key: Hashable) -> int:
        """A small int per distinct key of `table`, never given to two keys (assigned under the lock)."""
        found = table.get(key)
        if found is None:
            with self._lock:
                found = table.get(key)
                if found is None:
                    found = table[key] = len(table)
        return found

    def signature_id(self, cand: Any, signature: Callable[[Any], tuple]) -> int:
        """The small int of `cand`'s pair signature (memoised per candidate object)."""
        found = self.signature_of.get(cand)
        if found is None:
            found = self.number(self.signature_ids, signature(cand))
            self.signature_of[cand] = found
        return found

    def build_key_of(self, cand: Any) -> tuple | None:
        """`build_key(cand.build)` (None for a bare-CUDA runtime), memoised per candidate."""
        found = self.build_keys.get(cand, False)
        if found is False:
            found = self.build_keys[cand] = build_key(cand.build) if cand.build is not None else None
        return found

    def rule_set_id(self, rules: frozenset[str]) -> int:
        """An id for a set of rule names (there are few distinct ones); `rule_sets[id]` is the set."""
        found = self.rule_set_ids.get(rules)
        if found is None:
            with self._lock:
                found = self.rule_set_ids.get(rules)
                if found is None:
                    self.rule_sets.append(rules)
                    found = self.rule_set_ids[rules] = len(self.rule_sets) - 1
        return found

    def rule_code(self, rule: str) -> int:
        """A code per rule name: declared rules in `RULES` order, others after them in order of sight."""
        found = self.rule_codes.get(rule)
        if found is None:
            with self._lock:
                found = self.rule_codes.get(rule)
                if found is None:
                    self.rule_names.append(rule)
                    found = self.rule_codes[rule] = len(self.rule_names) - 1
        return found

    def column_id(self, column: bytes) -> int:
        return self.number(self.columns_ids, column)

    def request_facts(self, request: Hashable, make: Callable[[], RequestFacts]) -> RequestFacts:
        """The request-only facts of `request` (bounded LRU; the caller keeps what it is handed)."""
        with self._lock:
            found = self._request_facts.get(request)
            if found is not None:
                self._request_facts.move_to_end(request)
                return found
        made = make()
        with self._lock:
            found = self._request_facts.setdefault(request, made)
            self._request_facts.move_to_end(request)
            while len(self._request_facts) > self._request_facts_size:
                self._request_facts.popitem(last=False)
        return found

    def size(self) -> int:
        """Entries held in all tables (to decide when to replace the index with a fresh one)."""
        return sum(len(t) for t in vars(self).values() if isinstance(t, dict | list | OrderedDict))

    def __repr__(self) -> str:
        return f"CatalogIndex(revision={self.revision[:12]}, entries={self.size()})"
