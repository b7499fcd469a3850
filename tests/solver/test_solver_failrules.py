"""`pair_failure_rules_many` (explanations' first-use pair rule sets) equals `pair_failure_rules`."""

from __future__ import annotations

from packaging.version import Version

from solver.facts.candidates import Target, candidates_for
from solver.index.catalog_index import CatalogIndex
from solver.rules.pair import pair_failure_rules, pair_failure_rules_many
from solver.testing import mini_catalog


def test_many_equals_one_by_one() -> None:
    cat = mini_catalog()
    ix = CatalogIndex(cat)
    for fw in ("pytorch", "onnxruntime", "tensorrt", "none"):
        reps = list(candidates_for(cat, fw, True))
        for cc in ("7.0", "8.0", "8.7", "9.0", "12.0"):
            for driver in (None, "470.256.02", "525.60.13", "535.104.05", "550.54.15", "580.65.06"):
                for platform in ("x86_64", "aarch64", "jetson"):
                    t = Target(platform=platform, cc=Version(cc), product="P",
                               driver=Version(driver) if driver else None)
                    assert pair_failure_rules_many(ix, reps, t, ("test", fw)) == \
                        [pair_failure_rules(ix, c, t) for c in reps]
