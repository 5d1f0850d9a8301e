"""Recorded steps and replay: every model and tool call of a task attempt goes through here.

Before the step at position ``seq`` runs, its record ``(task_run, attempt, seq)`` decides:

- COMPLETED, same request hash: the recorded result is returned; nothing is called.
- COMPLETED, another hash: the history diverged; :class:`Diverged` makes the engine start a
  new attempt from seq 0 (with a TASK_DIVERGED event) instead of mixing two histories.
- FAILED, same hash: the recorded error is raised again.
- STARTED (in flight when a process died): a model call or an idempotent tool is issued
  again (``calls`` counts it, STEP_REISSUED says so); a non-idempotent tool becomes an
  APPROVAL for a human — re-run it or not — and the task waits (AWAITING_INPUT).
- Nothing: a non-idempotent tool's STARTED is committed before the call; then the call, and
  COMPLETED or FAILED with the result.

Every write first extends the task's lease where this worker still holds it: a worker that
lost its lease gets :class:`LeaseLost` and writes nothing more for the task.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.core.enums import (
    ApprovalSubject,
    EscalationRule,
    HumanInteractionType,
    Priority,
    RejectionPolicy,
    RunEventType,
    StepKind,
    StepStatus,
    TaskRunStatus,
)
from berrys.core.errors import ServiceUnavailable, TooManyRequests
from berrys.services.interactions import service as interactions
from berrys.services.workflows.events import Event
from berrys.services.workflows.state import commit_events, lock_run, run_write, write
from berrys.services.workflows.tables import Run, Step, TaskRun

_task = TaskRun.__table__
_step = Step.__table__
_run = Run.__table__


class TransientError(Exception):
    """A call failed in a way worth retrying (rate limit, timeout, connection)."""


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: stop, write nothing."""


class Diverged(Exception):
    def __init__(self, seq: int) -> None:
        super().__init__(f"recorded history diverged at step {seq}")
        self.seq = seq


class Suspended(Exception):
    """The task waits for a human; its state is already written."""


class StepFailed(Exception):
    """A call failed permanently (recorded as FAILED)."""


class TaskRejected(Exception):
    """A human rejected what the task needed; ``policy`` says fail or skip."""

    def __init__(self, reason: str, policy: RejectionPolicy) -> None:
        super().__init__(reason)
        self.policy = policy


TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    TimeoutError,
    ConnectionError,
    ServiceUnavailable,
    TooManyRequests,
)


def request_hash(kind: StepKind, name: str, request: Any) -> str:
    canonical = json.dumps(
        {"kind": kind.value, "name": name, "request": to_jsonable_python(request)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class TaskSnapshot:
    """What the executor knows about its task: the plan snapshot and upstream outputs."""

    id: uuid.UUID
    run_id: uuid.UUID
    project_id: uuid.UUID
    key: str
    name: str
    description: str
    acceptance_criteria: list[Any]
    risk_level: str
    agent_id: uuid.UUID | None
    provider: str | None
    spec: dict[str, Any]
    attempt: int
    grants: list[str]
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_options: dict[str, Any] = field(default_factory=dict)
    run_budget_usd: float | None = None
    run_cost_usd: float = 0.0


@dataclass
class StepPolicy:
    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 20.0
    # Commit STARTED before every call (a crash then shows, and counts, the re-issue);
    # a non-idempotent tool's STARTED is committed first whatever this says.
    record_starts: bool = True


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base * 2^attempt)."""
    delay = min(cap, base * (2**attempt))
    return delay / 2 + random.random() * delay / 2


class TaskContext:
    """Handed to the executor: every model and tool call goes through :meth:`step`."""

    def __init__(
        self,
        database: Database,
        task: TaskSnapshot,
        *,
        worker_id: str,
        lease_seconds: float,
        recorded: dict[int, Any],
        step_policy: StepPolicy | None = None,
    ) -> None:
        self.database = database
        self.task = task
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self._recorded = recorded
        self._seq = 0
        self.step_policy = step_policy or StepPolicy()
        self.cost_usd = 0.0
        self.tokens = 0
        self.calls = 0
        self.replayed = 0

    @property
    def attempt(self) -> int:
        return self.task.attempt

    async def hold_lease(self, session: AsyncSession) -> None:
        """Extend the lease where this worker holds it; else :class:`LeaseLost`."""
        result = await session.execute(
            update(_task)
            .where(
                _task.c.id == self.task.id,
                _task.c.lease_owner == self.worker_id,
                _task.c.status == TaskRunStatus.RUNNING,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_seconds))
        )
        if result.rowcount != 1:
            raise LeaseLost(str(self.task.id))

    async def model(
        self,
        request: Any,
        call: Callable[[], Awaitable[Any]],
        *,
        name: str = "model",
        usage: Callable[[Any], tuple[float, int]] | None = None,
    ) -> Any:
        """A recorded model call: replayed if recorded, re-issued if it was in flight."""
        return await self.step(StepKind.MODEL, name, request, call, idempotent=True, usage=usage)

    async def tool(
        self,
        name: str,
        arguments: Any,
        call: Callable[[], Awaitable[Any]],
        *,
        idempotent: bool,
    ) -> Any:
        """A recorded tool call; a non-idempotent one is never repeated without a human."""
        return await self.step(StepKind.TOOL, name, arguments, call, idempotent=idempotent)

    def peek_seq(self) -> int:
        return self._seq

    def grant_key(self, name: str, arguments: Any) -> str:
        """The grant a human's approval of this exact call (at this position) is stored as."""
        return f"tool:{self._seq}:{request_hash(StepKind.TOOL, name, arguments)[:16]}"

    async def step(
        self,
        kind: StepKind,
        name: str,
        request: Any,
        call: Callable[[], Awaitable[Any]],
        *,
        idempotent: bool = True,
        usage: Callable[[Any], tuple[float, int]] | None = None,
    ) -> Any:
        seq = self._seq
        self._seq += 1
        digest = request_hash(kind, name, request)
        record = self._recorded.get(seq)
        if record is not None:
            if record.request_hash != digest:
                raise Diverged(seq)
            status = StepStatus(record.status)
            if status == StepStatus.COMPLETED:
                self.replayed += 1
                return (record.result or {}).get("value")
            if status == StepStatus.FAILED:
                raise StepFailed(record.error or "recorded failure")
            # STARTED: the call was in flight when a process stopped.
            if kind == StepKind.TOOL and not record.idempotent:
                if record.resolution == "REJECT":
                    raise TaskRejected(
                        f"a person declined to run {name!r} again",
                        RejectionPolicy(self.task.spec.get("on_reject", "FAIL")),
                    )
                if record.resolution != "RERUN":
                    await self.suspend(
                        subject=ApprovalSubject.TOOL_RERUN,
                        title=f"Run tool {name!r} again?",
                        prompt=(
                            f"Task {self.task.name!r} was calling the tool {name!r} when its "
                            "worker stopped. It may or may not have taken effect. Approve to "
                            "call it again; reject to stop the task."
                        ),
                        details={"step_seq": seq, "tool": name, "arguments": request},
                        priority=Priority.HIGH,
                    )

            # Count the re-issue before calling, so a crash during it is still counted.
            async def _tx(session: Any) -> Any:
                await lock_run(session, self.task.run_id)
                await self.hold_lease(session)
                await session.execute(
                    update(_step)
                    .where(
                        _step.c.task_run_id == self.task.id,
                        _step.c.attempt == self.attempt,
                        _step.c.seq == seq,
                    )
                    .values(calls=_step.c.calls + 1)
                )
                await commit_events(
                    session,
                    self.task.run_id,
                    [
                        Event(
                            RunEventType.STEP_REISSUED,
                            self.task.id,
                            {"seq": seq, "kind": kind.value, "name": name},
                        )
                    ],
                    refresh=False,
                )

            await run_write(self.database, _tx)
        elif (kind == StepKind.TOOL and not idempotent) or self.step_policy.record_starts:

            async def _tx(session: Any) -> Any:
                await lock_run(session, self.task.run_id)
                await self.hold_lease(session)
                await session.execute(
                    insert(_step).values(
                        id=uuid.uuid4(),
                        task_run_id=self.task.id,
                        attempt=self.attempt,
                        seq=seq,
                        kind=kind,
                        name=name,
                        request_hash=digest,
                        status=StepStatus.STARTED,
                        idempotent=idempotent,
                        calls=1,
                        started_at=utcnow(),
                    )
                )

            await run_write(self.database, _tx)
            record = True  # a row now exists
        started = utcnow()
        clock = time.perf_counter()
        failure: BaseException | None = None
        result: Any = None
        for retry in range(self.step_policy.retries + 1):
            try:
                result = await call()
                failure = None
                break
            except TRANSIENT as exc:
                failure = exc
                if retry == self.step_policy.retries:
                    break
                await asyncio.sleep(
                    backoff(retry, self.step_policy.base_delay, self.step_policy.max_delay)
                )
            except (Suspended, LeaseLost, TaskRejected):
                raise
            except Exception as exc:
                failure = exc
                break
        duration = (time.perf_counter() - clock) * 1000
        cost, tokens = (0.0, 0)
        if failure is None and usage is not None:
            cost, tokens = usage(result)
        self.calls += 1
        values: dict[str, Any] = {
            "status": StepStatus.COMPLETED if failure is None else StepStatus.FAILED,
            "result": {"value": to_jsonable_python(result)} if failure is None else None,
            "error": None if failure is None else f"{type(failure).__name__}: {failure}",
            "finished_at": utcnow(),
            "duration_ms": duration,
        }

        async def _tx(session: Any) -> Any:
            await lock_run(session, self.task.run_id)
            await self.hold_lease(session)
            if record is None:
                await session.execute(
                    insert(_step).values(
                        id=uuid.uuid4(),
                        task_run_id=self.task.id,
                        attempt=self.attempt,
                        seq=seq,
                        kind=kind,
                        name=name,
                        request_hash=digest,
                        idempotent=idempotent,
                        calls=1,
                        started_at=started,
                        cost_usd=cost,
                        tokens=tokens,
                        **values,
                    )
                )
            else:
                await session.execute(
                    update(_step)
                    .where(
                        _step.c.task_run_id == self.task.id,
                        _step.c.attempt == self.attempt,
                        _step.c.seq == seq,
                    )
                    .values(
                        cost_usd=_step.c.cost_usd + cost,
                        tokens=_step.c.tokens + tokens,
                        **values,
                    )
                )
            if cost or tokens:
                await session.execute(
                    update(_run)
                    .where(_run.c.id == self.task.run_id)
                    .values(cost_usd=_run.c.cost_usd + cost, tokens=_run.c.tokens + tokens)
                )

        await run_write(self.database, _tx)
        self.cost_usd += cost
        self.tokens += tokens
        if failure is not None:
            if isinstance(failure, TRANSIENT):
                raise TransientError(str(failure)) from failure
            raise StepFailed(f"{type(failure).__name__}: {failure}") from failure
        return result

    async def require_approval(
        self,
        *,
        grant: str,
        subject: ApprovalSubject,
        title: str,
        prompt: str,
        details: dict[str, Any] | None = None,
        priority: Priority = Priority.MEDIUM,
        on_reject: RejectionPolicy | None = None,
    ) -> None:
        """Wait for a human's approval unless ``grant`` was already given to this task."""
        if grant in self.task.grants:
            return
        await self.suspend(
            subject=subject,
            title=title,
            prompt=prompt,
            details={**(details or {}), "grant": grant},
            priority=priority,
            on_reject=on_reject,
        )

    async def suspend(
        self,
        *,
        subject: ApprovalSubject,
        title: str,
        prompt: str,
        details: dict[str, Any],
        priority: Priority = Priority.MEDIUM,
        on_reject: RejectionPolicy | None = None,
    ) -> None:
        """Create an APPROVAL, move the task to AWAITING_INPUT and release its lease."""
        options = self.task.run_options
        policy = on_reject or RejectionPolicy(self.task.spec.get("on_reject", "FAIL"))
        expires = options.get("approval_expiry_seconds")
        async with write(self.database, orm=True) as session:
            await lock_run(session, self.task.run_id)
            await self.hold_lease(session)
            interaction = await interactions.create(
                session,
                type=HumanInteractionType.APPROVAL,
                project_id=self.task.project_id,
                run_id=self.task.run_id,
                task_run_id=self.task.id,
                title=title,
                prompt=prompt,
                priority=priority,
                expires_at=utcnow() + timedelta(seconds=expires) if expires else None,
                escalation=EscalationRule(options.get("approval_escalation", "REJECT")),
                on_reject=policy,
                details={"subject": subject.value, **details},
            )
            await session.execute(
                update(_task)
                .where(_task.c.id == self.task.id)
                .values(
                    status=TaskRunStatus.AWAITING_INPUT, lease_owner=None, lease_expires_at=None
                )
            )
            await commit_events(
                session,
                self.task.run_id,
                [
                    Event(
                        RunEventType.INTERACTION_CREATED,
                        self.task.id,
                        {
                            "interaction_id": str(interaction.id),
                            "type": "APPROVAL",
                            "subject": subject.value,
                            "title": title,
                        },
                    ),
                    Event(
                        RunEventType.TASK_AWAITING_INPUT,
                        self.task.id,
                        {"interaction_id": str(interaction.id), "reason": title},
                    ),
                ],
            )
        raise Suspended(title)


async def load_recorded(session: AsyncSession, task_run_id: uuid.UUID, attempt: int) -> dict:
    rows = await session.execute(
        select(_step).where(_step.c.task_run_id == task_run_id, _step.c.attempt == attempt)
    )
    return {row.seq: row for row in rows}
