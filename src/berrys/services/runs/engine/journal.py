"""Recorded steps and replay: every model and tool call of a task attempt goes through here.

The record of step ``(task_run, attempt, seq)`` decides before it runs: COMPLETED with the
same request hash returns the recorded result; another hash is :class:`Diverged` (a new
attempt); FAILED raises the recorded error; STARTED (in flight at a crash) issues a model
call or an idempotent tool again and turns a non-idempotent tool into an APPROVAL. A tool's
STARTED commits before the call; a model step is written once with its result. Every write
goes through the group commit, which checks the task's lease (:class:`LeaseLost`), and a
speculative task writes nothing before its claim commits.
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
from sqlalchemy import insert, update

from berrys.core.db import Database, utcnow
from berrys.core.enums import Priority
from berrys.core.errors import ServiceUnavailable, TooManyRequests
from berrys.services.interactions.contracts import (
    ApprovalSubject,
    EscalationRule,
    HumanInteractionType,
    RejectionPolicy,
)
from berrys.services.runs.contracts import (
    RunEventType,
    StepKind,
    StepResolution,
    StepStatus,
    TaskRunStatus,
)
from berrys.services.runs.engine.commit import STEPS, GroupCommitter, LeaseLost, Tx
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.hooks import ApprovalAsked, AskPerson
from berrys.services.runs.engine.state import with_orm
from berrys.services.runs.engine.trace import bounded
from berrys.services.runs.tables import Step, TaskRun

_task = TaskRun.__table__
_step = Step.__table__


class TransientError(Exception):
    """A call failed in a way worth retrying (rate limit, timeout, connection)."""


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
    return _digest(kind, name, to_jsonable_python(request))


def _digest(kind: StepKind, name: str, asked: Any) -> str:
    """The hash of a request already made JSON-able (``to_jsonable_python``)."""
    canonical = json.dumps(
        {"kind": kind.value, "name": name, "request": asked},
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
    finish_gated: bool = False  # an FF/SF predecessor may hold back its COMPLETED


@dataclass
class StepPolicy:
    retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 20.0
    # Commit STARTED before every model call too (a crash then shows, and counts, the
    # re-issue; one more commit per call). A tool's STARTED is committed before the call
    # whatever this says; without it a model step is written once, with its result.
    record_starts: bool = False


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: uniform in [d/2, d], d = min(cap, base * 2^attempt)."""
    delay = min(cap, base * 2.0**attempt)
    return delay / 2 + random.random() * delay / 2


# What ``_replay`` answers for a call a process stopped during: it is made again.
_IN_FLIGHT = object()


@dataclass(eq=False)
class _Made:
    """A step being made: what identifies its record, and how it is recorded."""

    kind: StepKind
    name: str
    request: tuple[str, Any]  # its hash, and its JSON-able form
    idempotent: bool
    key: dict[str, Any]  # task_run_id, attempt, seq
    recorded: bool = False  # a row of it exists (STARTED, or replayed in flight)
    rerun: bool = False  # a non-idempotent tool call run again on a person's approval

    def row(self, status: StepStatus, started: Any) -> dict[str, Any]:
        return _step_row(
            self.key, self.kind, self.name, self.request, self.idempotent, status, started
        )


class TaskContext:
    """Handed to the executor: every model and tool call goes through :meth:`step`."""

    def __init__(
        self,
        database: Database,
        task: TaskSnapshot,
        *,
        writes: GroupCommitter,
        ask_person: AskPerson,
        recorded: dict[int, Any],
        step_policy: StepPolicy | None = None,
        claimed: asyncio.Future[None] | None = None,
    ) -> None:
        self.database = database
        self.task = task
        self.writes = writes
        self._ask_person = ask_person
        self._recorded = recorded
        # Set while the task runs speculatively: resolved once its claim committed.
        self._claimed = claimed
        self._seq = 0
        self.step_policy = step_policy or StepPolicy()
        self.cost_usd = 0.0
        self.tokens = 0
        self.calls = 0
        self.replayed = 0

    @property
    def attempt(self) -> int:
        return self.task.attempt

    @property
    def speculative(self) -> bool:
        """Started before its claim committed, and the claim is not known yet."""
        return self._claimed is not None

    async def confirmed(self) -> None:
        """Return once this worker's claim of the task has committed (at once for a task
        claimed before it started); :class:`LeaseLost` if the claim failed. Every write and
        every tool call of the task waits here first."""
        claimed = self._claimed
        if claimed is None:
            return
        try:
            await claimed
        except asyncio.CancelledError:
            if claimed.cancelled():
                raise LeaseLost(f"{self.task.id}: not claimed") from None
            raise
        self._claimed = None

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

    async def _write(self, body: Callable[[Tx], Awaitable[Any]], **kwargs: Any) -> Any:
        """One write of this task through the worker's group commit (its lease checked)."""
        await self.confirmed()
        return await self.writes.write_one(
            body, task_id=self.task.id, run_id=self.task.run_id, **kwargs
        )

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
        """One recorded call: its recorded outcome when there is one, else the call (retried
        while it fails transiently), recorded."""
        if kind == StepKind.TOOL:
            await self.confirmed()  # a tool never runs before the task's claim committed
        seq = self._seq
        self._seq += 1
        asked = to_jsonable_python(request)
        key = {"task_run_id": self.task.id, "attempt": self.attempt, "seq": seq}
        made = _Made(kind, name, (_digest(kind, name, asked), asked), idempotent, key)
        record = self._recorded.get(seq)
        if record is not None:
            replayed = await self._replay(record, made, request)
            if replayed is not _IN_FLIGHT:
                return replayed
            # A person's approval covers one re-run of a non-idempotent tool.
            made.rerun = kind == StepKind.TOOL and not record.idempotent
            await self._reissue(made)
            made.recorded = True
        elif kind == StepKind.TOOL or self.step_policy.record_starts:
            starting = StepStatus.STARTED
            await self._record({"row": made.row(starting, utcnow())})
            made.recorded = True
        started = utcnow()
        clock = time.perf_counter()
        result, failure = await self._call(call)
        duration = (time.perf_counter() - clock) * 1000
        cost, tokens = (0.0, 0)
        if failure is None and usage is not None:
            cost, tokens = usage(result)
        self.calls += 1
        await self._record_outcome(made, (result, failure), started, duration, (cost, tokens))
        self.cost_usd += cost
        self.tokens += tokens
        if failure is not None:
            if isinstance(failure, TRANSIENT):
                raise TransientError(str(failure)) from failure
            raise StepFailed(f"{type(failure).__name__}: {failure}") from failure
        return result

    async def _replay(self, record: Any, made: _Made, request: Any) -> Any:
        """A recorded step's outcome: its result, or its failure raised again; ``_IN_FLIGHT``
        for a call a process stopped during (a non-idempotent tool asks a person first)."""
        seq = made.key["seq"]
        if record.request_hash != made.request[0]:
            raise Diverged(seq)
        status = StepStatus(record.status)
        if status == StepStatus.COMPLETED:
            self.replayed += 1
            return (record.result or {}).get("value")
        if status == StepStatus.FAILED:
            raise StepFailed(record.error or "recorded failure")
        if made.kind == StepKind.TOOL and not record.idempotent:
            await self._rerun_allowed(record.resolution, made.name, request, seq)
        return _IN_FLIGHT

    async def _rerun_allowed(
        self, resolution: str | None, name: str, request: Any, seq: int
    ) -> None:
        """A non-idempotent tool call in flight when its worker stopped may or may not have
        taken effect: it runs again only once a person approved; rejected, the task ends."""
        if resolution == StepResolution.REJECT:
            raise TaskRejected(
                f"a person declined to run {name!r} again",
                RejectionPolicy(self.task.spec.get("on_reject", "FAIL")),
            )
        if resolution != StepResolution.RERUN:
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

    async def _reissue(self, made: _Made) -> None:
        """Count the re-issue before calling, so a crash during it is still counted. A re-run
        a person approved is unresolved while it runs (in flight at another crash, it asks
        again) and RERUN once it has an outcome."""
        used = {"resolution": None} if made.rerun else {}
        payload = {"seq": made.key["seq"], "kind": made.kind.value, "name": made.name}

        async def _tx(tx: Tx) -> None:
            await tx.session.execute(
                update(_step).where(*_step_key(made.key)).values(calls=_step.c.calls + 1, **used)
            )
            event = Event(RunEventType.STEP_REISSUED, self.task.id, payload)
            tx.emit(self.task.run_id, [event], refresh=False)

        await self._write(_tx)

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException | None]:
        """The call, retried with back-off while it fails transiently: (result, None), or
        (None, its failure). The database going away is no outcome of the call: raised."""
        retry = 0
        while True:
            try:
                return await call(), None
            except (Suspended, LeaseLost, TaskRejected):
                raise
            except Exception as exc:
                if await self.database.outage(exc):
                    raise  # not the call's outcome: the engine hands the task back
                if not isinstance(exc, TRANSIENT) or retry == self.step_policy.retries:
                    return None, exc
            await asyncio.sleep(
                backoff(retry, self.step_policy.base_delay, self.step_policy.max_delay)
            )
            retry += 1

    async def _record_outcome(
        self,
        made: _Made,
        outcome: tuple[Any, BaseException | None],
        started: Any,
        duration: float,
        spent: tuple[float, int],
    ) -> None:
        """The step COMPLETED with its result or FAILED with its error, and what it cost."""
        result, failure = outcome
        values: dict[str, Any] = {
            "status": StepStatus.COMPLETED if failure is None else StepStatus.FAILED,
            "result": {"value": to_jsonable_python(result)} if failure is None else None,
            "error": None if failure is None else f"{type(failure).__name__}: {failure}",
            "finished_at": utcnow(),
            "duration_ms": duration,
        }
        if made.rerun:
            values["resolution"] = StepResolution.RERUN.value
        cost, tokens = spent
        charge = {"run_id": self.task.run_id, "cost_usd": cost, "tokens": tokens}
        if made.recorded:
            await self._record({"update": (made.key, values), **charge})
            return
        row = made.row(values.pop("status"), started)
        # A model call's record need not be waited for: lost in a crash, the call is
        # simply issued again. It commits with the task's next write at the latest.
        done = {"row": {**row, **values, "cost_usd": cost, "tokens": tokens}, **charge}
        await self._record(done, wait=made.kind != StepKind.MODEL)

    async def _record(self, payload: dict[str, Any], *, wait: bool = True) -> None:
        await self.confirmed()
        future = self.writes.submit(
            record_steps,
            payload,
            stage=STEPS,
            task_id=self.task.id,
            run_id=self.task.run_id,
            wait=wait,
        )
        if future is not None:
            await future

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
        asked = ApprovalAsked(
            project_id=self.task.project_id,
            run_id=self.task.run_id,
            task_run_id=self.task.id,
            subject=subject,
            title=title,
            prompt=prompt,
            details=details,
            priority=priority,
            expires_at=utcnow() + timedelta(seconds=expires) if expires else None,
            escalation=EscalationRule(options.get("approval_escalation", "REJECT")),
            on_reject=policy,
        )

        async def _suspend(tx: Tx) -> None:
            interaction_id = await with_orm(tx.session, lambda orm: self._ask_person(orm, asked))
            await tx.session.execute(
                update(_task)
                .where(_task.c.id == self.task.id)
                .values(
                    status=TaskRunStatus.AWAITING_INPUT, lease_owner=None, lease_expires_at=None
                )
            )
            tx.emit(self.task.run_id, self._waiting(str(interaction_id), asked))

        await self._write(_suspend, terminal=True)
        raise Suspended(title)

    def _waiting(self, interaction_id: str, asked: ApprovalAsked) -> list[Event]:
        """The events of a task that waits for a person's approval."""
        created = {
            "interaction_id": interaction_id,
            "type": HumanInteractionType.APPROVAL.value,
            "subject": asked.subject.value,
            "title": asked.title,
        }
        waiting = {"interaction_id": interaction_id, "reason": asked.title}
        return [
            Event(RunEventType.INTERACTION_CREATED, self.task.id, created),
            Event(RunEventType.TASK_AWAITING_INPUT, self.task.id, waiting),
        ]


_INSERT_STEPS = insert(_step)


def _step_key(key: dict[str, Any]) -> tuple[Any, ...]:
    return (
        _step.c.task_run_id == key["task_run_id"],
        _step.c.attempt == key["attempt"],
        _step.c.seq == key["seq"],
    )


def _step_row(
    key: dict[str, Any],
    kind: StepKind,
    name: str,
    request: tuple[str, Any],
    idempotent: bool,
    status: StepStatus,
    started: Any,
) -> dict[str, Any]:
    """Every column of a new step row (one shape, so a batch inserts them in one statement);
    ``request`` is its hash and its JSON-able form, kept for the trace with long texts cut."""
    digest, asked = request
    return {
        **key,
        "id": uuid.uuid4(),
        "kind": kind,
        "name": name,
        "request_hash": digest,
        "request": bounded(asked),
        "status": status,
        "idempotent": idempotent,
        "calls": 1,
        "started_at": started,
        "result": None,
        "error": None,
        "finished_at": None,
        "duration_ms": None,
        "cost_usd": 0.0,
        "tokens": 0,
    }


async def record_steps(tx: Tx, steps: list[dict[str, Any]]) -> None:
    """A batch's step records: new rows in one statement, finished calls; their cost goes
    to the run with the batch's events."""
    rows = [step["row"] for step in steps if "row" in step]
    if rows:
        await tx.session.execute(_INSERT_STEPS, rows)
    for step in steps:
        if "update" in step:
            key, values = step["update"]
            await tx.session.execute(
                update(_step)
                .where(*_step_key(key))
                .values(
                    cost_usd=_step.c.cost_usd + step["cost_usd"],
                    tokens=_step.c.tokens + step["tokens"],
                    **values,
                )
            )
        if step.get("cost_usd") or step.get("tokens"):
            tx.spend(step["run_id"], step["cost_usd"], step["tokens"])
