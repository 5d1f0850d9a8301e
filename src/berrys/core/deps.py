"""FastAPI dependencies every router shares, as named types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.config import Settings
from berrys.core.db import Database

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    database: Database = request.app.state.database
    async with database.transaction(read_only=request.method in _READ_METHODS) as session:
        yield session


class Page:
    """``limit`` (default 50, max 200) and ``offset`` for every list."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=200, description="Items per page.")] = 50,
        offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
Session = Annotated[AsyncSession, Depends(get_session)]
PageDep = Annotated[Page, Depends()]
