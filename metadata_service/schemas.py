"""Request and response bodies of the HTTP API (pydantic), apart from the tables.

Names follow the FastAPI template: `XCreate` for what a client sends, `XPublic` for what we
return. Contract 1 requests are validated by the solver (`solver.parse_request`), not here, so
this module only types their envelope; Contract 2 node entries are typed here because the
service stores them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "NO_NUL",
    "BatchSelectCreate",
    "CatalogPublic",
    "CatalogUpload",
    "FlowCreate",
    "FlowPublic",
    "FlowTaskUpdate",
    "GpuEntry",
    "HeartbeatCreate",
    "HeartbeatPublic",
    "ModelCreate",
    "ModelPublic",
    "NodeEntry",
    "NodePublic",
    "SelectCreate",
    "TASK_STATES",
    "Where",
]

NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$"
HASH_PATTERN = r"^[0-9a-fA-F]{8,128}$"
TASK_STATES = ("Pending", "Running", "Succeeded", "Failed", "Skipped")
# Every string stored in a text column is bounded to its column's length and may not contain NUL:
# PostgreSQL refuses both (a 500 before), SQLite stored them, so the two databases disagreed.
# Free-form JSON members (meta, spec, labels, requests) are stored as JSON and may hold anything.
NO_NUL = r"^[^\x00]*$"


def text(max_length: int, *, min_length: int = 0, **kw: Any) -> Any:
    """A `Field` for a string stored in a text column: at most `max_length` characters, no NUL."""
    return Field(min_length=min_length, max_length=max_length, pattern=NO_NUL, **kw)


ComponentName = Annotated[str, text(200)]
TaskName = Annotated[str, text(200, min_length=1)]


class GpuEntry(BaseModel):
    """One `gpus` item of a Contract 2 node entry."""

    model_config = ConfigDict(extra="allow")

    product: str = text(200, min_length=1)
    memory_mib: int | None = Field(default=None, ge=0, le=2**31 - 1)
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d+$", max_length=16)
    count: int = Field(default=1, ge=1, le=4096)
    free: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _free_le_count(self) -> GpuEntry:
        if self.free is not None and self.free > self.count:
            raise ValueError(f"free ({self.free}) must not exceed count ({self.count})")
        return self


class NodeEntry(BaseModel):
    """A Contract 2 node entry; extra keys (e.g. the agent's `agent` detail) are kept as sent."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=NAME_PATTERN)
    cluster: str | None = text(253, default=None)
    arch: str = text(32, min_length=1)
    driver_version: str | None = Field(default=None, pattern=r"^\d+(\.\d+){0,3}$", max_length=64)
    cuda_driver_version: str | None = Field(
        default=None, pattern=r"^\d+\.\d+$", max_length=16,
        description="Optional: the CUDA version the driver reports (NVML nvmlSystemGetCudaDriverVersion, "
                    "nvidia-smi 'CUDA Version'), e.g. \"13.0\". A Jetson's driver is judged by it: Jetson "
                    "driver numbers are not desktop driver numbers.")
    l4t_version: str | None = Field(
        default=None, pattern=r"^[rR]?\d+(\.\d+){0,3}$", max_length=32,
        description="Optional, Jetson: the L4T release (/etc/nv_tegra_release), e.g. \"36.4.3\"; the "
                    "driver's CUDA version when cuda_driver_version is absent.")
    gpus: list[GpuEntry] = Field(default_factory=list, max_length=256)
    cached_components: list[ComponentName] = Field(default_factory=list, max_length=10_000)
    labels: dict[str, str] = Field(default_factory=dict)


class HeartbeatCreate(BaseModel):
    """Full heartbeat: `{"node": {...}}` (+ optional agent-computed `inventory_hash`).
    Liveness heartbeat: `{"node": null, "inventory_hash": "<hex>"}`."""

    # The schema says what the validator below checks: a node object, or an inventory hash, or both.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": ["node"], "properties": {"node": {"type": "object"}}},
                {"required": ["inventory_hash"], "properties": {"inventory_hash": {"type": "string"}}},
            ]
        },
    )

    node: NodeEntry | None = None
    inventory_hash: str | None = Field(default=None, pattern=HASH_PATTERN)

    @model_validator(mode="after")
    def _one_form(self) -> HeartbeatCreate:
        if self.node is None and self.inventory_hash is None:
            raise ValueError("send either 'node' (full inventory) or 'inventory_hash' (liveness)")
        return self


class HeartbeatPublic(BaseModel):
    node: str
    inventory_hash: str
    changed: bool = Field(description="the stored inventory changed with this heartbeat")
    registered: bool = Field(description="this heartbeat registered a new node")
    revived: bool = Field(description="the node was stale/unavailable and is live again")
    inventory_revision: int | None = Field(description="after this heartbeat; null for a plain liveness ping")
    ttl_s: float


class NodePublic(BaseModel):
    name: str
    cluster: str | None
    arch: str
    driver_version: str | None
    gpus: list[dict[str, Any]]
    cached_components: list[str]
    labels: dict[str, str]
    inventory_hash: str
    last_seen: float | None
    age_s: float | None
    stale: bool
    beats: int
    registered_at: float
    updated_at: float
    agent: dict[str, Any] | None = None
    excluded: str | None = Field(
        default=None,
        description="why selection leaves this node out (e.g. a GPU the active catalog cannot resolve); null: used",
    )


class CatalogUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    files: dict[str, Any] = Field(description='{"cuda.yaml": {...parsed YAML...}, ...}')


class CatalogPublic(BaseModel):
    revision: str
    counts: dict[str, int]
    activated_at: float
    source: str


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    request: dict[str, Any] = Field(description="a Contract 1 model request")


class ModelPublic(BaseModel):
    name: str
    request: dict[str, Any]
    created_at: float
    updated_at: float


class Where(BaseModel):
    """Which nodes a selection may use (all live nodes when empty)."""

    model_config = ConfigDict(extra="forbid")

    cluster: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    nodes: list[str] | None = Field(default=None, description="only these node names")


class SelectCreate(BaseModel):
    # Exactly one of a request object or a registered model's name (the validator below).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [
                {"required": ["model"], "properties": {"model": {"type": "object"}}},
                {"required": ["model_name"], "properties": {"model_name": {"type": "string"}}},
            ]
        },
    )

    model: dict[str, Any] | None = Field(default=None, description="a Contract 1 request")
    model_name: str | None = Field(default=None, description="a registered model's name")
    top: int = Field(default=1, ge=1, le=50)
    where: Where | None = None
    plan: bool = Field(default=False, description="ignore the nodes and plan hardware (Contract 3, node null)")
    install: bool = Field(default=False, description="add the 'install' object: pip lines with their package "
                          "indexes, uv, pixi, Dockerfile, store-stage commands and Kubernetes GPU scheduling")
    why_not: str | None = Field(default=None, min_length=1, max_length=253,
                                description="a node name: judge every rule for it and return each verdict with "
                                            "its records and sources ({node, usable, runtime, verdicts, answer})")

    @model_validator(mode="after")
    def _exactly_one(self) -> SelectCreate:
        if (self.model is None) == (self.model_name is None):
            raise ValueError("give exactly one of 'model' or 'model_name'")
        return self


class BatchSelectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[dict[str, Any]] = Field(
        min_length=1, max_length=200, description='Contract 1 requests, or {"model_name": "..."} references'
    )
    where: Where | None = None
    quotas: dict[Annotated[str, text(253, min_length=1)], Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        default=None, max_length=1000,
        description="per cluster, the most GPUs (MIG devices count one each) this batch may use there",
    )


class FlowTaskUpdate(BaseModel):
    """What the runner reports about one task; `log` text is appended to the stored log."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["Pending", "Running", "Succeeded", "Failed", "Skipped"] = "Pending"
    attempts: int | None = Field(default=None, ge=0, le=2**31 - 1)
    node: str | None = text(253, default=None)
    runtime: dict[str, Any] | None = None
    exit_code: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    message: str | None = text(10_000, default=None)
    started_at: float | None = None
    finished_at: float | None = None
    log: str | None = Field(default=None, pattern=NO_NUL, description="appended to the task's log")


class FlowCreate(BaseModel):
    """Create a flow run, or (same `id` again) update it: task entries are merged by name."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=NAME_PATTERN, max_length=100)
    flow: str = text(200, min_length=1)
    status: Literal["Pending", "Running", "Succeeded", "Failed"] | None = Field(
        default=None, description="the run's status as the runner sees it; omitted: derived from the tasks"
    )
    digest: str | None = text(128, default=None, description="the flow file's digest (resume key)")
    backend: str | None = text(50, default=None)
    spec: dict[str, Any] | None = Field(default=None, description="the Contract 5 flow document, optional")
    meta: dict[str, Any] | None = Field(default=None, description="free-form runner data (e.g. flow_path)")
    tasks: dict[TaskName, FlowTaskUpdate] = Field(default_factory=dict)


class FlowTaskPublic(BaseModel):
    state: str
    attempts: int
    node: str | None
    runtime: dict[str, Any] | None
    exit_code: int | None
    message: str | None
    started_at: float | None
    finished_at: float | None
    log_bytes: int


class FlowPublic(BaseModel):
    id: str
    flow: str
    state: str = Field(description="the runner's status if it set one, else derived from the tasks")
    digest: str | None
    backend: str | None
    meta: dict[str, Any] | None
    created_by: str
    created_at: float
    updated_at: float
    tasks: dict[str, FlowTaskPublic]
    spec: dict[str, Any] | None = None
