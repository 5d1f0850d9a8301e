"""Executing a claimed task run: policies, the executor, then its end as one group write.

A task ends in one write through the worker's group commit: COMPLETED, or NEEDS_REVIEW when
its outcome has review reasons (with its artifacts and successors made READY), a retry or
FAILED, a policy's rejection, or a new attempt when its recorded history diverged. A task
whose lease is gone writes nothing more; no transaction is held across a model or tool call.
A completion may start a successor at once (``continuation.py``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, func, insert, select, update

from berrys.core import tracing
from berrys.core.db import Database, utcnow
from berrys.core.enums import Priority
from berrys.services.interactions.contracts import ApprovalSubject, RejectionPolicy
from berrys.services.runs.contracts import RunEventType, TaskRunStatus
from berrys.services.runs.engine.claiming import Claimed
from berrys.services.runs.engine.commit import (
    COMPLETIONS,
    GroupCommitter,
    LeaseLost,
    LeaseMismatch,
    Tx,
)
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.executor import (
    PauseRun,
    PermanentTaskError,
    TaskExecutor,
    TaskOutcome,
)
from berrys.services.runs.engine.hooks import AskPerson
from berrys.services.runs.engine.journal import (
    Diverged,
    StepPolicy,
    Suspended,
    TaskContext,
    TaskRejected,
    TaskSnapshot,
    backoff,
)
from berrys.services.runs.engine.state import finish_gate, predecessors_of, propagate
from berrys.services.runs.tables import Artifact, Run, Step, TaskRun

_log = structlog.get_logger("berrys.engine")
T = TaskRunStatus
_task = TaskRun.__table__
_step = Step.__table__
_artifact = Artifact.__table__
_run = Run.__table__


# What ends a task's execution without it failing: it waits, starts again or moved on.
_NOT_FAILURES = (Suspended, Diverged, LeaseLost, PauseRun)


def _task_span(task: TaskSnapshot) -> AbstractContextManager[Any]:
    """The task's ``invoke_agent`` span, a child of its run's workflow span."""
    attributes: dict[str, str | int] = {
        "berrys.task.name": task.name,
        "berrys.task_run.id": str(task.id),
        "berrys.run.id": str(task.run_id),
        "berrys.task.attempt": task.attempt,
    }
    if task.agent_id is not None:
        attributes[tracing.AGENT_ID] = str(task.agent_id)
    return tracing.span(
        tracing.INVOKE_AGENT,
        task.name,
        attributes,
        parent=task.run_options.get(tracing.TRACEPARENT),
        expected=_NOT_FAILURES,
    )


class Successors(Protocol):
    """What a runner asks about starting a successor at once (``continuation.py``)."""

    def prepare(self, task: TaskSnapshot, claimed: asyncio.Future[None] | None) -> None:
        """The task started: find what it may hand over to, if it runs long enough."""

    def follow(self, ctx: TaskContext, outcome: TaskOutcome) -> uuid.UUID | None:
        """The task succeeded: start a successor now; its id, or None."""

    def returned(self, task_id: uuid.UUID) -> None:
        """The task's executor returned or raised (its end is still to be written)."""

    def forget(self, task_id: uuid.UUID) -> None:
        """The task's execution ended."""


class TaskRunner:
    """Executes one worker's claimed task runs; their writes go through its group commit."""

    def __init__(
        self,
        database: Database,
        executor: TaskExecutor,
        writes: GroupCommitter,
        *,
        ask_person: AskPerson,
        step_policy: StepPolicy,
        retry_base_seconds: float,
        retry_max_seconds: float,
        successors: Successors | None = None,
    ) -> None:
        self.database = database
        self.executor = executor
        self._writes = writes
        self._ask_person = ask_person
        self.step_policy = step_policy
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.successors = successors

    def _context(self, item: Claimed, claimed: asyncio.Future[None] | None) -> TaskContext:
        return TaskContext(
            self.database,
            item.snapshot,
            writes=self._writes,
            ask_person=self._ask_person,
            recorded=item.recorded,
            step_policy=self.step_policy,
            claimed=claimed,
        )

    async def execute(self, item: Claimed, claimed: asyncio.Future[None] | None = None) -> None:
        """Run the task to its end; ``claimed``: it starts before its claim committed (a
        continuation), and that future says when (cancelled: the claim failed)."""
        snapshot = item.snapshot
        successors = self.successors
        if successors is not None and not snapshot.finish_gated:
            successors.prepare(snapshot, claimed)
        try:
            while True:
                ctx = self._context(item, claimed)
                try:
                    await apply_policies(ctx)
                    # A timeout scope, not wait_for: no second asyncio task per execution.
                    try:
                        with _task_span(snapshot):
                            async with asyncio.timeout(item.timeout or None):
                                outcome = await self.executor.execute(ctx)
                    finally:
                        if successors is not None:
                            successors.returned(snapshot.id)
                except Diverged as diverged:
                    await self._new_attempt(ctx, diverged.seq)
                    item.recorded = {}
                    claimed = None  # a write committed: the claim did
                    continue
                except (Suspended, LeaseLost):
                    return
                except TaskRejected as rejected:
                    await self._reject(ctx, str(rejected), rejected.policy)
                    return
                except PauseRun as paused:
                    await self._pause_run(ctx, str(paused))
                    return
                except PermanentTaskError as exc:
                    await self._fail(ctx, f"{exc}", retry=False)
                    return
                except TimeoutError:
                    await self._fail(ctx, f"timed out after {item.timeout:g} s", retry=True)
                    return
                except Exception as exc:
                    if await self.database.outage(exc):
                        await self._hand_back(ctx)
                        return
                    _log.info("engine.task_error", task=snapshot.key, error=repr(exc))
                    await self._fail(ctx, f"{type(exc).__name__}: {exc}", retry=True)
                    return
                await self._complete(ctx, outcome)
                return
        except LeaseLost:
            return
        except asyncio.CancelledError:
            return
        finally:
            if successors is not None:
                successors.forget(snapshot.id)

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

    async def _hand_back(self, ctx: TaskContext) -> None:
        """The database went away under the task (a restart): no attempt is spent on it.
        Once the database is back (the write waits for it) its lease ends, and a worker
        takes it over as after a crash: its recorded steps replay, the rest runs."""
        _log.info("engine.task_handed_back", task=ctx.task.key, reason="database unreachable")
        task_id, owner = ctx.task.id, self._writes.worker_id

        async def _tx(tx: Tx) -> None:
            await tx.session.execute(
                update(_task)
                .where(_task.c.id == task_id, _task.c.lease_owner == owner)
                .values(lease_expires_at=utcnow())
            )

        # Not terminal: its slot frees when the execution ends, after this commit, so the
        # batch cannot hand the task to this worker while it is still executing.
        await self._write(ctx, _tx)

    async def _pause_run(self, ctx: TaskContext, reason: str) -> None:
        """The run paused (no task starts until a person resumes it) and the task READY as it
        was, no attempt spent, its error saying why."""
        snapshot = ctx.task

        async def _tx(tx: Tx) -> None:
            await tx.session.execute(
                update(_task)
                .where(_task.c.id == snapshot.id)
                .values(
                    status=T.READY, lease_owner=None, lease_expires_at=None, error=reason[:4000]
                )
            )
            await tx.session.execute(
                update(_run).where(_run.c.id == snapshot.run_id).values(paused=True)
            )
            event = Event(RunEventType.RUN_PAUSED, None, {"by": None, "reason": reason})
            tx.emit(snapshot.run_id, [event])

        _log.info("engine.run_paused", run=str(snapshot.run_id), reason=reason)
        await self._write(ctx, _tx, terminal=True)

    async def _write(self, ctx: TaskContext, body: Any, *, terminal: bool = False) -> Any:
        await ctx.confirmed()
        return await self._writes.write_one(
            body, task_id=ctx.task.id, run_id=ctx.task.run_id, terminal=terminal
        )

    async def _complete(self, ctx: TaskContext, outcome: TaskOutcome) -> None:
        await ctx.confirmed()
        if outcome.review_reasons:
            # Kept with the output (what the API, the CLI and successors read); set before a
            # follower sees it, so its upstream is what the claim would read back.
            reasons = [str(reason) for reason in outcome.review_reasons]
            outcome.output = {**outcome.output, "review_reasons": reasons}
        follower = None
        if self.successors is not None and not ctx.task.finish_gated:
            # A successor this completion alone makes READY starts now, while it commits.
            follower = self.successors.follow(ctx, outcome)
        await self._writes.write(
            complete_tasks,
            (ctx, outcome),
            stage=COMPLETIONS,
            task_id=ctx.task.id,
            run_id=ctx.task.run_id,
            terminal=True,
            checks_lease=True,
            follower=follower,
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
                delay = backoff(row.attempt - 1, self.retry_base_seconds, self.retry_max_seconds)
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


async def complete_tasks(tx: Tx, items: list[tuple[TaskContext, TaskOutcome]]) -> None:
    """A batch's finished tasks: COMPLETED, or NEEDS_REVIEW when the outcome has review
    reasons (or output ready, held by an FF/SF predecessor), their artifacts, successors
    made READY, events in order per run — a few statements for the whole batch."""
    session = tx.session
    now = utcnow()
    gated = [ctx.task.id for ctx, _ in items if ctx.task.finish_gated]
    preds = await predecessors_of(session, gated)
    costs = await _summed_costs(session, items)
    rows: list[dict[str, Any]] = []
    artifacts: list[dict[str, Any]] = []
    events: dict[uuid.UUID, list[Event]] = defaultdict(list)
    done: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for ctx, outcome in items:
        task = ctx.task
        cost, tokens = costs.get(task.id, (ctx.cost_usd, ctx.tokens))
        spent = (float(cost), int(tokens))
        finished = finish_gate(preds.get(task.id, []))
        rows.append(_completion_row(ctx, outcome, spent, now if finished else None))
        events[task.run_id].append(_completion_event(ctx, outcome, spent, finished))
        if finished:
            done[task.run_id].append(task.id)
        artifacts.extend(_artifact_rows(task, outcome, now))
    done_rows = await session.execute(_COMPLETE, rows)
    if tx.trust_rowcount and done_rows.rowcount != len(rows):
        raise LeaseMismatch(f"{len(rows) - done_rows.rowcount} of {len(rows)} leases gone")
    if artifacts:
        await session.execute(insert(_artifact), artifacts)
    for run_id, run_events in events.items():
        if done[run_id]:
            await propagate(session, done[run_id], run_events)
        tx.emit(run_id, run_events)


async def _summed_costs(
    session: Any, items: list[tuple[TaskContext, TaskOutcome]]
) -> dict[uuid.UUID, tuple[float, int]]:
    """The cost of the tasks that did not run every step here (replayed or retried): the
    sum of their recorded steps. A task that ran every step here knows its cost."""
    summed = [ctx.task.id for ctx, _ in items if ctx.task.attempt != 1 or ctx.replayed]
    costs: dict[uuid.UUID, tuple[float, int]] = dict.fromkeys(summed, (0.0, 0))
    if summed:
        for task_id, cost, tokens in await session.execute(
            select(
                _step.c.task_run_id,
                func.coalesce(func.sum(_step.c.cost_usd), 0.0),
                func.coalesce(func.sum(_step.c.tokens), 0),
            )
            .where(_step.c.task_run_id.in_(summed))
            .group_by(_step.c.task_run_id)
        ):
            costs[task_id] = (float(cost), int(tokens))
    return costs


def _completion_row(
    ctx: TaskContext, outcome: TaskOutcome, spent: tuple[float, int], finished_at: Any
) -> dict[str, Any]:
    """The task's row as ``_COMPLETE`` writes it; unfinished (``finished_at`` None), it
    stays RUNNING with its output ready until its FF/SF predecessors allow."""
    finished = finished_at is not None
    done_as = T.NEEDS_REVIEW if outcome.review_reasons else T.COMPLETED
    return {
        "task_id": ctx.task.id,
        "owner": ctx.writes.worker_id,
        "new_status": done_as if finished else T.RUNNING,
        "new_output": outcome.output,
        "new_cost": spent[0],
        "new_tokens": spent[1],
        "new_finished_at": finished_at,
        "new_output_ready": not finished,
    }


def _completion_event(
    ctx: TaskContext, outcome: TaskOutcome, spent: tuple[float, int], finished: bool
) -> Event:
    task_id = ctx.task.id
    if not finished:
        return Event(RunEventType.TASK_OUTPUT_READY, task_id)
    payload: dict[str, Any] = {"cost_usd": spent[0], "tokens": spent[1]}
    payload["produced_by"] = outcome.produced_by
    # Which worker's lease the completion was committed under (a takeover's is the new one).
    payload["worker"] = ctx.writes.worker_id
    if outcome.review_reasons:
        payload["reasons"] = [str(reason) for reason in outcome.review_reasons]
        return Event(RunEventType.TASK_NEEDS_REVIEW, task_id, payload)
    return Event(RunEventType.TASK_COMPLETED, task_id, payload)


def _artifact_rows(task: TaskSnapshot, outcome: TaskOutcome, now: Any) -> list[dict[str, Any]]:
    return [
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
    ]


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


async def warm(session: Any, nothing: list[uuid.UUID]) -> None:
    """Run a completion's statements once on ids that match nothing (see ``Worker.warm``)."""
    row = {
        "task_id": nothing[0],
        "owner": "",
        "new_status": T.COMPLETED,
        "new_output": None,
        "new_cost": 0.0,
        "new_tokens": 0,
        "new_finished_at": None,
        "new_output_ready": False,
    }
    await session.execute(_COMPLETE, [row, row])
    await propagate(session, nothing, [])


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
    session: Any,
    task_run_id: uuid.UUID,
    reason: str,
    policy: RejectionPolicy,
    events: list[Event],
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
