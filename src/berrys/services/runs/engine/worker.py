"""The worker: claims task runs under leases and executes them until stopped.

Every write goes through its group commit (``commit.py``), which also claims work for the
slots it frees, so a successor starts the moment its predecessors allow; the poll is the
fallback for work made READY elsewhere. Heartbeats extend the leases; a task whose lease is
gone is cancelled and writes nothing more. A task that succeeds may hand its slot to a
successor at once (``continuation.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import select, update

from berrys.core.db import Database, utcnow
from berrys.services.runs.contracts import RunStatus, TaskRunStatus
from berrys.services.runs.engine import execution, presence, signals
from berrys.services.runs.engine.claiming import Claimed, Claimer
from berrys.services.runs.engine.commit import GroupCommitter, Tx
from berrys.services.runs.engine.continuation import Continuations
from berrys.services.runs.engine.execution import TaskRunner
from berrys.services.runs.engine.executor import TaskExecutor
from berrys.services.runs.engine.hooks import RunHooks
from berrys.services.runs.engine.journal import StepPolicy
from berrys.services.runs.engine.state import run_write, write
from berrys.services.runs.tables import Run, TaskRun

_log = structlog.get_logger("berrys.engine")
T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__


@dataclass
class EngineConfig:
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    poll_seconds: float = 0.25
    concurrency: int = 16
    # Tasks of one provider this worker runs at once ({"OPENAI": 4}); runs add their own.
    provider_limits: dict[str, int] = field(default_factory=dict)
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    default_timeout_seconds: float | None = 900.0
    maintenance_seconds: float = 0.5
    step_policy: StepPolicy = field(default_factory=StepPolicy)
    # A task that has run this long reads the successors it may start at once when it
    # succeeds (``continuation.py``); None: successors wait for the completion's commit.
    continuation_after_seconds: float | None = 0.005


@dataclass(eq=False)
class _Speculation:
    """A successor executing before its claim committed (a continuation)."""

    item: Claimed
    claimed: asyncio.Future[None]  # resolved when adopted, cancelled when abandoned
    task: asyncio.Task[None]


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims and executes task runs until stopped. Many may run, in many processes."""

    def __init__(
        self,
        database: Database,
        executor: TaskExecutor,
        *,
        hooks: RunHooks,
        config: EngineConfig | None = None,
        worker_id: str | None = None,
        run_ids: set[uuid.UUID] | None = None,
    ) -> None:
        self.database = database
        self.executor = executor
        self.hooks = hooks
        self.config = config or EngineConfig()
        self.worker_id = worker_id or default_worker_id()
        self.run_ids = run_ids
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        # Executing before their claim committed: continuations, and what the batch in
        # flight claimed. Adopted into ``_running`` once committed, abandoned if not.
        self._speculative: dict[uuid.UUID, _Speculation] = {}
        self._undecided: set[uuid.UUID] = set()  # of those, what no batch decided yet
        self._provider_of: dict[uuid.UUID, str] = {}
        self._run_of: dict[uuid.UUID, uuid.UUID] = {}
        # Tasks whose slot a committed batch already refilled: their end needs no wake-up.
        self._settled: set[uuid.UUID] = set()
        self._stopping = False
        self._draining = False  # claims nothing more; stops once its tasks are done
        self._away = False  # the database is unreachable (said once, until it is back)
        self._waker: signals.Waker | None = None
        self._last_maintenance = 0.0
        self._last_claim = 0.0
        self._writes: GroupCommitter | None = None
        self._runner: TaskRunner | None = None
        self._continuations: Continuations | None = None
        # Set once the worker is warm and has claimed what waited when it started.
        self.ready = asyncio.Event()
        self._claimer = Claimer(
            database,
            worker_id=self.worker_id,
            lease_seconds=self.config.lease_seconds,
            provider_limits=self.config.provider_limits,
            default_timeout_seconds=self.config.default_timeout_seconds,
            run_ids=run_ids,
        )

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping = True
        if self._waker is not None:
            self._waker.set()

    async def drain(self, grace_seconds: float) -> None:
        """Claim nothing more, let the tasks held finish for up to ``grace_seconds``, then
        stop: whatever still runs then is handed back (its lease released) as :meth:`run`
        ends, for another worker to take over at once."""
        self._draining = True
        self.wake()
        await self._guard(run_write(self.database, partial(self._beat, [])))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        while (working := self._working()) and (left := deadline - loop.time()) > 0:
            await asyncio.wait(working, timeout=left)
        _log.info("engine.drained", worker=self.worker_id, handed_back=len(self._working()))
        self.stop()

    def _working(self) -> list[asyncio.Task[None]]:
        return [*self._running.values(), *(s.task for s in self._speculative.values())]

    def wake(self) -> None:
        if self._waker is not None:
            self._waker.set()

    def prepared(self, task_id: uuid.UUID) -> bool:
        """Whether a successor of this running task may start the moment it succeeds."""
        return self._continuations is not None and self._continuations.prepared(task_id)

    async def run(self) -> None:
        """Claim and execute until :meth:`stop`; leases held at the end are released.

        Work made READY in this process is claimed in the very transaction that made it
        READY (a finished task's slot is refilled at once); the poll is the fallback for work
        made READY elsewhere (another process, a person's answer through the API)."""
        self._waker = signals.Waker()
        signals.register(self._waker)
        self._writes = self._assemble()
        await self._guard(self.warm())
        await self._guard(run_write(self.database, self._register))
        writer = asyncio.create_task(self._writes.run())
        heartbeat = asyncio.create_task(self._heartbeats())
        loop = asyncio.get_running_loop()
        woken = True
        try:
            while not self._stopping:
                self._waker.event.clear()
                # A poll finds nothing a group commit's claim of the last interval did not.
                polled = loop.time() - self._last_claim >= self.config.poll_seconds
                if (
                    not self._draining
                    and self.config.concurrency > len(self._running)
                    and (woken or (polled and await self._guard(self._waiting())))
                ):
                    await self._writes.request_claim()
                woken = False
                self.ready.set()  # warm, and what was waiting at the start is claimed
                if loop.time() - self._last_maintenance >= self.config.maintenance_seconds:
                    self._last_maintenance = loop.time()
                    await self._guard(self.maintain())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waker.event.wait(), self.config.poll_seconds)
                    woken = True
        finally:
            heartbeat.cancel()
            await self._shutdown(writer)

    def _assemble(self) -> GroupCommitter:
        """The worker's group committer, continuations and task runner."""
        writes = GroupCommitter(
            self.database,
            worker_id=self.worker_id,
            lease_seconds=self.config.lease_seconds,
            claim=self._claim,
            launch=self._launch,
            lease_lost=self._lease_lost,
            on_status=self.hooks.status_changed,
        )
        if self.config.continuation_after_seconds is not None:
            self._continuations = Continuations(
                self.database,
                self._claimer,
                after_seconds=self.config.continuation_after_seconds,
                start=self._speculate,
            )
        self._runner = TaskRunner(
            self.database,
            self.executor,
            writes,
            ask_person=self.hooks.ask_person,
            step_policy=self.config.step_policy,
            retry_base_seconds=self.config.retry_base_seconds,
            retry_max_seconds=self.config.retry_max_seconds,
            successors=self._continuations,
        )
        return writes

    async def warm(self) -> None:
        """Compile the hot statements before any work (one transaction that changes no row):
        SQLAlchemy compiles a statement on its first execution per engine, which would
        otherwise fall on the first claim and the first completions."""
        assert self._writes is not None
        nothing = [uuid.uuid4()]
        async with write(self.database) as session:
            await self._claimer.warm(session, nothing)
            await self._writes.warm(session, nothing)
            await execution.warm(session, nothing)

    async def _waiting(self) -> bool:
        self._last_claim = asyncio.get_running_loop().time()
        waiting = await self._claimer.waiting(list(self._running))
        if self._away:  # it answered: the database is back
            self._away = False
            _log.info("engine.database_back", worker=self.worker_id)
        return waiting

    async def _guard(self, work: Any) -> Any:
        """A database hiccup must not kill the loop: log it and try again next tick."""
        try:
            return await work
        except Exception as exc:
            await self._log_failure("engine.tick_failed", exc)
            return None

    async def _log_failure(self, event: str, exc: Exception) -> None:
        """A failure with its traceback; the database being away (a restart) once, since
        every tick until it is back fails the same way."""
        if not await self.database.outage(exc):
            _log.error(event, worker=self.worker_id, exc_info=exc)
        elif not self._away:
            self._away = True
            _log.warning("engine.database_unreachable", worker=self.worker_id, during=event)

    async def _shutdown(self, writer: asyncio.Task[None]) -> None:
        if self._continuations is not None:
            self._continuations.close()
        tasks = list(self._running.values()) + [s.task for s in self._speculative.values()]
        for task_id in list(self._speculative):
            self._abandon(task_id)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        assert self._writes is not None
        self._writes.close()
        with contextlib.suppress(BaseException):
            await writer
        # Let another worker take these over at once instead of waiting for the lease.
        with contextlib.suppress(Exception):

            async def _tx(session: Any) -> Any:
                await session.execute(
                    update(_task)
                    .where(_task.c.lease_owner == self.worker_id, _task.c.status == T.RUNNING)
                    .values(lease_expires_at=utcnow())
                )
                await presence.leave(session, worker_id=self.worker_id)

            await run_write(self.database, _tx)

    async def _register(self, session: Any) -> None:
        await presence.register(
            session,
            worker_id=self.worker_id,
            lease_seconds=self.config.lease_seconds,
            concurrency=self.config.concurrency,
        )

    def _launch(self, claimed: list[Claimed], followers: set[uuid.UUID]) -> None:
        """After a batch: adopt what it claimed (started early, or start it now) and abandon
        every other task started for it (``followers``, and its claims if it failed)."""
        assert self._runner is not None
        adopted = set()
        for item in claimed:
            task_id = item.snapshot.id
            self._provider_of[task_id] = item.snapshot.provider or ""
            self._run_of[task_id] = item.snapshot.run_id
            speculation = self._speculative.get(task_id)
            if speculation is not None and speculation.item is item:
                del self._speculative[task_id]
                task = speculation.task
                speculation.claimed.set_result(None)
                adopted.add(task_id)
            else:
                task = asyncio.create_task(self._runner.execute(item))
            self._running[task_id] = task
            task.add_done_callback(partial(self._ended, task_id))
        undecided, self._undecided = self._undecided, set()
        for task_id in (followers | undecided) - adopted:
            self._abandon(task_id)

    def _speculate(self, item: Claimed) -> bool:
        """Start ``item`` before its claim (a continuation), unless this worker may not now:
        stopping, READY work left untaken by its last claim, or the task already here."""
        task_id = item.snapshot.id
        if (
            self._stopping
            or self._draining
            or self._claimer.left_over
            or task_id in self._running
            or task_id in self._speculative
        ):
            return False
        self._start_early(item)
        return True

    def _start_early(self, item: Claimed) -> None:
        """Execute ``item`` before its claim committed (``TaskContext.confirmed``)."""
        assert self._runner is not None
        task_id = item.snapshot.id
        claimed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._runner.execute(item, claimed))
        self._speculative[task_id] = _Speculation(item, claimed, task)
        task.add_done_callback(partial(self._speculation_ended, task_id))

    def _abandon(self, task_id: uuid.UUID) -> None:
        """Its claim failed: it ends before writing anything (``TaskContext.confirmed``)."""
        speculation = self._speculative.pop(task_id, None)
        if speculation is not None:
            speculation.claimed.cancel()
            speculation.task.cancel()

    def _speculation_ended(self, task_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        speculation = self._speculative.get(task_id)
        if speculation is not None and speculation.task is task:
            del self._speculative[task_id]

    def _ended(self, task_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._running.pop(task_id, None)
        self._provider_of.pop(task_id, None)
        self._run_of.pop(task_id, None)
        if task_id in self._settled:
            self._settled.discard(task_id)
        else:
            self.wake()  # it ended without a write that refilled its slot

    def _lease_lost(self, task_id: uuid.UUID) -> None:
        task = self._running.get(task_id)
        if task is not None:
            _log.info("engine.lease_lost", task_run_id=str(task_id))
            task.cancel()

    # -- claiming ---------------------------------------------------------------------------
    # -- claiming ---------------------------------------------------------------------------
    async def _claim(
        self, tx: Tx, finished: set[uuid.UUID], followers: set[uuid.UUID]
    ) -> list[Claimed]:
        """Inside a group commit: claim READY work for the slots free once ``finished``
        tasks (whose last write is in this batch) are gone. ``followers`` (started by
        completions in this batch) are candidates like any other; the others executing
        speculatively are left alone (their own batch decides them)."""
        for task_id in self._undecided:  # started by an attempt of this batch undone since
            self._abandon(task_id)
        self._undecided.clear()
        self._settled.update(finished)
        # Tasks still working: not those whose last write is committed or in this batch
        # (their asyncio task may end a loop turn after the commit).
        busy_here = set(self._running) - self._settled
        # A task still working keeps its run RUNNING: any other change of it (a cancel, a
        # pause) goes through a transaction that recounts the run itself.
        tx.active.update(self._run_of[task_id] for task_id in busy_here)
        free = self.config.concurrency - len(busy_here)
        if free <= 0 or self._stopping or self._draining:
            return []
        self._last_claim = asyncio.get_running_loop().time()
        adopt = {
            task_id: self._speculative[task_id].item
            for task_id in followers
            if task_id in self._speculative
        }
        claimed = await self._claimer.claim(
            tx,
            free=free,
            # Never take over a task this worker is still executing, even one that has
            # written its last: its lease may have run out between heartbeats.
            executing=list(
                (set(self._running) - finished) | (set(self._speculative) - adopt.keys())
            ),
            mine=Counter(self._provider_of[task_id] for task_id in busy_here),
            adopt=adopt,
        )
        # A batch that frees no slot claims work made READY elsewhere (a new run, a resume,
        # an answer, a poll): what it claims starts now, while the batch ends and commits,
        # writing nothing and calling no tool before the commit (abandoned without it).
        # A batch that completes tasks is one of a stream: what it claims starts after
        # the commit, since starting early there only competes with the transaction for
        # the interpreter, and a chain's next task is already started by its predecessor.
        if not finished:
            for item in claimed:
                if item.snapshot.id not in self._speculative:
                    self._start_early(item)
                    self._undecided.add(item.snapshot.id)
        return claimed

    # -- leases ---------------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        """Renew the leases of the tasks held, and this worker's heartbeat, in one write."""
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            held = list(self._running)
            try:
                kept = await run_write(self.database, partial(self._beat, held))
            except Exception as exc:
                await self._log_failure("engine.heartbeat_failed", exc)
                continue
            for task_id in held:
                if task_id not in kept:
                    self._lease_lost(task_id)

    async def _beat(self, held: list[uuid.UUID], session: Any) -> set[uuid.UUID]:
        kept: set[uuid.UUID] = set()
        if held:
            until = utcnow() + timedelta(seconds=self.config.lease_seconds)
            kept = set(
                await session.scalars(
                    update(_task)
                    .where(
                        _task.c.id.in_(held),
                        _task.c.lease_owner == self.worker_id,
                        _task.c.status == T.RUNNING,
                    )
                    .values(lease_expires_at=until)
                    .returning(_task.c.id)
                )
            )
        await presence.beat(
            session,
            worker_id=self.worker_id,
            lease_seconds=self.config.lease_seconds,
            tasks_held=len(kept),
            draining=self._draining,
        )
        return kept

    # -- maintenance ------------------------------------------------------------------------
    async def maintain(self) -> None:
        """Expire due interactions and apply their escalation rules."""
        await self.hooks.expire_answers(self.database)


async def run_status(database: Database, run_id: uuid.UUID) -> RunStatus:
    async with database.transaction(read_only=True) as session:
        return RunStatus(
            (await session.execute(select(_run.c.status).where(_run.c.id == run_id))).scalar_one()
        )
