"""Plain result types of a selection; `to_dict()` is exactly the Contract-3 JSON object.

No solver-engine imports here (no ortools): the service, the CLI and the workflow runner read
these without paying for the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Assignment", "BatchSelection", "Conflict", "ConflictDetail", "GpuChoice", "Selection"]


@dataclass(frozen=True)
class GpuChoice:
    product: str
    count: int
    compute_capability: str
    mig_profile: str | None = None      # set when the GPU is a MIG device of this profile
    interconnect: str | None = None     # between the `count` GPUs on the node (count > 1), as the catalog records it

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"product": self.product, "count": self.count,
                               "compute_capability": self.compute_capability}
        if self.mig_profile is not None:
            out["mig_profile"] = self.mig_profile
        if self.interconnect is not None:
            out["interconnect"] = self.interconnect
        return out


@dataclass(frozen=True)
class Assignment:
    """One (node, GPU, runtime) answer. `key` is the lexicographic objective key (bigger = better)."""

    node: str | None
    cluster: str | None
    gpu: GpuChoice | None
    runtime: tuple[tuple[str, str], ...]
    key: tuple[int, ...] = ()
    candidate: int = -1
    group: int = -1

    @property
    def runtime_map(self) -> dict[str, str]:
        return dict(self.runtime)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "cluster": self.cluster,
                "gpu": self.gpu.to_dict() if self.gpu is not None else None,
                "runtime": dict(self.runtime)}


@dataclass(frozen=True)
class ConflictDetail:
    """One distinct refusal behind a conflict: its sentence, the nodes it holds for, its records."""

    message: str
    component: str = ""
    need: str = ""
    have: str = ""
    nodes: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "component": self.component, "need": self.need,
                               "have": self.have, "nodes": list(self.nodes), "records": list(self.records)}
        if self.rule:
            out["rule"] = self.rule
        return out


@dataclass(frozen=True)
class Conflict:
    """A rule in the conflict core. `message` is for people (three examples at most); the other
    fields are for programs and are never truncated: `nodes` and `records` are complete, and
    `details` has one entry per distinct refusal (`component`, `need`, `have` are the first's)."""

    rule: str
    message: str
    component: str = ""
    need: str = ""
    have: str = ""
    nodes: tuple[str, ...] = ()
    records: tuple[str, ...] = ()
    details: tuple[ConflictDetail, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "component": self.component, "need": self.need,
                "have": self.have, "nodes": list(self.nodes), "records": list(self.records),
                "details": [d.to_dict() for d in self.details]}


@dataclass(frozen=True)
class Selection:
    feasible: bool
    catalog_revision: str
    choice: Assignment | None = None
    alternatives: tuple[Assignment, ...] = ()
    explanation: tuple[str, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    suggestions: tuple[str, ...] = ()
    rejected: tuple[ConflictDetail, ...] = ()   # feasible answers: the unusable nodes, per rule
    status: str = "optimal"            # optimal | infeasible | timeout
    engine: str = "fast"
    stats: dict[str, Any] = field(default_factory=dict, compare=False)
    # Set when the request named an artifact: the memory estimate, the verdict (runnable |
    # runnable-with-change | incompatible) and the checked changes that would make it runnable.
    memory: dict[str, Any] | None = field(default=None, compare=False)
    verdict: str | None = None
    changes: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    confidence: str = "verified"       # verified | unverified: did every rule have the facts it needs?
    gaps: tuple[str, ...] = ()         # the facts the catalog lacks for the choice (empty when verified)

    def to_dict(self) -> dict[str, Any]:
        if self.feasible and self.choice is not None:
            out = {"feasible": True, "catalog_revision": self.catalog_revision,
                   "choice": self.choice.to_dict(),
                   "alternatives": [a.to_dict() for a in self.alternatives],
                   "explanation": list(self.explanation),
                   "confidence": self.confidence, "gaps": list(self.gaps),
                   "rejected": [r.to_dict() for r in self.rejected]}
        else:
            out = {"feasible": False, "catalog_revision": self.catalog_revision,
                   "conflicts": [c.to_dict() for c in self.conflicts],
                   "suggestions": list(self.suggestions)}
        if self.verdict is not None:
            out.update(verdict=self.verdict, memory=self.memory, changes=[dict(c) for c in self.changes])
        return out


@dataclass(frozen=True)
class BatchSelection:
    feasible: bool
    catalog_revision: str
    placements: tuple[Selection, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"feasible": self.feasible, "catalog_revision": self.catalog_revision,
                "placements": [p.to_dict() for p in self.placements]}
