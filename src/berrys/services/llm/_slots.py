"""Per-provider concurrency that holds across processes: calls in flight live in PostgreSQL.

Every process sharing a database (``berrys serve``, any number of ``berrys worker``) takes
a hold (a ``provider_hold`` row) before calling a provider. Taking one locks the provider's
``provider_load`` row, counts the live holds and adds one only below the limit, so the
count is exact and the recorded ``peak`` is the true maximum. A freed hold stays the
process's for its next call for a moment (``KEEP_SECONDS``; ``SHARE_AFTER_SECONDS`` in all),
then is deleted. A hold expires with its lease (renewed while held), so a killed process
frees its slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.services.llm.contracts import ProviderLoadOut
from berrys.services.llm.tables import ProviderHold, ProviderLoad

_log = structlog.get_logger("berrys.llm")
_load = ProviderLoad.__table__
_hold = ProviderHold.__table__
# Takes (and creates) the provider's row lock, setting its limit as this process sees it.
_LOCK = (
    pg_insert(_load)
    .values(key=bindparam("key"), slots=bindparam("limit"), peak=0)
    .on_conflict_do_update(index_elements=[_load.c.key], set_={"slots": bindparam("limit")})
)
# Under that lock (a later statement, so its snapshot sees every hold committed before):
# expired holds dropped, live ones counted, one added below the limit, the peak raised.
_TAKE = text(
    """
    WITH expired AS (
        DELETE FROM provider_hold WHERE key = :key AND held_until < :now
    ), live AS (
        SELECT count(*) AS n FROM provider_hold WHERE key = :key AND held_until >= :now
    ), taken AS (
        INSERT INTO provider_hold (id, key, holder, held_until)
        SELECT CAST(:id AS uuid), CAST(:key AS varchar), CAST(:holder AS varchar),
               CAST(:until AS timestamptz)
        FROM live WHERE live.n < :limit
        RETURNING id
    )
    UPDATE provider_load SET
        peak = greatest(peak, (SELECT n FROM live) + 1),
        peak_at = CASE WHEN peak < (SELECT n FROM live) + 1 THEN :now ELSE peak_at END
    WHERE key = :key AND EXISTS (SELECT 1 FROM taken)
    RETURNING key
    """
).bindparams(
    bindparam("now", type_=_hold.c.held_until.type),
    bindparam("until", type_=_hold.c.held_until.type),
    bindparam("id", type_=_hold.c.id.type),
)
# How often a process whose provider is full looks again for a slot another process freed
# (a slot freed in the same process wakes its waiters at once).
RETRY_SECONDS = 0.02
# A freed slot stays this process's for this long, for its next call: a worker's next task
# calls the same provider within milliseconds, and taking and freeing a slot in the database
# are two transactions per call. Past it the hold is deleted.
KEEP_SECONDS = 0.25
# A hold is given back to the database once this old, however busy the process: a process
# at the limit does not keep slots from the others waiting for one.
SHARE_AFTER_SECONDS = 1.0


@dataclass(eq=False)
class _Hold:
    id: uuid.UUID
    key: str
    taken_at: float  # monotonic
    idle_since: float | None = None  # kept for the next call since then (None: in use)


class SharedLimits:
    """One process's holds on provider slots in a PostgreSQL database."""

    def __init__(self, database: Database, *, lease_seconds: float) -> None:
        self.database = database
        self.lease_seconds = lease_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"[:100]
        self._freed = asyncio.Event()
        self._holds: dict[uuid.UUID, _Hold] = {}  # in use or kept, by id
        self._kept: dict[str, list[_Hold]] = {}  # the kept ones, by provider key
        self._upkeep: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def hold(self, key: str, limit: int) -> AsyncIterator[None]:
        """A slot of provider ``key`` (at most ``limit`` in flight across every process)
        for the length of the block; waits while the provider is full."""
        held = self._reuse(key) or await self._acquire(key, limit)
        if self._upkeep is None or self._upkeep.done():
            self._upkeep = asyncio.create_task(self._keep_up())
        try:
            yield
        finally:
            await self._give_back(held)

    def _reuse(self, key: str) -> _Hold | None:
        """A hold this process kept from its last call, still young enough to use."""
        kept = self._kept.get(key)
        if not kept:
            return None
        held = kept.pop()
        held.idle_since = None
        return held

    async def _give_back(self, held: _Hold) -> None:
        """Keep the hold for this process's next call, or delete it once it is old."""
        now = time.monotonic()
        if now - held.taken_at >= SHARE_AFTER_SECONDS:
            await self._release([held])
        else:
            held.idle_since = now
            self._kept.setdefault(held.key, []).append(held)
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()

    async def _acquire(self, key: str, limit: int) -> _Hold:
        while True:
            freed = self._freed
            # A database away for a moment (a restart) delays the call, not fails it.
            hold_id = await self.database.when_reachable(partial(self._try, key, limit))
            if hold_id is not None:
                held = self._holds[hold_id] = _Hold(hold_id, key, time.monotonic())
                return held
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), RETRY_SECONDS)
            kept = self._reuse(key)  # freed here by a call that ended meanwhile
            if kept is not None:
                return kept

    async def _try(self, key: str, limit: int) -> uuid.UUID | None:
        """One attempt in one transaction of two statements: the provider's row locked
        first, so two processes never both count the same free slot; then, in one
        statement, the live holds counted and one added below the limit, with the peak."""
        now = utcnow()
        hold_id = uuid.uuid4()
        until = now + timedelta(seconds=self.lease_seconds)
        async with self.database.engine.begin() as connection:
            await connection.execute(_LOCK, {"key": key, "limit": limit})
            taken = await connection.execute(
                _TAKE,
                {
                    "key": key,
                    "limit": limit,
                    "now": now,
                    "id": hold_id,
                    "holder": self.holder,
                    "until": until,
                },
            )
            return hold_id if taken.first() is not None else None

    async def _keep_up(self) -> None:
        """While this process holds slots: delete the ones kept unused past
        ``KEEP_SECONDS``, and renew the leases of the others before they lapse."""
        renewed = time.monotonic()
        while self._holds:
            await asyncio.sleep(KEEP_SECONDS / 2)
            now = time.monotonic()
            idle = [h for h in self._holds.values() if _idle_for(h, now) >= KEEP_SECONDS]
            if idle:
                await self._release(idle)
            if now - renewed >= self.lease_seconds / 3 and self._holds:
                renewed = now
                await self._renew(list(self._holds))

    async def _renew(self, hold_ids: list[uuid.UUID]) -> None:
        """Keep the holds while calls last longer than a lease."""
        try:
            await self.database.write(
                update(_hold)
                .where(_hold.c.id.in_(hold_ids))
                .values(held_until=utcnow() + timedelta(seconds=self.lease_seconds))
            )
        except Exception as exc:  # the database away: the holds may lapse, the calls go on
            _log.warning("llm.hold_renewal_failed", error=type(exc).__name__)

    async def _release(self, holds: list[_Hold]) -> None:
        for held in holds:
            self._holds.pop(held.id, None)
            kept = self._kept.get(held.key, [])
            if held in kept:
                kept.remove(held)
        try:
            await self.database.write(delete(_hold).where(_hold.c.id.in_([h.id for h in holds])))
        except Exception as exc:  # they expire with their lease instead
            _log.warning("llm.hold_release_failed", error=type(exc).__name__)

    async def aclose(self) -> None:
        """Give back every slot this process holds."""
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(BaseException):
                await self._upkeep
        if self._holds:
            await self._release(list(self._holds.values()))


def _idle_for(held: _Hold, now: float) -> float:
    return 0.0 if held.idle_since is None else now - held.idle_since


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
