"""Selection: `POST /v1/select` answers exactly the Contract 3 object; infeasible is a 200 answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Reader, State
from ..schemas import BatchSelectCreate, SelectCreate

__all__ = ["router"]

router = APIRouter(prefix="/v1/select", tags=["selection"])


@router.post("", summary="Where, and with which runtime, can this model run? (Contract 3 object)")
async def select(body: SelectCreate, principal: Reader, state: State) -> dict[str, Any]:
    return await state.selection.select(body, principal)


@router.post("/batch", summary="Place several models at once on the live inventory")
async def select_batch(body: BatchSelectCreate, principal: Reader, state: State) -> dict[str, Any]:
    return await state.selection.select_batch(body, principal)
