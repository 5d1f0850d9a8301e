"""Group commit: every write of one worker goes through one writer coroutine.

Tasks queue their writes; the writer applies everything queued in one transaction (leases
checked and extended once, steps, state changes, completions with successors made READY, new
work claimed, each run's events in order and its status once), commits, and only then
resolves the waiters and confirms the claims: nothing is acknowledged before its commit.
When the database is away the writer waits, backing off, and commits the same writes later.
A completion may carry a follower started early (``continuation.py``): adopted if the batch's
claim chooses it, abandoned otherwise. docs/architecture.md gives the guarantees.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from berrys.core.db import (
    OUTAGE_FIRST_RETRY_SECONDS,
    OUTAGE_MAX_RETRY_SECONDS,
    Database,
    utcnow,
)
from berrys.services.runs.contracts import TaskRunStatus
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.hooks import OnStatusChange
from berrys.services.runs.engine.state import ids_param, one_of, settle_run, write
from berrys.services.runs.tables import Run, TaskRun

_log = structlog.get_logger("berrys.engine")
_task = TaskRun.__table__
_run = Run.__table__

STEPS, CHANGES, COMPLETIONS = 0, 1, 2


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: stop, write nothing."""


class LeaseMismatch(Exception):
    """A write that checks its task's lease itself found it gone: the batch is undone and
    done again with every lease checked first."""


@dataclass
class Tx:
    """One group transaction: the connection and the events each run gets at its end."""

    session: AsyncConnection
    # SQLite reports the rows an executemany changed: a write that checks its task's lease
    # in its own WHERE may trust the count (raise LeaseMismatch) instead of a check first.
    trust_rowcount: bool = False
    events: dict[uuid.UUID, list[Event]] = field(default_factory=dict)
    refresh: set[uuid.UUID] = field(default_factory=set)
    spent: dict[uuid.UUID, tuple[float, int]] = field(default_factory=dict)
    # Runs with a task RUNNING under this worker's lease once the batch commits.
    active: set[uuid.UUID] = field(default_factory=set)
    # The runs whose rows the batch's writes locked (PostgreSQL): a claim needs not lock
    # them again, and takes no other run's lock by waiting, which could wait on a batch
    # waiting for these.
    locked_runs: set[uuid.UUID] = field(default_factory=set)

    def emit(self, run_id: uuid.UUID, events: list[Event], *, refresh: bool = True) -> None:
        """Queue ``events`` for the run (in order); ``refresh`` recomputes its status."""
        self.events.setdefault(run_id, []).extend(events)
        if refresh:
            self.refresh.add(run_id)

    def spend(self, run_id: uuid.UUID, cost_usd: float, tokens: int) -> None:
        cost, count = self.spent.get(run_id, (0.0, 0))
        self.spent[run_id] = (cost + cost_usd, count + tokens)


# Applies the payloads of every write of a batch that shares it; returns one result each.
Apply = Callable[[Tx, list[Any]], Awaitable[list[Any] | None]]


@dataclass(eq=False)
class Write:
    stage: int  # STEPS, CHANGES, COMPLETIONS: a batch applies them in this order
    apply: Apply
    payload: Any
    task_id: uuid.UUID | None  # the task whose lease the write needs
    run_id: uuid.UUID | None  # the run whose row it locks (PostgreSQL)
    terminal: bool  # the task gives up its slot with it
    future: asyncio.Future[Any] | None
    checks_lease: bool = False  # its statement holds the lease condition (see Tx)
    # A successor started speculatively that this write (a completion) makes READY.
    follower: uuid.UUID | None = None


# ``claim(tx, finished, followers)`` takes new work inside the batch (``finished``: tasks
# whose slot the batch frees; ``followers``: successors already started speculatively by
# completions in it); ``launch(claimed, followers)`` starts it once committed and settles
# every follower the batch decided (adopted if claimed, abandoned if not).
Claim = Callable[[Tx, set[uuid.UUID], set[uuid.UUID]], Awaitable[list[Any]]]
Launch = Callable[[list[Any], set[uuid.UUID]], None]


class GroupCommitter:
    def __init__(
        self,
        database: Database,
        *,
        worker_id: str,
        lease_seconds: float,
        claim: Claim,
        launch: Launch,
        lease_lost: Callable[[uuid.UUID], None],
        on_status: OnStatusChange,
    ) -> None:
        self.database = database
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._claim = claim
        self._launch = launch
        self._lease_lost = lease_lost
        self._on_status = on_status
        self._queue: list[Write] = []
        self._claim_waiters: list[asyncio.Future[None]] = []
        self._wanted = asyncio.Event()
        self._closing = False

    # -- queueing -----------------------------------------------------------------------------
    def submit(
        self,
        apply: Apply,
        payload: Any = None,
        *,
        stage: int = CHANGES,
        task_id: uuid.UUID | None = None,
        run_id: uuid.UUID | None = None,
        terminal: bool = False,
        wait: bool = True,
        checks_lease: bool = False,
        follower: uuid.UUID | None = None,
    ) -> asyncio.Future[Any] | None:
        """Queue a write; with ``wait`` a future resolved once it is committed."""
        future = asyncio.get_running_loop().create_future() if wait else None
        self._queue.append(
            Write(stage, apply, payload, task_id, run_id, terminal, future, checks_lease, follower)
        )
        self._wanted.set()
        return future

    async def write(self, apply: Apply, payload: Any = None, **kwargs: Any) -> Any:
        """Queue a write and wait for its commit; its result."""
        future = self.submit(apply, payload, **kwargs)
        assert future is not None
        return await future

    async def write_one(self, body: Callable[[Tx], Awaitable[Any]], **kwargs: Any) -> Any:
        """``body(tx)`` as a write of its own in the next batch; its result once committed."""

        async def apply(tx: Tx, _: list[Any]) -> list[Any]:
            return [await body(tx)]

        return await self.write(apply, **kwargs)

    def request_claim(self) -> asyncio.Future[None]:
        """Ask the next batch to claim work; resolved once that batch committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._claim_waiters.append(future)
        self._wanted.set()
        return future

    def close(self) -> None:
        """The writer commits what is queued, then ends."""
        self._closing = True
        self._wanted.set()

    # -- the writer ---------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            # One turn of the loop lets the tasks already woken queue their writes too (a
            # task records its model step, then completes): one transaction for both.
            await asyncio.sleep(0)
            self._wanted.clear()
            writes, self._queue = self._queue, []
            waiters, self._claim_waiters = self._claim_waiters, []
            claim = bool(waiters) or any(w.terminal for w in writes)
            if self._closing:
                claim = False
            if writes or claim:
                await self._commit(writes, claim=claim)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            if self._closing and not self._queue:
                return

    async def _commit(self, writes: list[Write], *, claim: bool) -> None:
        away_since: float | None = None
        delay = OUTAGE_FIRST_RETRY_SECONDS
        while True:
            followers = {w.follower for w in writes if w.follower is not None}
            try:
                try:
                    results, claimed = await self._transaction(writes, claim=claim)
                except LeaseMismatch:
                    results, claimed = await self._transaction(writes, claim=claim, verify=True)
                break
            except Exception as exc:
                # Nothing of this batch holds: what it started early (its followers, its
                # claims) is abandoned before anything is done again.
                self._launch([], followers)
                for single in writes:
                    single.follower = None
                if self._closing or not await self.database.outage(exc):
                    await self._failed(writes, exc, claim=claim)
                    return
            if away_since is None:
                away_since = time.monotonic()
                _log.warning("engine.database_unreachable", worker=self.worker_id)
            await asyncio.sleep(delay)  # the database is away: the same batch again later
            delay = min(delay * 2, OUTAGE_MAX_RETRY_SECONDS)
        if away_since is not None:
            waited = round(time.monotonic() - away_since, 3)
            _log.info("engine.database_back", worker=self.worker_id, waited_seconds=waited)
        for single, result in zip(writes, results, strict=True):
            _settle(single, result)
        self._launch(claimed, followers)

    async def _failed(self, writes: list[Write], exc: Exception, *, claim: bool) -> None:
        """A batch failed, the database answering: one bad write must not fail the others,
        so each is tried alone, then the claim; a write failing alone gets its error."""
        if len(writes) > 1:
            for single in writes:
                await self._commit([single], claim=False)
            if claim:
                await self._commit([], claim=True)
            return
        _log.exception("engine.write_failed", worker=self.worker_id)
        for single in writes:
            _settle(single, exc)

    async def _transaction(
        self, writes: list[Write], *, claim: bool, verify: bool = False
    ) -> tuple[list[Any], list[Any]]:
        """One group transaction; ``verify`` checks every lease first, even those a write
        checks itself."""
        results: dict[int, Any] = {}
        async with write(self.database) as session:
            tx = Tx(session, trust_rowcount=self.database.is_sqlite and not verify)
            tx.locked_runs = await self._lock_runs(session, writes)
            live = await self._live(tx, writes, results)
            await _apply(tx, live, results)
            finished = {
                single.task_id
                for _, single in live
                if single.terminal and single.task_id is not None
            }
            tx.active.update(
                single.run_id
                for _, single in live
                if single.run_id is not None and single.task_id not in finished | {None}
            )
            # Followers of the completions in this batch whose lease holds.
            followers = {single.follower for _, single in live if single.follower is not None}
            claimed = await self._claim(tx, finished, followers) if claim else []
            await self._settle_runs(tx)
        return [results[index] for index in range(len(writes))], claimed

    async def _lock_runs(self, session: AsyncConnection, writes: list[Write]) -> set[uuid.UUID]:
        """On PostgreSQL the batch's runs first, in one order: the order every state change
        takes locks in (SQLite's write lock is already the batch's). The runs locked."""
        runs = sorted({w.run_id for w in writes if w.run_id is not None})
        if not runs or self.database.is_sqlite:
            return set()
        await session.execute(
            select(_run.c.id).where(_run.c.id.in_(runs)).order_by(_run.c.id).with_for_update()
        )
        return set(runs)

    async def _live(
        self, tx: Tx, writes: list[Write], results: dict[int, Any]
    ) -> list[tuple[int, Write]]:
        """The writes whose task's lease this worker holds (with their index); the others
        get :class:`LeaseLost` in ``results``."""
        # A task whose last write checks its lease itself needs no check before: if the
        # lease is gone, that write undoes the whole batch (all the task's writes too).
        checked = {
            w.task_id
            for w in writes
            if w.checks_lease and tx.trust_rowcount and w.task_id is not None
        }
        ending = {w.task_id for w in writes if w.terminal and w.task_id} - checked
        going_on = {w.task_id for w in writes if w.task_id} - ending - checked
        held = await self._hold_leases(tx.session, going_on, ending)
        held |= checked
        live = []
        for index, single in enumerate(writes):
            if single.task_id is not None and single.task_id not in held:
                results[index] = LeaseLost(str(single.task_id))
            else:
                live.append((index, single))
        return live

    async def _settle_runs(self, tx: Tx) -> None:
        """Each run the batch touched: its events, spending and status, once."""
        for run_id in sorted(set(tx.events) | tx.refresh | set(tx.spent)):
            cost, tokens = tx.spent.get(run_id, (0.0, 0))
            await settle_run(
                tx.session,
                run_id,
                tx.events.get(run_id, []),
                refresh=run_id in tx.refresh,
                active=run_id in tx.active,
                on_status=self._on_status,
                cost_usd=cost,
                tokens=tokens,
            )

    async def warm(self, session: AsyncConnection, nothing: list[uuid.UUID]) -> None:
        """Run the lease statements once on ids that match nothing (see ``Worker.warm``)."""
        extend, held = _LEASES[self.database.is_sqlite]
        params = {
            "ids": ids_param(nothing, sqlite=self.database.is_sqlite),
            "owner": self.worker_id,
        }
        await session.execute(extend, {**params, "until": utcnow()})
        await session.execute(held, params)

    async def _hold_leases(
        self, session: AsyncConnection, going_on: set[uuid.UUID], ending: set[uuid.UUID]
    ) -> set[uuid.UUID]:
        """The tasks among ``going_on`` and ``ending`` whose lease this worker holds; those
        going on have it extended. A task that ends in this batch gives its lease up with
        its write, so it is only checked (no write to its row and its index here)."""
        sqlite = self.database.is_sqlite
        extend, check = _LEASES[sqlite]
        held: set[uuid.UUID] = set()
        if going_on:
            until = utcnow() + timedelta(seconds=self.lease_seconds)
            ids = ids_param(going_on, sqlite=sqlite)
            held.update(
                await session.scalars(extend, {"ids": ids, "owner": self.worker_id, "until": until})
            )
        if ending:
            ids = ids_param(ending, sqlite=sqlite)
            held.update(await session.scalars(check, {"ids": ids, "owner": self.worker_id}))
        for task_id in (going_on | ending) - held:
            self._lease_lost(task_id)
        return held


# Built once (per dialect, see ``one_of``): SQLAlchemy keys its compiled-statement cache on
# the statement object.
def _lease_statements(sqlite: bool) -> tuple[Any, Any]:
    """(extend the leases held, check them) of the tasks bound as ``ids``."""
    mine = (
        one_of(_task.c.id, "ids", sqlite=sqlite),
        _task.c.lease_owner == bindparam("owner"),
        _task.c.status == TaskRunStatus.RUNNING,
    )
    extend = (
        update(_task)
        .where(*mine)
        .values(lease_expires_at=bindparam("until", type_=_task.c.lease_expires_at.type))
        .returning(_task.c.id)
    )
    held = select(_task.c.id).where(*mine)
    # SQLite's write lock is already the batch's; PostgreSQL locks the rows.
    return extend, held if sqlite else held.with_for_update()


_LEASES = {False: _lease_statements(False), True: _lease_statements(True)}  # by is_sqlite


async def _apply(tx: Tx, live: list[tuple[int, Write]], results: dict[int, Any]) -> None:
    """The live writes by stage, those sharing an ``apply`` in one call; their results."""
    groups: dict[tuple[int, int], tuple[Apply, list[tuple[int, Write]]]] = {}
    for index, single in sorted(live, key=lambda item: (item[1].stage, item[0])):
        key = (single.stage, id(single.apply))
        groups.setdefault(key, (single.apply, []))[1].append((index, single))
    for apply, members in groups.values():
        answers = await apply(tx, [single.payload for _, single in members])
        for position, (index, _) in enumerate(members):
            results[index] = answers[position] if answers is not None else None


def _settle(single: Write, result: Any) -> None:
    if single.future is None or single.future.done():
        return
    if isinstance(result, BaseException):
        single.future.set_exception(result)
    else:
        single.future.set_result(result)
