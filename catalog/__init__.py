"""rtfit catalog: sourced GPU software compatibility facts, their loader, validation and views.

Imports nothing else of rtfit. Everything other packages need is re-exported here.
"""

import importlib
from typing import Any

_LAZY = {
    "CatalogError": "catalog.errors",
    "CatalogInvalid": "catalog.errors",
    "CatalogNotFound": "catalog.errors",
    "Problem": "catalog.errors",
    "UnknownComponent": "catalog.errors",
    "BUNDLED_DIR": "catalog.loader",
    "default_catalog_dir": "catalog.loader",
    "load_catalog": "catalog.loader",
    "load_catalog_from_documents": "catalog.loader",
    "load_catalog_from_git": "catalog.loader",
    "BuildRef": "catalog.model",
    "FrameworkBuild": "catalog.model",
    "FrameworkRelease": "catalog.model",
    "GpuProduct": "catalog.model",
    "Catalog": "catalog.view",
}

__all__ = [
    "BUNDLED_DIR",
    "BuildRef",
    "Catalog",
    "CatalogError",
    "CatalogInvalid",
    "CatalogNotFound",
    "FrameworkBuild",
    "FrameworkRelease",
    "GpuProduct",
    "Problem",
    "UnknownComponent",
    "default_catalog_dir",
    "load_catalog",
    "load_catalog_from_documents",
    "load_catalog_from_git",
]


def __getattr__(name: str) -> Any:
    """Exports are imported on first use: `rtfit --help` does not load the YAML machinery."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'catalog' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
