"""One GPU-name resolver: NVML names, catalog ids, aliases and the short names people type.

`find_gpus(cat, name)` returns every product a name denotes, `resolve_gpu(cat, name)` exactly one
or raises `GpuNameError` with the closest catalog names. Used by `rtfit catalog why`, `rtfit
catalog matrix --gpu`, the console's matrix and the inventory parser, so a name that works in one
place works in all of them, and a name that does not is an error, never an empty answer.

Matching, case and spacing ignored: (1) exactly a product's NVML name, alias or id (`gpu.t4`, or
`t4` without the prefix), with or without a leading "NVIDIA"; (2) otherwise, the products whose
name or an alias contains every word of the query (`4090` -> RTX 4090, `orin nano` -> Jetson Orin
Nano). Several NVML names are shared (four Jetson Orin modules all report "Orin (nvgpu)"):
`resolve_gpu` accepts such a name only when the matches agree on what compatibility reads (compute
capability and platform), and then answers the module with the smallest recorded memory (planning
a 32 GB module with the 64 GB module's memory would accept models that do not fit; `shared_name_note`
says so in answers); `label(cat, gpu)` gives each product a name of its own for columns.
"""

from __future__ import annotations

import difflib
import re

from catalog.errors import CatalogError
from catalog.model import GpuProduct
from catalog.view import Catalog

__all__ = ["GpuNameError", "find_gpus", "inventory_product", "label", "resolve_gpu", "shared_name", "shared_name_note"]

_WORD = re.compile(r"[a-z0-9]+")


class GpuNameError(CatalogError, LookupError):
    """An unknown or ambiguous GPU name; `suggestions` are catalog names close to it."""

    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def _names(g: GpuProduct) -> list[str]:
    short = g.id.split(".", 1)[1] if "." in g.id else g.id
    return [g.name, *g.aliases, g.id, short]


def _exact(cat: Catalog, query: str) -> list[GpuProduct]:
    q = _norm(query)
    forms = {q, q[len("nvidia "):] if q.startswith("nvidia ") else "nvidia " + q}
    return [g for g in cat.gpus if any(_norm(n) in forms for n in _names(g))]


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower())) - {"nvidia"}


def find_gpus(cat: Catalog, name: str) -> list[GpuProduct]:
    """Every catalog product `name` denotes (exact names first; else all-words matches); [] if none."""
    found = _exact(cat, name)
    if found:
        return found
    want = _words(name)
    if not want:
        return []
    return [g for g in cat.gpus if any(want <= _words(n) for n in _names(g))]


def _suggest(cat: Catalog, name: str) -> list[str]:
    pool = {n: g for g in cat.gpus for n in (g.name, *g.aliases)}
    close = difflib.get_close_matches(name, list(pool), n=5, cutoff=0.5)
    if not close:
        close = difflib.get_close_matches(name.upper(), [n.upper() for n in pool], n=5, cutoff=0.4)
        upper = {n.upper(): n for n in pool}
        close = [upper[c] for c in close]
    return list(dict.fromkeys(close))


def resolve_gpu(cat: Catalog, name: str) -> GpuProduct:
    """The one product `name` denotes; `GpuNameError` (with suggestions) when none or several."""
    found = find_gpus(cat, name)
    if len(found) == 1:
        return found[0]
    if found and len({(g.cc, g.platform) for g in found}) == 1 and len(_exact(cat, name)) == len(found):
        return _smallest(found)  # a shared NVML name ("Orin (nvgpu)"): the rules agree; memory conservative
    if found:
        options = [label(cat, g) for g in found]
        raise GpuNameError(f"GPU name {name!r} is ambiguous: it matches {', '.join(options)}; "
                           "name one of them", options)
    near = _suggest(cat, name)
    hint = f"; did you mean {', '.join(near)}?" if near else "; see `rtfit catalog list gpu`"
    raise GpuNameError(f"unknown GPU {name!r}: no catalog product has that name, alias or id{hint}", near)


def label(cat: Catalog, g: GpuProduct) -> str:
    """A name for `g` no other product shares: the NVML name, else its first alias, else its id."""
    if sum(1 for o in cat.gpus if o.name == g.name) == 1:
        return g.name
    for alias in g.aliases:
        if sum(1 for o in cat.gpus if alias in (o.name, *o.aliases)) == 1:
            return alias
    return g.id


def _smallest(products: list[GpuProduct] | tuple[GpuProduct, ...]) -> GpuProduct:
    """The product with the smallest recorded memory (unrecorded last), then the first listed."""
    return min(products, key=lambda g: (g.memory_mib is None, g.memory_mib or 0))


def shared_name(cat: Catalog, name: str) -> tuple[GpuProduct, ...]:
    """The products an exact NVML name (or alias) denotes when several share it and agree on what
    compatibility reads (CC, platform): "Orin (nvgpu)" -> the four Orin modules; () otherwise."""
    key = ("shared_gpu_name", _norm(name))
    if key not in cat.memo:
        found = _exact(cat, name)
        agree = len(found) > 1 and len({(g.cc, g.platform) for g in found}) == 1
        cat.memo[key] = tuple(found) if agree else ()
    return cat.memo[key]  # type: ignore[no-any-return]


def inventory_product(cat: Catalog, name: str, memory_mib: int | None = None) -> GpuProduct | None:
    """The catalog product of an inventory GPU entry named exactly `name` (None: not an exact name).

    A shared name resolves to the module whose recorded memory is the entry's `memory_mib`, else to
    the module with the smallest recorded memory (conservative: never a bigger module's memory)."""
    shared = shared_name(cat, name)
    if not shared:
        return cat.gpu(name)
    if memory_mib is not None:
        same = [g for g in shared if g.memory_mib == memory_mib]
        if same:
            return same[0]
    return _smallest(shared)


def shared_name_note(cat: Catalog, name: str) -> str | None:
    """A sentence for answers about a GPU known by a shared name without its memory (None: not shared)."""
    shared = shared_name(cat, name)
    if not shared:
        return None
    chosen = _smallest(shared)
    parts = [f"{label(cat, g)} ({g.memory_mib} MiB)" if g.memory_mib is not None else f"{label(cat, g)} (memory "
             "not recorded)" for g in shared]
    example = next((label(cat, g) for g in shared if g is not chosen), label(cat, chosen))
    return (f"the GPU name {name!r} is shared by {len(shared)} modules: {', '.join(parts)}; without memory_mib it is "
            f"planned as {label(cat, chosen)}, {chosen.memory_mib} MiB, the smallest recorded. Give the node's "
            f"memory_mib, or name the exact module as the product (e.g. {example!r})")
