"""Errors raised by the workflow package.

One root class, `WorkflowError`. User errors (a bad flow file, a bad component name, a missing
component) subclass `ValueError` too, so callers that only care about "bad input" can catch that;
backend and store I/O failures are plain `WorkflowError`s. Third-party exceptions (kubernetes
client, sqlite, subprocess) are wrapped once, in the module that calls them, with `raise ... from e`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BackendError",
    "ComponentMissing",
    "ExpressionInvalid",
    "FlowInvalid",
    "FlowProblem",
    "InvalidComponentName",
    "PlacementError",
    "RunNotFound",
    "ServerError",
    "StageFailed",
    "StoreError",
    "WorkflowError",
]


class WorkflowError(Exception):
    """Root of every error the workflow package raises on purpose."""


@dataclass(frozen=True)
class FlowProblem:
    """One thing wrong with a flow file: which task, which field, which line, and why."""

    message: str
    task: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = []
        if self.task is not None:
            where.append(f"task '{self.task}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        if self.line is not None:
            where.append(f"line {self.line}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class FlowInvalid(WorkflowError, ValueError):
    """The flow file cannot be run; `.problems` lists every problem found."""

    def __init__(self, problems: list[FlowProblem], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(str(p) for p in self.problems))


class ExpressionInvalid(WorkflowError, ValueError):
    """A `depends` expression does not parse; `.position` is the 0-based column of the problem."""

    def __init__(self, message: str, *, expression: str, position: int) -> None:
        self.expression = expression
        self.position = position
        shown = expression if len(expression) <= 120 else expression[max(0, position - 40):position + 40]
        where = "" if shown is expression else f" (near {shown!r}, of {len(expression)} characters)"
        super().__init__(f"{message} at column {position + 1} of {expression!r}" if not where
                         else f"{message} at column {position + 1}{where}")


class StoreError(WorkflowError):
    """The runtime store cannot do what was asked (I/O, corrupt manifest, ...)."""


class InvalidComponentName(StoreError, ValueError):
    """A component kind or version that is not a safe single path segment."""


class ComponentMissing(StoreError, ValueError):
    """A runtime names a component version that is not staged in the store."""


class StageFailed(StoreError):
    """Staging a component did not complete; nothing was left in the store."""


class PlacementError(WorkflowError):
    """A task could not be given a node and runtime (infeasible, or no solver)."""


class BackendError(WorkflowError):
    """A backend could not launch or watch a task (API error, missing executable...)."""


class RunNotFound(WorkflowError, ValueError):
    """No run (or task of a run) with that id in the state store."""


class ServerError(WorkflowError):
    """The metadata service refused or failed a flow-state request."""
