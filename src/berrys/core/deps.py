"""FastAPI dependencies every router shares, as named types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.background import Background
from berrys.core.contracts import MAX_INT
from berrys.core.db import Database

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.services.database
    return database


async def get_background(request: Request) -> Background:
    background: Background = request.app.state.services.background
    return background


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error.

    Function-scoped (see ``Session``), so it commits before the response is sent: a client
    never reads a success that a failing commit then undoes, and a streamed response holds
    no transaction while it streams. The connection is taken on the first statement, so a
    request that never uses its session costs no database round trip.
    """
    database: Database = request.app.state.services.database
    async with database.transaction(read_only=request.method in _READ_METHODS) as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
# The application's background work: what a request starts to outlive it.
BackgroundDep = Annotated[Background, Depends(get_background)]
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def dependency_reads(
    request: Request, session: AsyncSession
) -> AbstractAsyncContextManager[AsyncSession]:
    """Where a dependency of the request (the caller, an access check) reads.

    On GET, HEAD and OPTIONS: in the route's own read-only ``session``, so the caller, the
    project and the route cost one transaction, not one each. Everywhere else a short
    read-only transaction of its own: a write route's transaction begins only when the
    route itself writes. So does any route that takes the ``Database`` somewhere in its
    dependencies: it opens short transactions around a model, a tool or a stream (and holds
    none while it waits), or writes before the route reads (seeding), which a snapshot taken
    earlier by the caller's lookup would not see.

    A function, not a dependency: FastAPI's cost per request grows with every node of the
    dependency graph, and this runs on every authenticated request.
    """
    if request.method in _READ_METHODS:
        route = request.scope.get("route")
        if isinstance(route, APIRoute) and not _takes_database(route):
            return nullcontext(session)
    database: Database = request.app.state.services.database
    return database.transaction(read_only=True)


def _takes_database(route: APIRoute) -> bool:
    # A walk of a handful of nodes: cheaper than anything that would cache it.
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call is get_database:
            return True
        pending.extend(dependant.dependencies)
    return False


class Page:
    """``limit`` (default 50, max 200) and ``offset`` for every list."""

    def __init__(self, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


async def get_page(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> Page:
    # A coroutine, not the class itself: FastAPI runs a plain callable in a worker thread.
    return Page(limit, offset)


PageDep = Annotated[Page, Depends(get_page)]
