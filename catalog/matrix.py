"""Compatibility matrices a curator reads in a terminal or exports (CSV / Markdown).

Two views: framework builds x GPU products (can this wheel run on that GPU at all, and how:
native SASS, PTX JIT, or not), and driver branches x CUDA series (native, only through
minor-version compatibility, or not). Each cell keeps the `Check`s behind it, so a front end can
show the reason and the sources on hover.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from packaging.version import Version

from catalog.compat import Check, binary_path, check_kernels, check_platform, check_toolkit_arch, gpu_platform
from catalog.gpunames import label
from catalog.view import Catalog

__all__ = ["Cell", "Matrix", "build_gpu_matrix", "driver_cuda_matrix"]


@dataclass(frozen=True)
class Cell:
    mark: str          # short text shown in the grid
    ok: bool
    checks: tuple[Check, ...] = ()

    @property
    def reason(self) -> str:
        failed = [c.message for c in self.checks if not c.ok]
        return "; ".join(failed) if failed else "; ".join(c.message for c in self.checks)


@dataclass
class Matrix:
    title: str
    row_header: str
    columns: list[str]
    rows: list[tuple[str, list[Cell]]] = field(default_factory=list)
    legend: str = ""

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow([self.row_header, *self.columns])
        for name, cells in self.rows:
            w.writerow([name, *(c.mark for c in cells)])
        return out.getvalue()

    def to_markdown(self) -> str:
        lines = [f"| {self.row_header} | " + " | ".join(self.columns) + " |",
                 "|" + "---|" * (len(self.columns) + 1)]
        for name, cells in self.rows:
            lines.append(f"| {name} | " + " | ".join(c.mark for c in cells) + " |")
        if self.legend:
            lines.append("")
            lines.append(self.legend)
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"title": self.title, "row_header": self.row_header, "columns": self.columns,
                "rows": [{"name": n, "cells": [{"mark": c.mark, "ok": c.ok, "reason": c.reason} for c in cells]}
                         for n, cells in self.rows], "legend": self.legend}


def build_gpu_matrix(cat: Catalog, *, framework: str = "pytorch", latest: int | None = None,
                     gpus: list[str] | None = None) -> Matrix:
    """Framework builds (newest patch of each release x variant) against GPU products.

    `gpus`: catalog ids or exact NVML names (resolve what users type with `catalog.gpunames`).
    Columns are named by `gpunames.label`, so products sharing an NVML name stay apart.
    """
    products = [g for g in cat.gpus if gpus is None or g.name in gpus or g.id in gpus]
    products.sort(key=lambda g: (g.cc, g.name))
    releases = sorted(cat.releases(framework), key=lambda r: Version(r.series), reverse=True)
    if latest is not None:
        releases = releases[:latest]
    m = Matrix(title=f"{framework} builds x GPU products", row_header="build",
               columns=[f"{label(cat, g)} ({g.cc})" for g in products],
               legend="S = native SASS, P = PTX JIT only, - = cannot run (kernels, toolkit or platform)")
    for rel in releases:
        newest = max(rel.versions)
        for ref in (r for r in cat.builds(framework) if r.release is rel and r.version == newest):
            if not ref.build.gpu:
                continue
            cells = []
            for g in products:
                checks = [check_platform(ref, gpu_platform(g)), check_kernels(cat, ref, g.cc)]
                if ref.build.cuda is not None:
                    checks.append(check_toolkit_arch(cat, ref.build.cuda, g.cc))
                ok = all(c.ok for c in checks)
                path = binary_path(ref.build, g.cc)
                mark = ("P" if path == "ptx" else "S") if ok else "-"
                cells.append(Cell(mark, ok, tuple(checks)))
            only = "" if "x86_64" in ref.build.platforms else f" ({'/'.join(ref.build.platforms)})"
            m.rows.append((ref.label + only, cells))
    return m


def driver_cuda_matrix(cat: Catalog) -> Matrix:
    """Driver branches (at their first release's minimum) against CUDA series: N / M / -."""
    cuda_series = cat.cuda_series()
    m = Matrix(title="driver branches x CUDA", row_header="branch (max CUDA)",
               columns=[str(s) for s in cuda_series],
               legend="N = native (driver >= toolkit minimum), M = only through minor-version "
                      "compatibility (needs SASS for the GPU; no PTX JIT), - = unsupported")
    for b in sorted(cat.driver_branches, key=lambda b: b.branch):
        cells = []
        for s in cuda_series:
            native = (s.major, s.minor) <= (b.max_cuda.major, b.max_cuda.minor)
            floor = cat.mvc_floor(s.major)
            mvc = floor is not None and b.branch >= floor.min_driver.major
            if native:
                cells.append(Cell("N", True, (Check("driver", True, f"R{b.branch} supports CUDA {b.max_cuda} "
                                                     f"natively ({b.id})", b.sources),)))
            elif mvc and floor is not None:
                cells.append(Cell("M", True, (Check("mvc", True, f"R{b.branch} >= the CUDA {s.major}.x "
                                                     f"minor-version floor {floor.min_driver} ({floor.id})",
                                                     floor.sources),)))
            else:
                cells.append(Cell("-", False, (Check("driver-too-old", False, f"R{b.branch} supports CUDA "
                                                      f"<= {b.max_cuda}; CUDA {s} needs a newer driver", b.sources),)))
        m.rows.append((f"R{b.branch} ({b.max_cuda})", cells))
    return m
