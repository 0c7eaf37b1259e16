"""Request dependencies: the store, a unit of work per request, API-key authentication."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from regard.errors import Unauthorized
from regard.privacy import service as keys
from regard.privacy.models import ApiKey
from regard.store.database import Store, unit_of_work


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


async def get_session(store: StoreDep) -> AsyncIterator[Session]:
    """The request owns the transaction: committed after the handler returns, else rolled back.

    An async generator on purpose: opening a session does no I/O, and the commit is one short
    call, so both run on the event loop instead of costing two more trips through the thread
    pool (which, with few threads, queue behind other requests' handlers).
    """
    with unit_of_work(store) as session:
        yield session


# "function" scope: commit before the response is sent, so a 2xx means the change is stored
# and a failed commit is answered as an error (FastAPI's default for yield dependencies,
# "request", would commit only after the client already had its answer).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False)


def read_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise Unauthorized("send a read key as 'Authorization: Bearer <key>'")
    return keys.authenticate(session, credentials.credentials, scope="read")


ReadKeyDep = Annotated[ApiKey, Depends(read_key)]


def write_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    if credentials is None:
        raise Unauthorized("send a write key as 'Authorization: Bearer <key>'")
    return keys.authenticate(session, credentials.credentials, scope="write")


WriteKeyDep = Annotated[ApiKey, Depends(write_key)]
