"""Request filters over a whole candidate table at once (the request rules, vectorised).

`rules.candidate_failures` judges one candidate and builds a message per failing rule. A new
request needs the verdict of every candidate of its table (up to ~1,400 TensorRT runtimes), and
the messages only when something is explained. The request rules read a few attributes of a
candidate (framework label, Python, a component version, the release's max opset, TensorRT),
each with few distinct values per table: per candidate table the attributes are interned once
as id columns, and a request's verdict is one rule evaluation per distinct value plus array
gathers: the bits of the request rules rejecting each candidate, whose names equal those of
`candidate_failures(...)` per candidate (a test holds them together).
The table's newest-version ranks are precomputed here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from packaging.version import Version

from catalog.versions import is_prefix, spec_allows
from solver.facts.candidates import Candidate
from solver.index.catalog_index import CatalogIndex
from solver.inputs.request import ModelRequest
from solver.rules.definitions import spec_allows_series

__all__ = ["RULE_BITS", "TableColumns", "rule_names", "table_columns"]

# One bit per request rule name of `rules.candidate_failures`.
RULE_BITS = {"framework-version": 1, "python-version": 2, "requires": 4, "opset-too-new": 8,
             "trt-engine-version": 16, "unverified": 32}


def rule_names(bits: int) -> frozenset[str]:
    """The request rule names whose bits are set in `bits`."""
    return frozenset(name for name, bit in RULE_BITS.items() if bits & bit)

_NONE = object()


class TableColumns:
    """Interned request-rule attributes and newest ranks of one candidate table."""

    def __init__(self, cands: Sequence[Candidate]) -> None:
        self.cands = cands
        distinct = sorted({c.newest for c in cands}, reverse=True)
        rank = {k: i for i, k in enumerate(distinct)}
        self.newest_rank = {c.index: rank[c.newest] for c in cands}
        self.rank = np.array([self.newest_rank[c.index] for c in cands], dtype=np.int64)
        self.by_rank = np.lexsort((np.arange(len(cands)), self.rank)) if len(cands) else np.zeros(0, dtype=np.int64)
        self._cols: dict[str, tuple[np.ndarray, list[Any]]] = {}
        self._series: dict[tuple, bool] = {}   # (spec, series version) -> spec_allows_series
        self._version_bad: dict[str, np.ndarray] = {}   # framework_version spec -> per label: refused

    def _series_ok(self, spec: Any, v: Version) -> bool:
        found = self._series.get((spec, v))
        if found is None:
            found = self._series[(spec, v)] = spec_allows_series(spec, v)
        return found

    def column(self, name: str, get: Callable[[Candidate], Any]) -> tuple[np.ndarray, list[Any]]:
        """(value id per candidate, distinct values) of attribute `get` (memoised by `name`)."""
        found = self._cols.get(name)
        if found is None:
            values: list[Any] = []
            index: dict[Any, int] = {}
            ids = np.zeros(len(self.cands), dtype=np.int64)
            for c in self.cands:
                v = get(c)
                i = index.get(v)
                if i is None:
                    i = index[v] = len(values)
                    values.append(v)
                ids[c.index] = i
            found = self._cols[name] = (ids, values)
        return found

    def _fail(self, name: str, get: Callable[[Candidate], Any], bad: Callable[[Any], bool]) -> np.ndarray:
        ids, values = self.column(name, get)
        return np.array([bad(v) for v in values], dtype=bool)[ids] if values else np.zeros(0, dtype=bool)

    def request_rule_bits(self, request: ModelRequest) -> np.ndarray:
        """Per candidate: the `RULE_BITS` of the request rules rejecting it (0: none; the rule
        names of `candidate_failures`, without building its messages)."""
        bits = np.zeros(len(self.cands), dtype=np.int64)
        if not len(self.cands):
            return bits
        spec = request.framework_version
        if spec is not None:
            # the version a framework label names (rules._framework_ok), parsed once per table;
            # the verdicts per label are kept per spec (its text: `spec_allows` reads nothing else)
            key = str(spec)
            bad = self._version_bad.get(key)
            if bad is None:
                bad = self._version_bad.setdefault(key, self._fail(
                    "label-version", lambda c: (Version(c.label) if c.label else c.version) if c.version is not None
                    else _NONE, lambda v: v is not _NONE and not spec_allows(spec, v)))
            bits |= RULE_BITS["framework-version"] * bad
        py = request.python
        if py is not None:
            bits |= RULE_BITS["python-version"] * self._fail(
                "python", lambda c: c.python if c.python is not None else _NONE,
                lambda v: v is not _NONE and not self._series_ok(py, v))
        for kind, rspec in request.requires:
            bits |= RULE_BITS["requires"] * self._fail(
                f"component:{kind}", lambda c, k=kind: c.component_version(k),
                lambda v, s=rspec: v is None or not self._series_ok(s, v))
        fmt = request.format
        if fmt is not None and fmt.kind == "onnx" and fmt.opset is not None:
            opset = fmt.opset
            bits |= RULE_BITS["opset-too-new"] * self._fail(
                "max-opset", lambda c: c.build.release.max_opset if c.build is not None else None,
                lambda v: v is not None and opset > v)
        if fmt is not None and fmt.kind == "tensorrt-engine" and request.uses_gpu:
            want = fmt.tensorrt_version
            bits |= RULE_BITS["trt-engine-version"] * self._fail(
                "tensorrt", lambda c: c.tensorrt,
                lambda v: v is None or (want is not None and not (
                    v == want or is_prefix(v, want) or is_prefix(want, v))))
        if request.strict:
            bits |= RULE_BITS["unverified"] * self._fail("gaps", lambda c: bool(c.gaps), lambda v: v)
        return bits


def table_columns(ix: CatalogIndex, table_key: tuple, cands: Sequence[Candidate]) -> TableColumns:
    """The request-rule columns of a candidate table (one per table in the catalog index)."""
    found = ix.columns.get(table_key)
    if found is None:
        found = ix.columns.setdefault(table_key, TableColumns(cands))
    return found
