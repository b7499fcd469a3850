"""Reading catalog YAML safely.

Catalog files come from curators and over HTTP, so they are parsed with PyYAML's safe loader
(custom tags such as `!!python/object` are refused) plus three limits: the file size, recursive
aliases, and the size a document *expands* to when its aliases are followed. Curators may share a
list through an anchor (`sass: *blackwell_list`), but an "anchor bomb" that expands to billions of
nodes is refused before anything walks it. Errors carry the line where the parser can tell it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["MAX_EXPANDED_NODES", "MAX_FILE_BYTES", "YamlRefused", "load_yaml_text"]

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


class YamlRefused(ValueError):
    """A YAML document that is malformed or uses a refused feature; the message names the line."""


def _expanded_size(root: Any) -> int:
    """Nodes the document has once every alias is expanded (shared objects counted per use)."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise YamlRefused("recursive YAML alias (a structure that contains itself)")
        active.add(key)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                raise YamlRefused(f"document expands to more than {MAX_EXPANDED_NODES} nodes through "
                                  "its aliases (an anchor bomb?)")
        active.discard(key)
        memo[key] = total
        return total

    return size(root)


def load_yaml_text(text: str, *, name: str = "") -> Any:
    """Parse one YAML document safely; `name` is only used by callers for context."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise YamlRefused(f"file is larger than {MAX_FILE_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise YamlRefused(f"{line}{problem}") from e
    except RecursionError as e:
        raise YamlRefused("document nests too deeply") from e
    _expanded_size(data)
    return data


def load_yaml_file(path: Path) -> Any:
    return load_yaml_text(path.read_text(encoding="utf-8"), name=path.name)
