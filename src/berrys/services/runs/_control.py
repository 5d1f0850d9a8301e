"""Runs: create one over a snapshot of tasks, read it and its events, control it (pause,
resume, cancel, retry a task)."""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core import tracing
from berrys.core.db import utcnow
from berrys.core.enums import Priority
from berrys.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    ApprovalSubject,
    HumanInteractionType,
    RejectionPolicy,
)
from berrys.services.projects import service as projects
from berrys.services.runs import _artifacts, _effects
from berrys.services.runs.contracts import (
    RUN_TERMINAL,
    TERMINAL,
    DependencyOut,
    DependencySpec,
    RunEventType,
    RunOut,
    RunStatus,
    RunSummary,
    StepOut,
    TaskRunOut,
    TaskRunStatus,
    TaskSpec,
)
from berrys.services.runs.engine import signals
from berrys.services.runs.engine.events import Event, emit_many
from berrys.services.runs.engine.events import read as read_events
from berrys.services.runs.engine.state import commit_events, initial_ready, lock_run
from berrys.services.runs.tables import Run, Step, TaskRun, TaskRunDependency

T = TaskRunStatus
_run = Run.__table__
_task = TaskRun.__table__
_dep = TaskRunDependency.__table__
_step = Step.__table__


def _check_dag(tasks: Sequence[TaskSpec], dependencies: Sequence[DependencySpec]) -> list[str]:
    """The task keys in a topological order; Unprocessable for a cycle or an unknown key."""
    keys = [task.key for task in tasks]
    if len(set(keys)) != len(keys):
        raise Unprocessable("Task keys must be unique within a run")
    known = set(keys)
    successors: dict[str, list[str]] = defaultdict(list)
    indegree = dict.fromkeys(keys, 0)
    for dep in dependencies:
        if dep.from_key not in known or dep.to_key not in known:
            raise Unprocessable(f"Dependency {dep.from_key} -> {dep.to_key} names an unknown task")
        if dep.from_key == dep.to_key:
            raise Unprocessable(f"Task {dep.from_key} cannot depend on itself")
        successors[dep.from_key].append(dep.to_key)
        indegree[dep.to_key] += 1
    queue = deque(key for key, degree in indegree.items() if degree == 0)
    order = []
    while queue:
        key = queue.popleft()
        order.append(key)
        for succ in successors[key]:
            indegree[succ] -= 1
            if indegree[succ] == 0:
                queue.append(succ)
    if len(order) != len(keys):
        raise Unprocessable("The dependencies form a cycle")
    return order


def _critical_paths(
    tasks: Sequence[TaskSpec], dependencies: Sequence[DependencySpec], order: list[str]
) -> dict[str, float]:
    """Per task, the work on the longest path from it to the end (its estimate hours, 1 per
    task without one): the claim order when slots are scarce. Every dependency type counts
    as a sequence here; it is a priority, not a schedule."""
    weight = {}
    for task in tasks:
        estimate = task.spec.get("estimate_hours")
        weight[task.key] = float(estimate) if isinstance(estimate, int | float) else 1.0
    successors: dict[str, list[str]] = defaultdict(list)
    for dep in dependencies:
        successors[dep.from_key].append(dep.to_key)
    left: dict[str, float] = {}
    for key in reversed(order):
        left[key] = weight[key] + max((left[succ] for succ in successors[key]), default=0.0)
    return left


async def create(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    tasks: Sequence[TaskSpec],
    dependencies: Sequence[DependencySpec] = (),
    actor_id: uuid.UUID | None = None,
    plan_id: uuid.UUID | None = None,
    plan_version: int | None = None,
    max_concurrency: int = 8,
    provider_limits: dict[str, int] | None = None,
    budget_usd: float | None = None,
    options: dict[str, Any] | None = None,
    plan_approval: dict[str, Any] | None = None,
) -> RunOut:
    """A QUEUED run over a snapshot of ``tasks`` and their ``dependencies``.

    With ``plan_approval`` (the estimate to show) no task starts before a person approves.
    """
    critical = _critical_paths(tasks, dependencies, _check_dag(tasks, dependencies))
    run_id = uuid.uuid4()
    options = _run_options(options, actor_id)
    now = utcnow()
    run_row = {
        "id": run_id,
        "project_id": project_id,
        "plan_id": plan_id,
        "plan_version": plan_version,
        "max_concurrency": max_concurrency,
        "provider_limits": provider_limits or {},
        "budget_usd": budget_usd,
        "options": options,
        "created_by": actor_id,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(insert(_run).values(**run_row, **_NEW_RUN))
    await _insert_graph(session, run_id, tasks, dependencies, critical)
    events = [_created(len(tasks), len(dependencies), plan_id)]
    if plan_approval is not None:
        await _gate(session, run_id, project_id, plan_approval, actor_id, events)
    else:
        await initial_ready(session, run_id, events)
    await commit_events(session, run_id, events, on_status=_effects.status_changed)
    created = await _load(session, run_id, with_tasks=False)
    await audit.record(
        session,
        entity_type="run",
        entity_id=run_id,
        project_id=project_id,
        action=AuditAction.CREATE,
        actor_id=actor_id,
        after=created,
    )
    signals.wake_after_commit(session)
    return await _load(session, run_id)


def _run_options(given: dict[str, Any] | None, actor_id: uuid.UUID | None) -> dict[str, Any]:
    """The options a new run keeps: the given ones, who created it, and its trace (the ids of
    its workflow span, chosen now; none when tracing is off, never the caller's)."""
    options = {**(given or {})}
    if actor_id is not None:
        options.setdefault("created_by", str(actor_id))
    options.pop(tracing.TRACEPARENT, None)
    traceparent = tracing.new_workflow()
    if traceparent is not None:
        options[tracing.TRACEPARENT] = traceparent
    return options


# What every new run starts with.
_NEW_RUN = {
    "status": RunStatus.QUEUED,
    "paused": False,
    "cancel_requested": False,
    "cost_usd": 0.0,
    "tokens": 0,
    "event_seq": 0,
}


async def _insert_graph(
    session: AsyncSession,
    run_id: uuid.UUID,
    tasks: Sequence[TaskSpec],
    dependencies: Sequence[DependencySpec],
    critical: dict[str, float],
) -> None:
    """The run's task runs (PENDING, in the given order) and the links between them."""
    ids = {task.key: uuid.uuid4() for task in tasks}
    if tasks:
        rows = [
            _task_row(run_id, ids[task.key], position, task, critical[task.key])
            for position, task in enumerate(tasks)
        ]
        await session.execute(insert(_task), rows)
    if dependencies:
        await session.execute(
            insert(_dep),
            [
                {
                    "run_id": run_id,
                    "from_task_run_id": ids[dep.from_key],
                    "to_task_run_id": ids[dep.to_key],
                    "dependency_type": dep.dependency_type,
                    "lag_hours": dep.lag_hours,
                }
                for dep in dependencies
            ],
        )


def _task_row(
    run_id: uuid.UUID, task_id: uuid.UUID, position: int, task: TaskSpec, critical: float
) -> dict[str, Any]:
    return {
        "id": task_id,
        "run_id": run_id,
        "plan_task_id": task.plan_task_id,
        "key": task.key,
        "position": position,
        "critical_path": critical,
        "name": task.name,
        "description": task.description,
        "acceptance_criteria": task.acceptance_criteria,
        "risk_level": task.risk_level,
        "agent_id": task.agent_id,
        "provider": task.provider,
        "spec": task.spec,
        "status": T.PENDING,
        "attempt": 0,
        "failures": 0,
        "max_attempts": task.max_attempts,
        "timeout_seconds": task.timeout_seconds,
        "output_ready": False,
        "grants": [],
        "cost_usd": 0.0,
        "tokens": 0,
    }


def _created(tasks: int, dependencies: int, plan_id: uuid.UUID | None) -> Event:
    payload = {
        "tasks": tasks,
        "dependencies": dependencies,
        "plan_id": str(plan_id) if plan_id else None,
    }
    return Event(RunEventType.RUN_CREATED, None, payload)


async def _gate(
    session: AsyncSession,
    run_id: uuid.UUID,
    project_id: uuid.UUID,
    plan_approval: dict[str, Any],
    actor_id: uuid.UUID | None,
    events: list[Event],
) -> None:
    """No task starts before a person approves the plan (its estimate shown)."""
    gate = await interactions.create(
        session,
        type=HumanInteractionType.APPROVAL,
        project_id=project_id,
        run_id=run_id,
        title="Approve the plan before the run starts",
        prompt=plan_approval.get("summary", "Review the plan, its estimated cost and time."),
        priority=Priority.HIGH,
        on_reject=RejectionPolicy.FAIL,
        details={"subject": ApprovalSubject.PLAN, **plan_approval},
        actor_id=actor_id,
    )
    await session.execute(
        update(_run).where(_run.c.id == run_id).values(gate_interaction_id=gate.id)
    )
    payload = {
        "interaction_id": str(gate.id),
        "type": HumanInteractionType.APPROVAL.value,
        "subject": ApprovalSubject.PLAN.value,
    }
    events.append(Event(RunEventType.INTERACTION_CREATED, None, payload))


_TASK_OUT = [_task.c[name] for name in TaskRunOut.model_fields if name in _task.c]


def task_out(row: dict[str, Any]) -> TaskRunOut:
    """A task run as the API shows it; a NEEDS_REVIEW task's reasons come from its output."""
    reasons: list[str] = []
    if row["status"] == T.NEEDS_REVIEW:
        reasons = [str(item) for item in (row.get("output") or {}).get("review_reasons") or []]
    return TaskRunOut.model_validate({**row, "review_reasons": reasons}, from_attributes=False)


async def _load(session: AsyncSession, run_id: uuid.UUID, *, with_tasks: bool = True) -> RunOut:
    row = (await session.execute(select(_run).where(_run.c.id == run_id))).first()
    if row is None:
        raise NotFound.of("Run", run_id)
    data: dict[str, Any] = dict(row._mapping)
    for key in ("paused", "cancel_requested", "event_seq", "created_by", "updated_at"):
        data.pop(key, None)
    data.pop("provider_limits", None)
    if with_tasks:
        data["task_runs"] = [
            task_out(dict(task._mapping))
            for task in await session.execute(
                select(*_TASK_OUT).where(_task.c.run_id == run_id).order_by(_task.c.position)
            )
        ]
        data["dependencies"] = [
            DependencyOut.model_validate(dict(dep._mapping))
            for dep in await session.execute(
                select(
                    _dep.c.from_task_run_id,
                    _dep.c.to_task_run_id,
                    _dep.c.dependency_type,
                    _dep.c.lag_hours,
                ).where(_dep.c.run_id == run_id)
            )
        ]
        data["artifacts"] = await _artifacts.for_run(session, run_id=run_id)
    return RunOut.model_validate({**data, "paused": row.paused})


async def _check_access(
    session: AsyncSession, run_id: uuid.UUID, user: UserOut | None
) -> uuid.UUID:
    project_id: uuid.UUID | None = (
        await session.execute(select(_run.c.project_id).where(_run.c.id == run_id))
    ).scalar_one_or_none()
    if project_id is None:
        raise NotFound.of("Run", run_id)
    if user is not None:
        try:
            await projects.get(session, project_id=project_id, user=user)
        except NotFound:
            raise NotFound.of("Run", run_id) from None
    return project_id


async def get(session: AsyncSession, *, run_id: uuid.UUID, user: UserOut | None = None) -> RunOut:
    """The run with its task runs, dependencies and artifacts; others' runs are NotFound."""
    await _check_access(session, run_id, user)
    return await _load(session, run_id)


async def check_access(session: AsyncSession, *, run_id: uuid.UUID, user: UserOut) -> uuid.UUID:
    """The run's project id; NotFound for a run the user may not see."""
    return await _check_access(session, run_id, user)


async def get_all(
    session: AsyncSession, *, project_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[RunSummary], int]:
    condition = _run.c.project_id == project_id
    total = (
        await session.execute(select(func.count()).select_from(_run).where(condition))
    ).scalar_one()
    rows = await session.execute(
        select(*[_run.c[name] for name in RunSummary.model_fields])
        .where(condition)
        .order_by(_run.c.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    return [RunSummary.model_validate(dict(row._mapping)) for row in rows], total


async def get_steps(
    session: AsyncSession, *, run_id: uuid.UUID, task_run_id: uuid.UUID | None = None
) -> list[StepOut]:
    """The run's recorded model and tool calls (one task's with ``task_run_id``), in order.

    No access check: the caller has checked the run (``check_access``)."""
    condition = TaskRun.run_id == run_id
    if task_run_id is not None:
        condition = condition & (Step.task_run_id == task_run_id)
    rows = await session.scalars(
        select(Step)
        .join(TaskRun, TaskRun.id == Step.task_run_id)
        .where(condition)
        .order_by(Step.task_run_id, Step.attempt, Step.seq)
    )
    return [StepOut.model_validate(row) for row in rows]


async def events(
    session: AsyncSession, *, run_id: uuid.UUID, after_seq: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    return await read_events(session, run_id=run_id, after_seq=after_seq, limit=limit)


async def _status(session: AsyncSession, run_id: uuid.UUID) -> tuple[RunStatus, Any]:
    row = (
        await session.execute(
            select(_run.c.status, _run.c.project_id, _run.c.paused).where(_run.c.id == run_id)
        )
    ).one()
    return RunStatus(row.status), row


async def _control(
    session: AsyncSession,
    *,
    run_id: uuid.UUID,
    user: UserOut | None,
    action: str,
) -> RunOut:
    """Pause, resume or cancel the run (``action``): the change, its events and status, and
    an audit entry naming who did it."""
    project_id = await _check_access(session, run_id, user)
    await lock_run(session, run_id)
    status, row = await _status(session, run_id)
    actor = user.id if user else None
    events = await _CONTROLS[action](session, run_id, status, row.paused)
    by = {"by": str(actor) if actor else None}
    events.append(Event(_CONTROL_EVENTS[action], None, by))
    await commit_events(session, run_id, events, on_status=_effects.status_changed)
    after = await _load(session, run_id, with_tasks=False)
    await audit.record(
        session,
        entity_type="run",
        entity_id=run_id,
        project_id=project_id,
        action=AuditAction.TRANSITION,
        actor_id=actor,
        after={"action": action, "status": after.status.value},
    )
    signals.wake_after_commit(session)
    return await _load(session, run_id)


async def _pause(
    session: AsyncSession, run_id: uuid.UUID, status: RunStatus, paused: bool
) -> list[Event]:
    if status in RUN_TERMINAL or paused:
        raise InvalidTransition("Run", status, RunStatus.PAUSED, _allowed(status, paused))
    await session.execute(update(_run).where(_run.c.id == run_id).values(paused=True))
    return []


async def _resume(
    session: AsyncSession, run_id: uuid.UUID, status: RunStatus, paused: bool
) -> list[Event]:
    if not paused:
        raise InvalidTransition("Run", status, RunStatus.RUNNING, _allowed(status, paused))
    await session.execute(update(_run).where(_run.c.id == run_id).values(paused=False))
    return []


async def _cancel(
    session: AsyncSession, run_id: uuid.UUID, status: RunStatus, paused: bool
) -> list[Event]:
    """Every unfinished task CANCELLED at once, and the questions the run still asks."""
    if status in RUN_TERMINAL:
        raise InvalidTransition("Run", status, RunStatus.CANCELLED, _allowed(status, paused))
    cancelled = await session.scalars(
        update(_task)
        .where(_task.c.run_id == run_id, _task.c.status.not_in(list(TERMINAL)))
        .values(
            status=T.CANCELLED,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=utcnow(),
            output_ready=False,
        )
        .returning(_task.c.id)
    )
    events = [Event(RunEventType.TASK_CANCELLED, task_id) for task_id in list(cancelled)]
    await session.execute(
        update(_run)
        .where(_run.c.id == run_id)
        .values(cancel_requested=True, gate_interaction_id=None)
    )
    await interactions.cancel_pending(session, run_id=run_id)
    return events


_CONTROLS = {"pause": _pause, "resume": _resume, "cancel": _cancel}
_CONTROL_EVENTS = {
    "pause": RunEventType.RUN_PAUSED,
    "resume": RunEventType.RUN_RESUMED,
    "cancel": RunEventType.RUN_CANCELLED,
}


def _allowed(status: RunStatus, paused: bool) -> list[str]:
    if status in RUN_TERMINAL:
        return []
    if paused:
        return [RunStatus.RUNNING.value, RunStatus.CANCELLED.value]
    return [RunStatus.PAUSED.value, RunStatus.CANCELLED.value]


async def pause(session: AsyncSession, *, run_id: uuid.UUID, user: UserOut | None) -> RunOut:
    """No new task starts; running ones finish their work. Illegal from a final state."""
    return await _control(session, run_id=run_id, user=user, action="pause")


async def resume(session: AsyncSession, *, run_id: uuid.UUID, user: UserOut | None) -> RunOut:
    return await _control(session, run_id=run_id, user=user, action="resume")


async def cancel(session: AsyncSession, *, run_id: uuid.UUID, user: UserOut | None) -> RunOut:
    """Every unfinished task is CANCELLED at once; a worker still running one loses its lease."""
    return await _control(session, run_id=run_id, user=user, action="cancel")


async def retry_task(
    session: AsyncSession, *, run_id: uuid.UUID, task_run_id: uuid.UUID, user: UserOut | None
) -> RunOut:
    """A FAILED task gets a fresh attempt (READY); the run becomes active again."""
    project_id = await _check_access(session, run_id, user)
    await lock_run(session, run_id)
    status, _ = await _status(session, run_id)
    if status == RunStatus.CANCELLED:
        raise Conflict("A cancelled run cannot be retried")
    task = (
        await session.execute(
            select(_task.c.status, _task.c.attempt, _task.c.max_attempts).where(
                _task.c.id == task_run_id, _task.c.run_id == run_id
            )
        )
    ).first()
    if task is None:
        raise NotFound.of("Task run", task_run_id)
    if TaskRunStatus(task.status) != T.FAILED:
        raise InvalidTransition("Task run", task.status, T.READY, [])
    await requeue(session, task_run_id, task)
    actor = user.id if user else None
    await commit_events(
        session,
        run_id,
        [Event(RunEventType.TASK_RETRIED, task_run_id, {"by": str(actor) if actor else None})],
        on_status=_effects.status_changed,
    )
    await audit.record(
        session,
        entity_type="task_run",
        entity_id=task_run_id,
        project_id=project_id,
        action=AuditAction.UPDATE,
        actor_id=actor,
        after={"action": "retry", "attempt": task.attempt + 1},
    )
    signals.wake_after_commit(session)
    return await _load(session, run_id)


async def add_events(
    session: AsyncSession, *, run_id: uuid.UUID, events: Sequence[tuple[RunEventType, Any]]
) -> None:
    """Events about the run from outside the engine (the pipeline's stages), in order."""
    await emit_many(session, run_id, [Event(kind, None, payload) for kind, payload in events])


async def plan_of(session: AsyncSession, *, run_id: uuid.UUID) -> uuid.UUID | None:
    """The plan the run was made from, if any."""
    return await session.scalar(select(_run.c.plan_id).where(_run.c.id == run_id))


async def get_status(session: AsyncSession, *, run_id: uuid.UUID) -> RunStatus | None:
    value = (
        await session.execute(select(_run.c.status).where(_run.c.id == run_id))
    ).scalar_one_or_none()
    return RunStatus(value) if value is not None else None


async def requeue(session: AsyncSession, task_run_id: uuid.UUID, task: Any, **values: Any) -> None:
    """The task runs again as a new attempt (a retry, a draft sent back); ``values`` besides."""
    await session.execute(
        update(_task)
        .where(_task.c.id == task_run_id)
        .values(
            status=T.READY,
            attempt=task.attempt + 1,
            max_attempts=max(task.max_attempts, task.attempt + 1),
            not_before=None,
            finished_at=None,
            error=None,
            **values,
        )
    )


async def release_dead_leases(session: AsyncSession, *, run_id: uuid.UUID, is_dead: Any) -> int:
    """Expire the leases of the run's tasks whose worker ``is_dead(worker_id)`` says is gone,
    so a resumed run continues at once instead of waiting for the lease to run out."""
    rows = (
        await session.execute(
            select(_task.c.id, _task.c.lease_owner).where(
                _task.c.run_id == run_id,
                _task.c.status == T.RUNNING,
                _task.c.lease_owner.is_not(None),
            )
        )
    ).all()
    dead = [row.id for row in rows if is_dead(row.lease_owner)]
    if dead:
        await session.execute(
            update(_task).where(_task.c.id.in_(dead)).values(lease_expires_at=utcnow())
        )
    return len(dead)
