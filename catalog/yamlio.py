"""Reading catalog YAML safely.

Catalog files come from curators and over HTTP, so they are parsed with PyYAML's safe loader
plus two refusals: aliases (the "billion laughs" anchor bomb) and files over a size limit. Custom
tags are already refused by the safe loader. Errors carry the file name and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent

__all__ = ["MAX_FILE_BYTES", "YamlRefused", "load_yaml_text"]

MAX_FILE_BYTES = 4 * 1024 * 1024


class YamlRefused(ValueError):
    """A YAML document that is malformed or uses a refused feature; message names file and line."""


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*anchor references) are not allowed in catalog files", event.start_mark
            )
        return super().compose_node(parent, index)


def load_yaml_text(text: str, *, name: str) -> Any:
    if len(text.encode()) > MAX_FILE_BYTES:
        raise YamlRefused(f"{name}: file is larger than {MAX_FILE_BYTES} bytes")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise YamlRefused(f"{name}:{line}: {problem}") from e


def load_yaml_file(path: Path) -> Any:
    return load_yaml_text(path.read_text(encoding="utf-8"), name=path.name)
