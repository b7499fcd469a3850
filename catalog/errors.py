"""Errors of the catalog package: one root, user errors (a bad catalog) apart from bugs.

A bad catalog is never reported one problem at a time: `CatalogInvalid` carries every
`Problem` found, each naming the file, the record and the field, so a curator fixes them all
in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CatalogError", "CatalogInvalid", "CatalogNotFound", "Problem", "UnknownComponent"]


class CatalogError(Exception):
    """Root of every error the catalog package raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the catalog, located precisely enough to fix."""

    file: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.record}" if self.record else self.file
        if self.field:
            where += f": {self.field}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "record": self.record, "field": self.field, "message": self.message}


class CatalogInvalid(CatalogError, ValueError):
    """The catalog files do not form a valid catalog; `.problems` lists every problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        head = f"{len(self.problems)} problem(s) in the catalog"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class CatalogNotFound(CatalogError, FileNotFoundError):
    """The catalog folder (or git revision) does not exist or holds no catalog files."""


class UnknownComponent(CatalogError, LookupError):
    """A component, build or GPU named by a user is not in the catalog."""
