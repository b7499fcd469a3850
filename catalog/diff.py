"""Record-by-record differences between two catalog revisions (folders or git revisions).

Records are matched by `id` across all files, so moving a record between files is not a change
of the fact. Each change lists the fields that differ with their old and new values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.view import Catalog

__all__ = ["CatalogDiff", "RecordChange", "diff_catalogs"]


@dataclass(frozen=True)
class RecordChange:
    id: str
    section: str
    kind: str                       # added | removed | changed
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class CatalogDiff:
    old_revision: str
    new_revision: str
    changes: list[RecordChange]

    @property
    def empty(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        return {"old_revision": self.old_revision, "new_revision": self.new_revision,
                "changes": [{"id": c.id, "section": c.section, "kind": c.kind,
                             "fields": {k: {"old": o, "new": n} for k, (o, n) in c.fields.items()}}
                            for c in self.changes]}


def _raw_records(cat: Catalog) -> dict[str, tuple[str, dict[str, Any]]]:
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for doc in cat.documents.values():
        if not isinstance(doc, dict):
            continue
        for section, records in doc.items():
            for rec in records if isinstance(records, list) else []:
                if isinstance(rec, dict) and isinstance(rec.get("id"), str):
                    out[f"{section}:{rec['id']}" if section == "sources" else rec["id"]] = (section, rec)
    return out


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    a, b = _raw_records(old), _raw_records(new)
    changes: list[RecordChange] = []
    for rid in sorted(a.keys() | b.keys()):
        if rid not in b:
            changes.append(RecordChange(rid, a[rid][0], "removed"))
        elif rid not in a:
            changes.append(RecordChange(rid, b[rid][0], "added"))
        else:
            ra, rb = a[rid][1], b[rid][1]
            fields = {k: (ra.get(k), rb.get(k)) for k in sorted(ra.keys() | rb.keys()) if ra.get(k) != rb.get(k)}
            if fields:
                changes.append(RecordChange(rid, b[rid][0], "changed", fields))
    return CatalogDiff(old.revision, new.revision, changes)
