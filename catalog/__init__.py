"""rtfit catalog: sourced GPU software compatibility facts, their loader, validation and views.

Imports nothing else of rtfit. Everything other packages need is re-exported here.
"""

from catalog.errors import CatalogError, CatalogInvalid, CatalogNotFound, Problem, UnknownComponent
from catalog.loader import (
    BUNDLED_DIR,
    default_catalog_dir,
    load_catalog,
    load_catalog_from_documents,
    load_catalog_from_git,
)
from catalog.model import BuildRef, FrameworkBuild, FrameworkRelease, GpuProduct
from catalog.view import Catalog

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
