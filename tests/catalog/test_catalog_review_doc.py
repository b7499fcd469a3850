"""docs/catalog-review.md's summary counts are the ones scripts/catalog_review.py prints today.

The review doc states how many catalog fields were compared with artifacts and how many were
wrong; when evidence is added (new releases, new wheels read) the doc must be brought up to date
with it, or it reports a review of a catalog that no longer exists.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script_rows() -> tuple[list[list[str]], int]:
    spec = importlib.util.spec_from_file_location("catalog_review", ROOT / "scripts" / "catalog_review.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = mod.main()
    rows = [[c.strip() for c in line.split(" | ")] for line in buf.getvalue().splitlines()
            if line.startswith("| ") and not line.startswith("| record")]
    return rows, rc


def test_review_doc_summary_matches_the_review_script() -> None:
    rows, rc = _script_rows()
    assert rc == 0, "scripts/catalog_review.py finds a WRONG field"
    fields = Counter(r[1] for r in rows)
    platforms = fields.pop("platforms", 0)
    compared = sum(fields.values())
    doc = (ROOT / "docs" / "catalog-review.md").read_text()
    row = re.search(r"^\| compared with artifacts \((.*?)\) \| (\d+) \| (\d+) \|$", doc, re.M)
    assert row is not None, "docs/catalog-review.md lost its summary row"
    assert int(row.group(2)) == compared, f"doc says {row.group(2)} fields compared with artifacts; the script: {compared}"
    assert int(row.group(3)) == 0
    assert f"the {platforms} platform rows are not counted" in row.group(1)
    per_field = dict(re.findall(r"([\w.-]+) (\d+)", row.group(1).split(";")[0]))
    assert {k: int(v) for k, v in per_field.items()} == dict(fields), "per-field counts in the summary row"
    assert f"`scripts/catalog_review.py` ({len(rows)} rows with the platform rows, 0 wrong)" in doc
