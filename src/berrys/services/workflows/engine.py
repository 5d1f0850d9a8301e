"""The scheduler: workers claim READY task runs under leases and execute them.

Every write of a worker goes through its group commit (``commit.py``): the tasks that finish
while one transaction commits are completed together in the next, which also makes their
successors READY and claims work for the slots they free — so a successor starts the moment
its own predecessors allow, with no poll in between. A claim selects READY task runs (past
any retry back-off) and RUNNING ones whose lease expired, longest remaining critical path
first — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, inside ``BEGIN IMMEDIATE`` on SQLite —
filters them by the run's and the provider's concurrency limits, and gives them this
worker's lease in one UPDATE with their events. The poll is the fallback for work made READY
elsewhere. Heartbeats extend the leases; a task whose lease is gone is cancelled here and
writes nothing more. No transaction is ever held across a model or tool call.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update

from berrys.core.db import Database, utcnow
from berrys.core.enums import (
    ApprovalSubject,
    DependencyType,
    Priority,
    RejectionPolicy,
    RunEventType,
    RunStatus,
    TaskRunStatus,
)
from berrys.services.workflows import signals
from berrys.services.workflows.commit import (
    COMPLETIONS,
    GroupCommitter,
    LeaseLost,
    LeaseMismatch,
    Tx,
)
from berrys.services.workflows.events import Event
from berrys.services.workflows.executor import PermanentTaskError, TaskExecutor, TaskOutcome
from berrys.services.workflows.journal import (
    Diverged,
    StepPolicy,
    Suspended,
    TaskContext,
    TaskRejected,
    TaskSnapshot,
    backoff,
)
from berrys.services.workflows.state import (
    DONE,
    RUN_TERMINAL,
    finish_gate,
    predecessors_of,
    propagate,
    run_write,
)
from berrys.services.workflows.tables import Artifact, Run, Step, TaskRun, TaskRunDependency

_log = structlog.get_logger("berrys.engine")
T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__
_dep = TaskRunDependency.__table__
_step = Step.__table__
_artifact = Artifact.__table__
_pred = _task.alias("upstream_task")
_busy = _task.alias("busy")


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


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class _RunFacts:
    """What a worker keeps about a run: fixed when the run is created."""

    project_id: uuid.UUID
    options: dict[str, Any]
    max_concurrency: int
    provider_limits: dict[str, int]
    start_edges: bool  # SS/SF dependencies: a start can make another task move


@dataclass
class _Claimed:
    snapshot: TaskSnapshot
    recorded: dict[int, Any]
    timeout: float | None


class Worker:
    """Claims and executes task runs until stopped. Many may run, in many processes."""

    def __init__(
        self,
        database: Database,
        executor: TaskExecutor,
        *,
        config: EngineConfig | None = None,
        worker_id: str | None = None,
        run_ids: set[uuid.UUID] | None = None,
    ) -> None:
        self.database = database
        self.executor = executor
        self.config = config or EngineConfig()
        self.worker_id = worker_id or default_worker_id()
        self.run_ids = run_ids
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._provider_of: dict[uuid.UUID, str] = {}
        self._run_of: dict[uuid.UUID, uuid.UUID] = {}
        # Tasks whose slot a committed batch already refilled: their end needs no wake-up.
        self._settled: set[uuid.UUID] = set()
        self._stopping = False
        self._waker: signals.Waker | None = None
        self._last_maintenance = 0.0
        self._last_claim = 0.0
        self._writes: GroupCommitter | None = None
        self._run_facts: dict[uuid.UUID, _RunFacts] = {}
        self._candidates = self._candidate_query()

    # -- lifecycle --------------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping = True
        if self._waker is not None:
            self._waker.set()

    def wake(self) -> None:
        if self._waker is not None:
            self._waker.set()

    async def run(self) -> None:
        """Claim and execute until :meth:`stop`; leases held at the end are released.

        Work made READY in this process is claimed in the very transaction that made it
        READY (a finished task's slot is refilled at once); the poll is the fallback for work
        made READY elsewhere (another process, a person's answer through the API)."""
        self._waker = signals.Waker()
        signals.register(self._waker)
        self._writes = GroupCommitter(
            self.database,
            worker_id=self.worker_id,
            lease_seconds=self.config.lease_seconds,
            claim=self._claim,
            launch=self._launch,
            lease_lost=self._lease_lost,
        )
        writer = asyncio.create_task(self._writes.run())
        heartbeat = asyncio.create_task(self._heartbeats())
        loop = asyncio.get_running_loop()
        woken = True
        try:
            while not self._stopping:
                self._waker.event.clear()
                # A poll finds nothing a group commit's claim of the last interval did not.
                polled = loop.time() - self._last_claim >= self.config.poll_seconds
                if self.config.concurrency > len(self._running) and (woken or polled):
                    await self._writes.request_claim()
                woken = False
                if loop.time() - self._last_maintenance >= self.config.maintenance_seconds:
                    self._last_maintenance = loop.time()
                    await self._guard(self.maintain())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._waker.event.wait(), self.config.poll_seconds)
                    woken = True
        finally:
            heartbeat.cancel()
            await self._shutdown(writer)

    async def _guard(self, work: Any) -> Any:
        """A database hiccup must not kill the loop: log it and try again next tick."""
        try:
            return await work
        except Exception:
            _log.exception("engine.tick_failed", worker=self.worker_id)
            return None

    async def _shutdown(self, writer: asyncio.Task[None]) -> None:
        tasks = list(self._running.values())
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

            await run_write(self.database, _tx)

    def _launch(self, claimed: list[_Claimed]) -> None:
        for item in claimed:
            task_id = item.snapshot.id
            self._provider_of[task_id] = item.snapshot.provider or ""
            self._run_of[task_id] = item.snapshot.run_id
            task = asyncio.create_task(self._execute(item))
            self._running[task_id] = task
            task.add_done_callback(lambda _, task_id=task_id: self._ended(task_id))

    def _ended(self, task_id: uuid.UUID) -> None:
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
    async def _claim(self, tx: Tx, finished: set[uuid.UUID]) -> list[_Claimed]:
        """Inside a group commit: claim READY work for the slots free once ``finished``
        tasks (whose last write is in this batch) are gone."""
        self._settled.update(finished)
        # Tasks still working: not those whose last write is committed or in this batch
        # (their asyncio task may end a loop turn after the commit).
        busy_here = set(self._running) - self._settled
        # A task still working keeps its run RUNNING: any other change of it (a cancel, a
        # pause) goes through a transaction that recounts the run itself.
        tx.active.update(self._run_of[task_id] for task_id in busy_here)
        free = self.config.concurrency - len(busy_here)
        if free <= 0 or self._stopping:
            return []
        self._last_claim = asyncio.get_running_loop().time()
        now = utcnow()
        config = self.config
        session = tx.session
        # Never take over a task this worker is still executing, even one that has written
        # its last: its lease may have run out between heartbeats.
        executing = list(set(self._running) - finished)
        params = {"now": now, "limit": max(free * 2, 16), "busy": executing}
        candidates = (await session.execute(self._candidates, params)).all()
        if not candidates:
            return []
        run_ids = sorted({row.run_id for row in candidates})
        # On SQLite the batch holds the write lock: the status read with the candidates holds.
        runs: dict[uuid.UUID, Any] = {row.run_id: row.run_status for row in candidates}
        if not self.database.is_sqlite:
            # Runs first, then their tasks: the order every state change takes locks in.
            # A run another worker's batch holds is left for the next claim.
            lock = (
                select(_run.c.id, _run.c.status)
                .where(_run.c.id.in_(run_ids))
                .order_by(_run.c.id)
                .with_for_update(of=_run, skip_locked=True)
            )
            runs = dict((await session.execute(lock)).all())
            candidates = (
                await session.execute(
                    self._candidates.where(
                        _task.c.id.in_([row.id for row in candidates if row.run_id in runs])
                    ).with_for_update(skip_locked=True, of=_task),
                    params,
                )
            ).all()
            if not candidates:
                return []
        facts = await self._facts(session, run_ids)
        busy: dict[tuple[uuid.UUID, str], int] = {}
        per_run: dict[uuid.UUID, int] = {}
        for row in candidates:
            per_run.setdefault(row.run_id, row.run_busy)
            busy.setdefault((row.run_id, row.provider or ""), row.provider_busy)
        mine = Counter(self._provider_of[task_id] for task_id in busy_here)
        chosen = []
        for row in candidates:
            if len(chosen) >= free:
                break
            if row.run_id not in runs:
                continue
            run = facts[row.run_id]
            provider = row.provider or ""
            if per_run[row.run_id] >= run.max_concurrency:
                continue
            run_limit = run.provider_limits.get(provider)
            if run_limit is not None and busy[(row.run_id, provider)] >= run_limit:
                continue
            own_limit = config.provider_limits.get(provider)
            if own_limit is not None and mine[provider] >= own_limit:
                continue
            per_run[row.run_id] += 1
            busy[(row.run_id, provider)] += 1
            mine[provider] += 1
            chosen.append(row)
        if not chosen:
            return []
        ids = [row.id for row in chosen]
        tx.active.update(row.run_id for row in chosen)
        until = now + timedelta(seconds=config.lease_seconds)
        await session.execute(
            _CLAIM, {"ids": ids, "owner": self.worker_id, "until": until, "now": now}
        )
        by_run: dict[uuid.UUID, list[Event]] = defaultdict(list)
        first_starts: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for row in chosen:
            attempt = row.attempt or 1
            if row.status == T.RUNNING:
                by_run[row.run_id].append(
                    Event(
                        RunEventType.TASK_RECLAIMED,
                        row.id,
                        {
                            "attempt": attempt,
                            "worker": self.worker_id,
                            "previous_worker": row.lease_owner,
                        },
                    )
                )
            else:
                by_run[row.run_id].append(
                    Event(
                        RunEventType.TASK_STARTED,
                        row.id,
                        {"attempt": attempt, "worker": self.worker_id},
                    )
                )
            if row.first_start:
                first_starts[row.run_id].append(row.id)
        for run_id, events in by_run.items():
            if first_starts.get(run_id) and facts[run_id].start_edges:
                await propagate(session, first_starts[run_id], events, started=True)
            # A RUNNING run stays RUNNING when more of its tasks start.
            refresh = RunStatus(runs[run_id]) != RunStatus.RUNNING
            tx.emit(run_id, events, refresh=refresh)
        fresh = all(row.first_start and not row.attempt for row in chosen)
        return await self._snapshots(session, ids, facts, fresh=fresh, spent=tx.spent)

    def _candidate_query(self) -> Any:
        """READY task runs (past any retry back-off) and RUNNING ones whose lease expired,
        of runs that may go on, with what already runs of their run and provider; built
        once per worker (its cache key too)."""
        now = bindparam("now", type_=_task.c.lease_expires_at.type)
        runnable = or_(
            and_(
                _task.c.status == T.READY,
                or_(_task.c.not_before.is_(None), _task.c.not_before <= now),
            ),
            and_(
                _task.c.status == T.RUNNING,
                _task.c.lease_expires_at < now,
                _task.c.output_ready.is_(False),
            ),
        )
        running = and_(_busy.c.status == T.RUNNING, _busy.c.lease_expires_at >= now)
        query = (
            select(
                _task.c.id,
                _task.c.run_id,
                _task.c.status,
                _task.c.provider,
                _task.c.started_at.is_(None).label("first_start"),
                _task.c.lease_owner,
                _task.c.attempt,
                _run.c.status.label("run_status"),
                select(func.count())
                .where(_busy.c.run_id == _task.c.run_id, running)
                .scalar_subquery()
                .label("run_busy"),
                select(func.count())
                .where(
                    _busy.c.run_id == _task.c.run_id,
                    _busy.c.provider.is_not_distinct_from(_task.c.provider),
                    running,
                )
                .scalar_subquery()
                .label("provider_busy"),
            )
            .join(_run, _run.c.id == _task.c.run_id)
            .where(
                runnable,
                _run.c.paused.is_(False),
                _run.c.cancel_requested.is_(False),
                _run.c.status.not_in(list(RUN_TERMINAL)),
                # Never two executions of one task under one owner.
                _task.c.id.not_in(bindparam("busy", expanding=True)),
            )
            # Longest remaining critical path first: scarce slots go where they shorten
            # the makespan.
            .order_by(_task.c.critical_path.desc(), _task.c.position, _task.c.id)
            .limit(bindparam("limit"))
        )
        if self.run_ids is not None:
            query = query.where(_task.c.run_id.in_(list(self.run_ids)))
        return query

    async def _facts(self, session: Any, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, _RunFacts]:
        """What never changes about these runs once created, read once per run."""
        missing = [run_id for run_id in run_ids if run_id not in self._run_facts]
        if missing:
            start_edges = (
                select(_dep.c.to_task_run_id)
                .where(
                    _dep.c.run_id == _run.c.id,
                    _dep.c.dependency_type.in_([DependencyType.SS, DependencyType.SF]),
                )
                .exists()
            )
            for row in await session.execute(
                select(
                    _run.c.id,
                    _run.c.project_id,
                    _run.c.options,
                    _run.c.max_concurrency,
                    _run.c.provider_limits,
                    start_edges.label("start_edges"),
                ).where(_run.c.id.in_(missing))
            ):
                self._run_facts[row.id] = _RunFacts(
                    project_id=row.project_id,
                    options=dict(row.options or {}),
                    max_concurrency=row.max_concurrency,
                    provider_limits=dict(row.provider_limits or {}),
                    start_edges=bool(row.start_edges),
                )
        return {run_id: self._run_facts[run_id] for run_id in run_ids}

    async def _snapshots(
        self,
        session: Any,
        ids: list[uuid.UUID],
        facts: dict[uuid.UUID, _RunFacts],
        *,
        fresh: bool = False,
        spent: dict[uuid.UUID, tuple[float, int]],
    ) -> list[_Claimed]:
        """What the executor needs of each claimed task (``fresh``: none ran before, so
        there are no recorded steps to load; ``spent``: what the batch adds to the runs'
        cost at its end)."""
        found = await session.execute(_SNAPSHOT, {"ids": ids})
        by_id: dict[uuid.UUID, Any] = {}
        upstream: dict[uuid.UUID, dict[str, dict[str, Any]]] = defaultdict(dict)
        # Upstream outputs that may still appear (a predecessor not finished) make the
        # attempt freeze the set it saw; FF/SF predecessors gate its completion.
        settling: set[uuid.UUID] = set()
        finish_gated: set[uuid.UUID] = set()
        for found_row in found:
            task_id = found_row.id
            by_id.setdefault(task_id, found_row)
            if found_row.dependency_type is None:
                continue
            if found_row.pred_output is not None:
                upstream[task_id][found_row.pred_key] = found_row.pred_output
            if TaskRunStatus(found_row.pred_status) not in DONE:
                settling.add(task_id)
            if DependencyType(found_row.dependency_type) in (DependencyType.FF, DependencyType.SF):
                finish_gated.add(task_id)
        rows = list(by_id.values())
        recorded: dict[uuid.UUID, dict[int, Any]] = defaultdict(dict)
        attempts = {row.id: row.attempt for row in rows}
        steps = (
            []
            if fresh
            else await session.execute(select(_step).where(_step.c.task_run_id.in_(ids)))
        )
        for step in steps:
            if step.attempt == attempts[step.task_run_id]:
                recorded[step.task_run_id][step.seq] = step
        claimed = []
        frozen_now: list[dict[str, Any]] = []
        for row in rows:
            # The upstream outputs an attempt sees are fixed when it first starts: a task
            # taken over later (after a crash) sees the same ones, even if an SS/SF
            # predecessor has finished meanwhile, so its recorded history still applies.
            spec = dict(row.spec or {})
            frozen = spec.get("_upstream")
            if frozen and frozen.get("attempt") == row.attempt:
                keys = set(frozen.get("keys", []))
                upstream[row.id] = {k: v for k, v in upstream[row.id].items() if k in keys}
            elif row.id in settling:
                spec["_upstream"] = {"attempt": row.attempt, "keys": sorted(upstream[row.id])}
                frozen_now.append({"task_id": row.id, "frozen_spec": spec})
            snapshot = TaskSnapshot(
                id=row.id,
                run_id=row.run_id,
                project_id=facts[row.run_id].project_id,
                key=row.key,
                name=row.name,
                description=row.description,
                acceptance_criteria=list(row.acceptance_criteria or []),
                risk_level=str(getattr(row.risk_level, "value", row.risk_level)),
                agent_id=row.agent_id,
                provider=row.provider,
                spec=spec,
                attempt=row.attempt,
                grants=list(row.grants or []),
                upstream=upstream[row.id],
                run_options=dict(facts[row.run_id].options),
                run_budget_usd=row.budget_usd,
                run_cost_usd=(row.run_cost_usd or 0.0) + spent.get(row.run_id, (0.0, 0))[0],
                finish_gated=row.id in finish_gated,
            )
            timeout = row.timeout_seconds or self.config.default_timeout_seconds
            claimed.append(_Claimed(snapshot, recorded[row.id], timeout))
        if frozen_now:
            await session.execute(
                update(_task)
                .where(_task.c.id == bindparam("task_id"))
                .values(spec=bindparam("frozen_spec", type_=_task.c.spec.type)),
                frozen_now,
            )
        order = {task_id: index for index, task_id in enumerate(ids)}
        claimed.sort(key=lambda item: order[item.snapshot.id])
        return claimed

    # -- leases -----------------------------------------------------------------------------
    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_seconds)
            held = list(self._running)
            if not held:
                continue
            try:

                async def _tx(session: Any, held: list[uuid.UUID] = held) -> Any:
                    kept = set(
                        await session.scalars(
                            update(_task)
                            .where(
                                _task.c.id.in_(held),
                                _task.c.lease_owner == self.worker_id,
                                _task.c.status == T.RUNNING,
                            )
                            .values(
                                lease_expires_at=utcnow()
                                + timedelta(seconds=self.config.lease_seconds)
                            )
                            .returning(_task.c.id)
                        )
                    )
                    return kept

                kept = await run_write(self.database, _tx)
            except Exception:
                _log.exception("engine.heartbeat_failed", worker=self.worker_id)
                continue
            for task_id in held:
                if task_id not in kept:
                    self._lease_lost(task_id)

    # -- executing --------------------------------------------------------------------------
    def _context(self, item: _Claimed) -> TaskContext:
        return TaskContext(
            self.database,
            item.snapshot,
            writes=self._writes,
            recorded=item.recorded,
            step_policy=self.config.step_policy,
        )

    async def _execute(self, item: _Claimed) -> None:
        snapshot = item.snapshot
        try:
            while True:
                ctx = self._context(item)
                try:
                    await apply_policies(ctx)
                    # A timeout scope, not wait_for: no second asyncio task per execution.
                    async with asyncio.timeout(item.timeout or None):
                        outcome = await self.executor.execute(ctx)
                except Diverged as diverged:
                    await self._new_attempt(ctx, diverged.seq)
                    item.recorded = {}
                    continue
                except (Suspended, LeaseLost):
                    return
                except TaskRejected as rejected:
                    await self._reject(ctx, str(rejected), rejected.policy)
                    return
                except PermanentTaskError as exc:
                    await self._fail(ctx, f"{exc}", retry=False)
                    return
                except TimeoutError:
                    await self._fail(ctx, f"timed out after {item.timeout:g} s", retry=True)
                    return
                except Exception as exc:
                    _log.info("engine.task_error", task=snapshot.key, error=repr(exc))
                    await self._fail(ctx, f"{type(exc).__name__}: {exc}", retry=True)
                    return
                await self._complete(ctx, outcome)
                return
        except LeaseLost:
            return
        except asyncio.CancelledError:
            return

    async def _new_attempt(self, ctx: TaskContext, seq: int) -> None:
        snapshot = ctx.task

        async def _tx(tx: Tx) -> None:
            await tx.session.execute(
                update(_task).where(_task.c.id == snapshot.id).values(attempt=snapshot.attempt + 1)
            )
            payload = {"seq": seq, "attempt": snapshot.attempt + 1}
            event = Event(RunEventType.TASK_DIVERGED, snapshot.id, payload)
            tx.emit(snapshot.run_id, [event], refresh=False)

        await self._write(ctx, _tx)
        snapshot.attempt += 1

    def _write(self, ctx: TaskContext, body: Any, *, terminal: bool = False) -> Any:
        assert self._writes is not None
        return self._writes.write_one(
            body, task_id=ctx.task.id, run_id=ctx.task.run_id, terminal=terminal
        )

    async def _complete(self, ctx: TaskContext, outcome: TaskOutcome) -> None:
        assert self._writes is not None
        await self._writes.write(
            complete_tasks,
            (ctx, outcome),
            stage=COMPLETIONS,
            task_id=ctx.task.id,
            run_id=ctx.task.run_id,
            terminal=True,
            checks_lease=True,
        )

    async def _fail(self, ctx: TaskContext, error: str, *, retry: bool) -> None:
        snapshot = ctx.task

        async def _tx(tx: Tx) -> None:
            session = tx.session
            row = (
                await session.execute(
                    select(_task.c.attempt, _task.c.max_attempts, _task.c.failures).where(
                        _task.c.id == snapshot.id
                    )
                )
            ).one()
            base = {
                "lease_owner": None,
                "lease_expires_at": None,
                "error": error[:4000],
                "failures": row.failures + 1,
            }
            if retry and row.attempt < row.max_attempts:
                delay = backoff(
                    row.attempt - 1, self.config.retry_base_seconds, self.config.retry_max_seconds
                )
                await session.execute(
                    update(_task)
                    .where(_task.c.id == snapshot.id)
                    .values(
                        status=T.READY,
                        attempt=row.attempt + 1,
                        not_before=utcnow() + timedelta(seconds=delay),
                        **base,
                    )
                )
                event = Event(
                    RunEventType.TASK_RETRY_SCHEDULED,
                    snapshot.id,
                    {"attempt": row.attempt + 1, "delay_seconds": round(delay, 3), "error": error},
                )
            else:
                await session.execute(
                    update(_task)
                    .where(_task.c.id == snapshot.id)
                    .values(status=T.FAILED, finished_at=utcnow(), **base)
                )
                event = Event(RunEventType.TASK_FAILED, snapshot.id, {"error": error})
            tx.emit(snapshot.run_id, [event])

        await self._write(ctx, _tx, terminal=True)

    async def _reject(self, ctx: TaskContext, reason: str, policy: RejectionPolicy) -> None:
        snapshot = ctx.task

        async def _tx(tx: Tx) -> None:
            events: list[Event] = []
            await finish_task_by_policy(tx.session, snapshot.id, reason, policy, events)
            tx.emit(snapshot.run_id, events)

        await self._write(ctx, _tx, terminal=True)

    # -- maintenance ------------------------------------------------------------------------
    async def maintain(self) -> None:
        """Expire due interactions and apply their escalation rules."""
        from berrys.services.workflows import service  # the service imports the engine

        await service.expire_interactions(self.database)


async def complete_tasks(tx: Tx, items: list[tuple[TaskContext, TaskOutcome]]) -> None:
    """A batch's finished tasks: COMPLETED (or output ready, held by an FF/SF predecessor),
    their artifacts, successors made READY, events in order per run — a few statements for
    the whole batch."""
    session = tx.session
    now = utcnow()
    gated = [ctx.task.id for ctx, _ in items if ctx.task.finish_gated]
    preds = await predecessors_of(session, gated)
    # A task that ran every step here knows its cost; one replayed or retried sums its steps.
    summed = {ctx.task.id for ctx, _ in items if ctx.task.attempt != 1 or ctx.replayed}
    sums: dict[uuid.UUID, tuple[float, int]] = {}
    if summed:
        for task_id, cost, tokens in await session.execute(
            select(
                _step.c.task_run_id,
                func.coalesce(func.sum(_step.c.cost_usd), 0.0),
                func.coalesce(func.sum(_step.c.tokens), 0),
            )
            .where(_step.c.task_run_id.in_(list(summed)))
            .group_by(_step.c.task_run_id)
        ):
            sums[task_id] = (float(cost), int(tokens))
    rows: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    events: dict[uuid.UUID, list[Event]] = defaultdict(list)
    done: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for ctx, outcome in items:
        task = ctx.task
        cost, tokens = (ctx.cost_usd, ctx.tokens)
        if task.id in summed:
            cost, tokens = sums.get(task.id, (0.0, 0))
        finished = finish_gate(preds.get(task.id, []))
        rows.append(
            {
                "task_id": task.id,
                "owner": ctx.writes.worker_id,
                "new_status": T.COMPLETED if finished else T.RUNNING,
                "new_output": outcome.output,
                "new_cost": float(cost),
                "new_tokens": int(tokens),
                "new_finished_at": now if finished else None,
                "new_output_ready": not finished,
            }
        )
        if finished:
            done[task.run_id].append(task.id)
            payload = {"cost_usd": float(cost), "tokens": int(tokens)}
            payload["produced_by"] = outcome.produced_by
            events[task.run_id].append(Event(RunEventType.TASK_COMPLETED, task.id, payload))
        else:
            events[task.run_id].append(Event(RunEventType.TASK_OUTPUT_READY, task.id))
        artifacts.extend(
            {
                "id": uuid.uuid4(),
                "run_id": task.run_id,
                "task_run_id": task.id,
                "project_id": task.project_id,
                "name": artifact.name,
                "media_type": artifact.media_type,
                "content": artifact.content,
                "path": artifact.path,
                "produced_by": outcome.produced_by,
                "created_at": now,
            }
            for artifact in outcome.artifacts
        )
    done_rows = await session.execute(_COMPLETE, rows)
    if tx.trust_rowcount and done_rows.rowcount != len(rows):
        raise LeaseMismatch(f"{len(rows) - done_rows.rowcount} of {len(rows)} leases gone")
    if artifacts:
        await session.execute(insert(_artifact), artifacts)
    for run_id, run_events in events.items():
        if done[run_id]:
            await propagate(session, done[run_id], run_events)
        tx.emit(run_id, run_events)


# Built once: SQLAlchemy keys its compiled-statement cache on the statement object.
_CLAIM = (
    update(_task)
    .where(_task.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=T.RUNNING,
        lease_owner=bindparam("owner"),
        lease_expires_at=bindparam("until", type_=_task.c.lease_expires_at.type),
        started_at=func.coalesce(
            _task.c.started_at, bindparam("now", type_=_task.c.started_at.type)
        ),
        attempt=case((_task.c.attempt == 0, 1), else_=_task.c.attempt),
        not_before=None,
    )
)
# What an executor needs of a claimed task: one row per task and predecessor (one with
# none for a task without).
_SNAPSHOT = (
    select(
        _task.c.id,
        _task.c.run_id,
        _task.c.key,
        _task.c.name,
        _task.c.description,
        _task.c.acceptance_criteria,
        _task.c.risk_level,
        _task.c.agent_id,
        _task.c.provider,
        _task.c.spec,
        _task.c.attempt,
        _task.c.grants,
        _task.c.timeout_seconds,
        _run.c.budget_usd,
        _run.c.cost_usd.label("run_cost_usd"),
        _dep.c.dependency_type,
        _pred.c.key.label("pred_key"),
        _pred.c.output.label("pred_output"),
        _pred.c.status.label("pred_status"),
    )
    .join(_run, _run.c.id == _task.c.run_id)
    .outerjoin(_dep, _dep.c.to_task_run_id == _task.c.id)
    .outerjoin(_pred, _pred.c.id == _dep.c.from_task_run_id)
    .where(_task.c.id.in_(bindparam("ids", expanding=True)))
)
# One statement shape for every finished task of a batch (executemany).
_COMPLETE = (
    update(_task)
    .where(
        _task.c.id == bindparam("task_id"),
        _task.c.lease_owner == bindparam("owner"),
        _task.c.status == T.RUNNING,
    )
    .values(
        status=bindparam("new_status", type_=_task.c.status.type),
        output=bindparam("new_output", type_=_task.c.output.type),
        cost_usd=bindparam("new_cost", type_=_task.c.cost_usd.type),
        tokens=bindparam("new_tokens", type_=_task.c.tokens.type),
        finished_at=bindparam("new_finished_at", type_=_task.c.finished_at.type),
        output_ready=bindparam("new_output_ready", type_=_task.c.output_ready.type),
        lease_owner=None,
        lease_expires_at=None,
        error=None,
    )
)


RISKY = frozenset({"HIGH", "CRITICAL"})


async def apply_policies(ctx: TaskContext) -> None:
    """Before a task works: approvals for risky tasks and for a run past its budget threshold.

    Run options: ``risk_approval`` (default true) and ``budget_threshold`` (default 0.8 of
    ``budget_usd``; an approval doubles the budget).
    """
    task = ctx.task
    options = task.run_options
    if task.risk_level in RISKY and options.get("risk_approval", True):
        await ctx.require_approval(
            grant="risk",
            subject=ApprovalSubject.TASK_RISK,
            title=f"Approve {task.risk_level} risk task {task.name!r}",
            prompt=f"{task.description}\n\nRisk level: {task.risk_level}.",
            details={"risk_level": task.risk_level, "task": task.name},
            priority=Priority.HIGH if task.risk_level == "HIGH" else Priority.CRITICAL,
        )
    budget = task.run_budget_usd
    if budget:
        threshold = float(options.get("budget_threshold", 0.8))
        if task.run_cost_usd >= budget * threshold:
            await ctx.require_approval(
                grant=f"budget:{budget:g}",
                subject=ApprovalSubject.BUDGET,
                title=f"The run has spent ${task.run_cost_usd:.4f} of its ${budget:g} budget",
                prompt="Approve to continue with a doubled budget; reject to stop this task.",
                details={
                    "spent_usd": task.run_cost_usd,
                    "budget_usd": budget,
                    "new_budget_usd": budget * 2,
                },
                priority=Priority.HIGH,
            )


async def finish_task_by_policy(
    session: Any, task_run_id: uuid.UUID, reason: str, policy: RejectionPolicy, events: list
) -> None:
    """A rejected task is FAILED, or SKIPPED (then its successors may go on)."""
    status = T.SKIPPED if policy == RejectionPolicy.SKIP else T.FAILED
    await session.execute(
        update(_task)
        .where(_task.c.id == task_run_id)
        .values(
            status=status,
            lease_owner=None,
            lease_expires_at=None,
            error=reason,
            finished_at=utcnow(),
        )
    )
    kind = RunEventType.TASK_SKIPPED if status == T.SKIPPED else RunEventType.TASK_FAILED
    events.append(Event(kind, task_run_id, {"reason": reason, "error": reason}))
    if status == T.SKIPPED:
        await propagate(session, [task_run_id], events)


async def run_status(database: Database, run_id: uuid.UUID) -> RunStatus:
    async with database.transaction(read_only=True) as session:
        return RunStatus(
            (await session.execute(select(_run.c.status).where(_run.c.id == run_id))).scalar_one()
        )
