"""Pair verdicts of a whole candidate table on one target, vectorised over drivers.

`RequestFacts.verdicts(target)` needs one pair-rule verdict per candidate of the table, for
every distinct target of the fleet (GPU product x platform x driver: hundreds on a large
fleet). The pair rules split into a driver-independent part and one driver comparison
(`rules.pair_need`), and they ignore Python, so per (candidate table, platform, compute
capability) the need of each distinct pair signature is computed once; a target's verdicts are
then one comparison per distinct minimum driver and an array gather. Equal to calling
`rules.pair_ok` on every candidate (a test holds them together).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from packaging.version import Version

from solver.facts.candidates import Candidate, Target
from solver.index.catalog_index import CatalogIndex
from solver.rules.definitions import FREE, NEVER, need_met, pair_need
from solver.rules.pair import pair_signature_id

__all__ = ["verdict_bytes"]

def _needs(ix: CatalogIndex, table_key: tuple, cands: Sequence[Candidate], platform: str,
           cc: Version | None) -> tuple[np.ndarray, list[Version | str]]:
    key = (table_key, platform, cc)
    found = ix.needs.get(key)
    if found is None:
        distinct: list[Version | str] = [NEVER, FREE]
        index: dict[Version | str, int] = {NEVER: 0, FREE: 1}
        by_sig: dict[int, int] = {}
        ids = np.zeros(len(cands), dtype=np.int64)
        for c in cands:
            sig = pair_signature_id(ix, c)
            i = by_sig.get(sig)
            if i is None:
                need = pair_need(ix, c, platform, cc)
                i = index.get(need)
                if i is None:
                    i = index[need] = len(distinct)
                    distinct.append(need)
                by_sig[sig] = i
            ids[c.index] = i
        found = ix.needs.setdefault(key, (ids, distinct))
    return found


def verdict_bytes(ix: CatalogIndex, table_key: tuple, cands: Sequence[Candidate], target: Target) -> bytes:
    """One byte per candidate (by index): 1 when the pair rules accept it on `target`."""
    ids, distinct = _needs(ix, table_key, cands, target.platform, target.cc)
    ok = np.array([need_met(n, target.driver) for n in distinct], dtype=np.uint8)
    return ok[ids].tobytes()
