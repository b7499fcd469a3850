"""Field readers that turn one raw YAML record into typed values while collecting problems.

Every reader returns `None` (or a default) on a bad value and records a `Problem` naming the
file, the record id and the field, so the loader can report every problem in one pass instead
of stopping at the first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from catalog.errors import Problem
from catalog.versions import (
    InvalidSpecifier,
    InvalidVersion,
    SpecifierSet,
    Version,
    parse_driver,
    parse_spec,
    parse_version,
)

__all__ = ["RecordReader"]

T = TypeVar("T")
_MISSING = object()


class RecordReader:
    """Reads the fields of one record; `ok` is False once any problem was recorded."""

    def __init__(self, *, file: str, section: str, index: int, raw: Any, problems: list[Problem]):
        self.file = file
        self.problems = problems
        self.ok = True
        self.raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        rid = self.raw.get("id") if isinstance(self.raw.get("id"), str) else None
        self.record = rid or f"{section}[{index}]"
        self.used: set[str] = set()
        if not isinstance(raw, Mapping):
            self.fail("", f"a record must be a mapping, got {type(raw).__name__}")

    def fail(self, field: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.file, self.record, field, message))

    def _get(self, name: str, required: bool) -> Any:
        self.used.add(name)
        value = self.raw.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.fail(name, "is required")
            return _MISSING
        return value

    def convert(self, name: str, fn: Callable[[Any], T], what: str, *, required: bool = True) -> T | None:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        try:
            return fn(value)
        except (InvalidVersion, InvalidSpecifier, ValueError, TypeError) as e:
            self.fail(name, f"not a valid {what}: {value!r} ({e})")
            return None

    def str(self, name: str, *, required: bool = True, choices: tuple[str, ...] | None = None) -> str | None:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(name, f"must be a non-empty string, got {value!r}")
            return None
        if choices is not None and value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}; got {value!r}")
            return None
        return value

    def int(self, name: str, *, required: bool = True, minimum: int = 0) -> int | None:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(name, f"must be an integer >= {minimum}, got {value!r}")
            return None
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"must be true or false, got {value!r}")
            return default
        return value

    def version(self, name: str, *, required: bool = True) -> Version | None:
        return self.convert(name, parse_version, "version", required=required)

    def driver(self, name: str, *, required: bool = True) -> Version | None:
        return self.convert(name, parse_driver, "driver version", required=required)

    def spec(self, name: str, *, required: bool = True) -> SpecifierSet | None:
        return self.convert(name, parse_spec, "PEP 440 specifier", required=required)

    def str_list(self, name: str, *, required: bool = False, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._get(name, required)
        if value is _MISSING:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            self.fail(name, f"must be a string or a list of strings, got {value!r}")
            return ()
        if choices is not None:
            bad = [i for i in items if i not in choices]
            if bad:
                self.fail(name, f"unknown value(s) {bad}; allowed: {', '.join(choices)}")
                return ()
        return tuple(items)

    def version_list(self, name: str, *, required: bool = False) -> tuple[Version, ...] | None:
        value = self._get(name, required)
        if value is _MISSING:
            return None
        if not isinstance(value, list):
            self.fail(name, f"must be a list of quoted versions, got {value!r}")
            return None
        out: list[Version] = []
        for i, item in enumerate(value):
            try:
                out.append(parse_version(item))
            except InvalidVersion as e:
                self.fail(f"{name}[{i}]", f"not a valid version: {item!r} ({e})")
        return tuple(out)

    def mapping(self, name: str) -> Mapping[str, Any]:
        value = self._get(name, False)
        if value is _MISSING:
            return {}
        if not isinstance(value, Mapping):
            self.fail(name, f"must be a mapping, got {value!r}")
            return {}
        return value

    def sources(self) -> tuple[str, ...]:
        found = self.str_list("source", required=True)
        if not found and "source" in self.raw and self.ok:
            self.fail("source", "must name at least one source id")
        return found

    def common(self) -> dict[str, Any]:
        """The envelope fields every record has (id, source, confidence, note)."""
        rid = self.str("id")
        return {
            "id": rid or self.record,
            "sources": self.sources(),
            "file": self.file,
            "confidence": self.str("confidence", required=False, choices=("high", "medium", "low")),
            "note": self.str("note", required=False),
        }

    def check_unknown_fields(self, allowed: set[str]) -> None:
        for key in self.raw:
            if key not in allowed and key not in self.used:
                self.fail(str(key), "unknown field (typo?); see docs/catalog-format.md")
