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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from catalog import Catalog
from catalog.model import BuildRef

if TYPE_CHECKING:
    from solver.facts.problem import RequestFacts

__all__ = ["CatalogIndex", "build_key"]

REQUEST_FACTS_SIZE = 256     # distinct requests whose facts are kept (LRU)


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
