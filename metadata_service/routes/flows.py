"""Flow runs: the flow runner (`rtfit flow run --server`) writes runs, task states and logs here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse

from ..deps import Admin, Reader, ReadSession, State, WriteSession
from ..schemas import NO_NUL, FlowCreate, FlowPublic, FlowTaskPublic
from ..storage import flows as flow_store

__all__ = ["router"]

router = APIRouter(prefix="/v1/flows", tags=["flows"])
RunId = Path(max_length=100, pattern=NO_NUL)
Task = Path(max_length=200, pattern=NO_NUL)


def _public(view: flow_store.RunView, *, spec: bool) -> FlowPublic:
    run = view.run
    return FlowPublic(
        id=run.id,
        flow=run.flow,
        state=view.state,
        digest=run.digest,
        backend=run.backend,
        meta=run.meta,
        created_by=run.created_by,
        created_at=run.created_at,
        updated_at=run.updated_at,
        tasks={
            t.name: FlowTaskPublic(
                state=t.state,
                attempts=t.attempts,
                node=t.node,
                runtime=t.runtime,
                exit_code=t.exit_code,
                message=t.message,
                started_at=t.started_at,
                finished_at=t.finished_at,
                log_bytes=len(t.log.encode()),
            )
            for t in view.tasks
        },
        spec=run.spec if spec else None,
    )


@router.post(
    "",
    response_model=FlowPublic,
    status_code=201,
    summary="Create a run, or update it (same id): tasks merged by name, `log` text appended (admin)",
)
def post_flow(body: FlowCreate, principal: Admin, session: WriteSession, state: State, response: Response) -> Any:
    view, created = flow_store.upsert_run(
        session,
        run_id=body.id,
        flow=body.flow,
        status=body.status,
        digest=body.digest,
        backend=body.backend,
        spec=body.spec,
        meta=body.meta,
        tasks={name: t.model_dump(exclude_unset=True) for name, t in body.tasks.items()},
        principal=principal.name,
        now=state.clock(),
    )
    if not created:
        response.status_code = 200
    return _public(view, spec=False)


@router.get("", response_model=list[FlowPublic], summary="Recent flow runs")
def list_flows(
    _: Reader,
    session: ReadSession,
    flow: str | None = Query(default=None, max_length=200, pattern=NO_NUL),
    digest: str | None = Query(default=None, max_length=128, pattern=NO_NUL),
    state: str | None = Query(
        default=None, max_length=200, pattern=NO_NUL, description="Pending, Running, Succeeded or Failed"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    views = flow_store.list_runs(session, flow=flow, digest=digest, state=state, limit=limit)
    return [_public(v, spec=False) for v in views]


@router.get("/{run_id}", response_model=FlowPublic, summary="One flow run with its tasks' states")
def get_flow(_: Reader, session: ReadSession, run_id: str = RunId) -> Any:
    return _public(flow_store.get_run(session, run_id=run_id), spec=True)


@router.get(
    "/{run_id}/tasks/{task}/logs", response_class=PlainTextResponse, summary="A task's log text (text/plain)"
)
def get_task_logs(_: Reader, session: ReadSession, run_id: str = RunId, task: str = Task) -> Any:
    return PlainTextResponse(flow_store.get_task_log(session, run_id=run_id, task=task))
