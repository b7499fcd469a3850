"""Print the artifact part of docs/catalog-review.md: every catalog field a stored evidence file speaks to.

    .venv/bin/python scripts/catalog_review.py > /tmp/review.md

For each evidence file under catalog/data/evidence/ that maps to a catalog build, one row per
compared field (record, field, catalog value, artifact value, evidence file, verdict), then the
framework builds with and without evidence. Offline: reads the bundled catalog and the JSON files.
"""

from __future__ import annotations

import sys

from catalog import load_catalog
from catalog.evidence import EVIDENCE_DIR, checkable, find_build, load_evidence_dir
from catalog.evidence.check import compared_fields


def main() -> int:
    cat = load_catalog()
    stored = load_evidence_dir(EVIDENCE_DIR)
    rows = []
    for name, ev in stored.items():
        if not checkable(ev):
            continue
        ref = find_build(cat, ev)
        if ref is None:
            continue
        refs = [ref] + [r for r in cat.builds(ref.framework)
                        if r.release is ref.release and r.build is not ref.build and name in r.build.evidence]
        for r in refs:
            for m, ok in compared_fields(cat, ev, r):
                rows.append((m.record, m.field, m.catalog, m.artifact, name, "ok" if ok else "WRONG"))
    print("| record (build) | field | catalog | artifact | evidence | verdict |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(x.replace("|", "\\|") for x in r) + " |")
    wrong = sum(1 for r in rows if r[-1] != "ok")
    print(f"\n{len(rows)} fields compared with artifacts, {wrong} wrong.\n")
    with_ev = sorted({f"{r.release.id} [{r.build.variant or 'default'}] ({', '.join(r.build.platforms)})"
                      for r in cat.builds() if r.build.evidence})
    without = sorted({f"{r.release.id} [{r.build.variant or 'default'}] ({', '.join(r.build.platforms)})"
                      for r in cat.builds() if not r.build.evidence and r.build.gpu})
    print(f"Builds citing evidence ({len(with_ev)}):\n")
    for b in with_ev:
        print(f"- {b}")
    print(f"\nGPU builds relying on documents only ({len(without)}):\n")
    print(", ".join(without))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
