"""FastAPI dependencies: the process's service objects, database sessions and the caller.

Routes declare what they need (`Reader`, `Admin`, `ReadSession`, ...) and stay thin; the objects
themselves are built once in `app.create_app` and kept in `app.state.rtfit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from .auth import Principal, TokenStore
from .catalog_state import CatalogHolder
from .db import Database
from .heartbeats import HeartbeatService
from .metrics import Metrics
from .selection import SelectionService
from .settings import Settings
from .usability import UsabilityCheck

__all__ = [
    "Admin",
    "AnyPrincipal",
    "BEARER",
    "ReadSession",
    "Reader",
    "ServiceState",
    "State",
    "WriteSession",
    "service_state",
]

_bearer = HTTPBearer(auto_error=False, description="a token made with `rtfit token new`")
# For a route that authenticates by itself (the heartbeat): documents the bearer scheme only.
BEARER = Depends(_bearer)


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    tokens: TokenStore
    holder: CatalogHolder
    heartbeats: HeartbeatService
    selection: SelectionService
    metrics: Metrics
    clock: Callable[[], float]
    usability: UsabilityCheck = field(default_factory=UsabilityCheck)


async def service_state(request: Request) -> ServiceState:
    return request.app.state.rtfit


State = Annotated[ServiceState, Depends(service_state)]


async def _authenticated(
    request: Request, _creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Principal:
    # async: hashing a token and a stat() of the tokens file are too cheap for a thread hop.
    principal = request.app.state.rtfit.tokens.authenticate(request.headers.get("authorization"))
    request.state.principal_name = principal.name
    return principal


def _role(role: str) -> Callable[..., Principal]:
    async def check(principal: Principal = Depends(_authenticated)) -> Principal:
        principal.require(role)
        return principal

    return check


def _read_session(request: Request) -> Iterator[Session]:
    with request.app.state.rtfit.db.read_session() as session:
        yield session


def _write_session(request: Request) -> Iterator[Session]:
    with request.app.state.rtfit.db.write_session() as session:
        yield session


AnyPrincipal = Annotated[Principal, Depends(_authenticated)]
Reader = Annotated[Principal, Depends(_role("reader"))]
Admin = Annotated[Principal, Depends(_role("admin"))]
ReadSession = Annotated[Session, Depends(_read_session)]
WriteSession = Annotated[Session, Depends(_write_session)]
