"""The model registry: Contract 1 requests stored by name (validated by the solver's parser)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Response

from ..deps import Admin, Reader, ReadSession, State, WriteSession
from ..errors import InvalidInput
from ..schemas import NO_NUL, ModelCreate, ModelPublic
from ..storage import models as model_store

__all__ = ["router"]

router = APIRouter(prefix="/v1/models", tags=["models"])
ModelName = Path(max_length=253, pattern=NO_NUL)


def _validate_request(request: dict[str, Any]) -> None:
    try:
        import solver
        from solver.errors import InvalidRequest
    except ImportError:
        return
    parse = getattr(solver, "parse_request", None)
    if parse is None:
        return
    try:
        parse(request)
    except InvalidRequest as e:
        field = f"request.{e.field}" if e.field else "request"
        raise InvalidInput(f"{field}: {e.reason}", field=field) from e


@router.post("", status_code=201, response_model=ModelPublic, summary="Register a model request (admin)")
def create_model(body: ModelCreate, _: Admin, session: WriteSession, state: State) -> Any:
    _validate_request(body.request)
    return model_store.create_model(session, name=body.name, request=body.request, now=state.clock())


@router.get("", response_model=list[ModelPublic], summary="All registered models")
def list_models(_: Reader, session: ReadSession) -> Any:
    return model_store.list_models(session)


@router.get("/{name}", response_model=ModelPublic, summary="One registered model")
def get_model(_: Reader, session: ReadSession, name: str = ModelName) -> Any:
    return model_store.get_model(session, name=name)


@router.delete("/{name}", status_code=204, summary="Remove a registered model (admin)")
def delete_model(_: Admin, session: WriteSession, name: str = ModelName) -> Response:
    model_store.delete_model(session, name=name)
    return Response(status_code=204)
