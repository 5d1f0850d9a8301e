"""Per-provider concurrency that holds across processes: calls in flight live in PostgreSQL.

Every process sharing a database (``berrys serve``, any number of ``berrys worker``) takes
a hold (a ``provider_hold`` row) before calling a provider and deletes it after. Taking one
locks the provider's ``provider_load`` row, counts the live holds and adds one only below
the limit, so the count is exact and the recorded ``peak`` is the true maximum. A hold
expires with its lease (renewed while the call lasts), so a killed process frees its slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.services.llm.contracts import ProviderLoadOut
from berrys.services.llm.tables import ProviderHold, ProviderLoad

_log = structlog.get_logger("berrys.llm")
_load = ProviderLoad.__table__
_hold = ProviderHold.__table__
# How often a process whose provider is full looks again for a slot another process freed
# (a slot freed in the same process wakes its waiters at once).
RETRY_SECONDS = 0.02


class SharedLimits:
    """One process's holds on provider slots in a PostgreSQL database."""

    def __init__(self, database: Database, *, lease_seconds: float) -> None:
        self.database = database
        self.lease_seconds = lease_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]
        self._freed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def hold(self, key: str, limit: int) -> AsyncIterator[None]:
        """A slot of provider ``key`` (at most ``limit`` in flight across every process)
        for the length of the block; waits while the provider is full."""
        hold_id = await self._acquire(key, limit)
        renewing = asyncio.create_task(self._renew(hold_id))
        try:
            yield
        finally:
            renewing.cancel()
            await self._release(hold_id)

    async def _acquire(self, key: str, limit: int) -> uuid.UUID:
        while True:
            freed = self._freed
            # A database away for a moment (a restart) delays the call, not fails it.
            hold_id = await self.database.when_reachable(partial(self._try, key, limit))
            if hold_id is not None:
                return hold_id
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), RETRY_SECONDS)

    async def _try(self, key: str, limit: int) -> uuid.UUID | None:
        """One attempt in one transaction: the provider's row locked first, so two
        processes never both count the same free slot."""
        now = utcnow()
        async with self.database.transaction() as session:
            await session.execute(
                pg_insert(_load)
                .values(key=key, slots=limit, peak=0)
                .on_conflict_do_update(index_elements=[_load.c.key], set_={"slots": limit})
            )
            await session.execute(delete(_hold).where(_hold.c.key == key, _hold.c.held_until < now))
            in_flight = await session.scalar(
                select(func.count()).select_from(_hold).where(_hold.c.key == key)
            )
            if (in_flight or 0) >= limit:
                return None
            hold_id = uuid.uuid4()
            until = now + timedelta(seconds=self.lease_seconds)
            await session.execute(
                insert(_hold).values(id=hold_id, key=key, holder=self.holder, held_until=until)
            )
            count = (in_flight or 0) + 1
            await session.execute(
                update(_load)
                .where(_load.c.key == key)
                .values(
                    peak=func.greatest(_load.c.peak, count),
                    peak_at=case((_load.c.peak < count, now), else_=_load.c.peak_at),
                )
            )
        return hold_id

    async def _renew(self, hold_id: uuid.UUID) -> None:
        """Keep the hold while the call lasts longer than a lease."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.database.write(
                    update(_hold)
                    .where(_hold.c.id == hold_id)
                    .values(held_until=utcnow() + timedelta(seconds=self.lease_seconds))
                )
            except Exception as exc:  # the database away: the hold may lapse, the call goes on
                _log.warning("llm.hold_renewal_failed", error=type(exc).__name__)

    async def _release(self, hold_id: uuid.UUID) -> None:
        try:
            await self.database.write(delete(_hold).where(_hold.c.id == hold_id))
        except Exception as exc:  # it expires with its lease instead
            _log.warning("llm.hold_release_failed", error=type(exc).__name__)
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()


async def loads(session: AsyncSession) -> list[ProviderLoadOut]:
    """Each provider's limit, calls in flight now and the most ever at once."""
    now = utcnow()
    live = (
        select(func.count())
        .where(_hold.c.key == _load.c.key, _hold.c.held_until >= now)
        .scalar_subquery()
    )
    rows = await session.execute(select(_load, live.label("in_flight")).order_by(_load.c.key))
    return [ProviderLoadOut.model_validate(dict(row._mapping)) for row in rows]


def shared(database: Database, *, lease_seconds: float) -> SharedLimits | None:
    """The shared limits when processes may share the database (PostgreSQL); on SQLite one
    process runs the engine, and its in-process limits are the limits."""
    return None if database.is_sqlite else SharedLimits(database, lease_seconds=lease_seconds)
