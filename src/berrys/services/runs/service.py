"""Runs: create one from a plan snapshot, read it, control it, and apply people's answers."""

from __future__ import annotations

import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.core.enums import (
    ApprovalSubject,
    AuditAction,
    HumanInteractionType,
    InteractionStatus,
    Priority,
    RejectionPolicy,
    RunEventType,
    RunStatus,
    TaskRunStatus,
    UserRole,
)
from berrys.core.errors import Conflict, InvalidTransition, NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.auth.contracts import UserOut
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionOut, InteractionResponse
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.runs import artifacts
from berrys.services.runs.contracts import (
    DependencyOut,
    DependencySpec,
    RunCreate,
    RunOut,
    RunSummary,
    StepOut,
    TaskRunOut,
    TaskSpec,
)
from berrys.services.runs.engine import signals
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.events import read as read_events
from berrys.services.runs.engine.execution import finish_task_by_policy
from berrys.services.runs.engine.state import (
    RUN_TERMINAL,
    TERMINAL,
    commit_events,
    initial_ready,
    lock_run,
)
from berrys.services.runs.tables import Run, Step, TaskRun, TaskRunDependency

T = TaskRunStatus
_run = Run.__table__
_task = TaskRun.__table__
_dep = TaskRunDependency.__table__
_step = Step.__table__

__all__ = ["read_events"]


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
    options = {**(options or {})}
    if actor_id is not None:
        options.setdefault("created_by", str(actor_id))
    now = utcnow()
    await session.execute(
        insert(_run).values(
            id=run_id,
            project_id=project_id,
            plan_id=plan_id,
            plan_version=plan_version,
            status=RunStatus.QUEUED,
            paused=False,
            cancel_requested=False,
            max_concurrency=max_concurrency,
            provider_limits=provider_limits or {},
            budget_usd=budget_usd,
            cost_usd=0.0,
            tokens=0,
            options=options,
            event_seq=0,
            created_by=actor_id,
            created_at=now,
            updated_at=now,
        )
    )
    ids = {task.key: uuid.uuid4() for task in tasks}
    if tasks:
        await session.execute(
            insert(_task),
            [
                {
                    "id": ids[task.key],
                    "run_id": run_id,
                    "plan_task_id": task.plan_task_id,
                    "key": task.key,
                    "position": position,
                    "critical_path": critical[task.key],
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
                for position, task in enumerate(tasks)
            ],
        )
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
    events = [
        Event(
            RunEventType.RUN_CREATED,
            None,
            {
                "tasks": len(tasks),
                "dependencies": len(dependencies),
                "plan_id": str(plan_id) if plan_id else None,
            },
        )
    ]
    if plan_approval is not None:
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
        events.append(
            Event(
                RunEventType.INTERACTION_CREATED,
                None,
                {"interaction_id": str(gate.id), "type": "APPROVAL", "subject": "PLAN"},
            )
        )
    else:
        await initial_ready(session, run_id, events)
    await commit_events(session, run_id, events)
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
        data["artifacts"] = await artifacts.for_run(session, run_id=run_id)
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
    project_id = await _check_access(session, run_id, user)
    await lock_run(session, run_id)
    status, row = await _status(session, run_id)
    events: list[Event] = []
    actor = user.id if user else None
    by = {"by": str(actor) if actor else None}
    if action == "pause":
        if status in RUN_TERMINAL or row.paused:
            raise InvalidTransition("Run", status, RunStatus.PAUSED, _allowed(status, row.paused))
        await session.execute(update(_run).where(_run.c.id == run_id).values(paused=True))
        events.append(Event(RunEventType.RUN_PAUSED, None, by))
    elif action == "resume":
        if not row.paused:
            raise InvalidTransition("Run", status, RunStatus.RUNNING, _allowed(status, row.paused))
        await session.execute(update(_run).where(_run.c.id == run_id).values(paused=False))
        events.append(Event(RunEventType.RUN_RESUMED, None, by))
    elif action == "cancel":
        if status in RUN_TERMINAL:
            raise InvalidTransition(
                "Run", status, RunStatus.CANCELLED, _allowed(status, row.paused)
            )
        cancelled = list(
            await session.scalars(
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
        )
        await session.execute(
            update(_run)
            .where(_run.c.id == run_id)
            .values(cancel_requested=True, gate_interaction_id=None)
        )
        await interactions.cancel_pending(session, run_id=run_id)
        events.extend(Event(RunEventType.TASK_CANCELLED, task_id) for task_id in cancelled)
        events.append(Event(RunEventType.RUN_CANCELLED, None, by))
    await commit_events(session, run_id, events)
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


# -- people's answers -------------------------------------------------------------------------
async def apply_interaction(session: AsyncSession, interaction: InteractionOut) -> None:
    """What an answered or expired interaction means for its run, in the same transaction."""
    if interaction.run_id is None or interaction.status == InteractionStatus.PENDING:
        return
    run_id = interaction.run_id
    await lock_run(session, run_id)
    detail = interaction.detail
    approved = bool(detail.get("approved")) if interaction.type == "APPROVAL" else True
    subject = detail.get("subject")
    extra = detail.get("details") or {}
    events: list[Event] = [
        Event(
            RunEventType.INTERACTION_RESOLVED,
            interaction.task_run_id,
            {
                "interaction_id": str(interaction.id),
                "type": interaction.type.value,
                "status": interaction.status.value,
                "approved": approved,
            },
        )
    ]
    gate = (
        await session.execute(select(_run.c.gate_interaction_id).where(_run.c.id == run_id))
    ).scalar_one_or_none()
    if gate == interaction.id:
        if approved:
            await session.execute(
                update(_run).where(_run.c.id == run_id).values(gate_interaction_id=None)
            )
            await initial_ready(session, run_id, events)
        else:
            await session.execute(
                update(_task)
                .where(_task.c.run_id == run_id, _task.c.status.not_in(list(TERMINAL)))
                .values(status=T.CANCELLED, finished_at=utcnow())
            )
            await session.execute(
                update(_run)
                .where(_run.c.id == run_id)
                .values(gate_interaction_id=None, cancel_requested=True)
            )
            events.append(Event(RunEventType.RUN_CANCELLED, None, {"by": "plan rejected"}))
    elif interaction.task_run_id is not None:
        task = (
            await session.execute(
                select(_task.c.status, _task.c.attempt, _task.c.grants, _task.c.spec).where(
                    _task.c.id == interaction.task_run_id
                )
            )
        ).first()
        if task is not None and TaskRunStatus(task.status) == T.AWAITING_INPUT:
            if subject == ApprovalSubject.TOOL_RERUN and "step_seq" in extra:
                await session.execute(
                    update(_step)
                    .where(
                        _step.c.task_run_id == interaction.task_run_id,
                        _step.c.attempt == task.attempt,
                        _step.c.seq == extra["step_seq"],
                    )
                    .values(resolution="RERUN" if approved else "REJECT")
                )
            if subject == ApprovalSubject.BUDGET and approved and extra.get("new_budget_usd"):
                await session.execute(
                    update(_run)
                    .where(_run.c.id == run_id)
                    .values(budget_usd=float(extra["new_budget_usd"]))
                )
            if approved:
                values: dict[str, Any] = {"status": T.READY}
                grant = extra.get("grant")
                if grant:
                    values["grants"] = [*(task.grants or []), grant]
                if interaction.type != HumanInteractionType.APPROVAL:
                    answers = dict((task.spec or {}).get("answers") or {})
                    answers[str(interaction.id)] = detail.get("answer") or detail.get("feedback")
                    values["spec"] = {**(task.spec or {}), "answers": answers}
                await session.execute(
                    update(_task).where(_task.c.id == interaction.task_run_id).values(**values)
                )
                events.append(
                    Event(
                        RunEventType.TASK_RESUMED,
                        interaction.task_run_id,
                        {"interaction_id": str(interaction.id)},
                    )
                )
            else:
                reason = f"{interaction.title}: " + (
                    "expired" if interaction.status == InteractionStatus.EXPIRED else "rejected"
                )
                await finish_task_by_policy(
                    session, interaction.task_run_id, reason, interaction.on_reject, events
                )
    await commit_events(session, run_id, events)
    signals.wake_after_commit(session)


async def respond_interaction(
    session: AsyncSession,
    *,
    interaction_id: uuid.UUID,
    response: InteractionResponse,
    user: UserOut | None,
) -> InteractionOut:
    """Record a person's answer and apply it to the waiting run, in one transaction."""
    project_ids = None
    if user is not None and user.role != UserRole.ADMIN:
        project_ids = await projects.visible_ids(session, user=user)
    # The run's lock first, as every change of a run's state takes it (lock_run): answering
    # records an audit entry, which locks the chain's head, and taken in the other order it
    # deadlocked on PostgreSQL with a group commit that held the run and wanted the head.
    asked = await interactions.get(session, interaction_id=interaction_id, project_ids=project_ids)
    if asked.run_id is not None:
        await lock_run(session, asked.run_id)
    answered = await interactions.respond(
        session,
        interaction_id=interaction_id,
        response=response,
        actor_id=user.id if user else None,
        project_ids=project_ids,
    )
    await apply_interaction(session, answered)
    return answered


async def expire_interactions(database: Database) -> int:
    """Apply the escalation rule of every expired interaction (the engine calls this)."""
    async with database.transaction(read_only=True) as session:
        due = await interactions.due_count(session)
    if not due:
        return 0
    now = utcnow()
    async with database.transaction() as session:
        for run_id in await interactions.due_run_ids(session, now=now):
            await lock_run(session, run_id)  # before the audit entries (respond_interaction)
        closed = await interactions.expire_due(session, now=now)
        for interaction in closed:
            await apply_interaction(session, interaction)
    return len(closed)


async def get_status(session: AsyncSession, *, run_id: uuid.UUID) -> RunStatus | None:
    value = (
        await session.execute(select(_run.c.status).where(_run.c.id == run_id))
    ).scalar_one_or_none()
    return RunStatus(value) if value is not None else None


async def create_from_plan(
    session: AsyncSession,
    *,
    database: Database,
    project_id: uuid.UUID,
    run_in: RunCreate,
    user: UserOut,
) -> RunOut:
    """A run over a snapshot of the project's current plan (or ``run_in.plan_id``).

    Plan approval (``run_in.require_plan_approval``, default the project's metadata setting
    ``require_plan_approval``) gates the run behind an APPROVAL showing the estimate.
    """
    from berrys.services.pipeline.estimate import estimate_plan

    project = await projects.get(session, project_id=project_id, user=user)
    if run_in.plan_id is not None:
        plan = await planning.get_detail(session, plan_id=run_in.plan_id, user=user)
        if plan.project_id != project_id:
            raise NotFound.of("Plan", run_in.plan_id)
    else:
        try:
            plan = await planning.get_current(session, project_id=project_id, user=user)
        except NotFound:
            raise Unprocessable(
                f"Project {project_id} has no plan to run: create or generate one first "
                f"(POST /api/v1/projects/{project_id}/plans)"
            ) from None
    if not plan.tasks:
        raise Unprocessable(f"Plan {plan.id} has no tasks to run")
    task_specs, dep_specs = plan_snapshot(plan)
    require = run_in.require_plan_approval
    if require is None:
        require = bool(project.metadata.get("require_plan_approval", False))
    options = {**run_in.options}
    approval = None
    if require:
        approval = await estimate_plan(
            session, database=database, plan=plan, user=user, options=options
        )
    return await create(
        session,
        project_id=project_id,
        tasks=task_specs,
        dependencies=dep_specs,
        actor_id=user.id,
        plan_id=plan.id,
        plan_version=plan.version,
        max_concurrency=run_in.max_concurrency,
        provider_limits=run_in.provider_limits,
        budget_usd=run_in.budget_usd,
        options=options,
        plan_approval=approval,
    )


def plan_snapshot(plan: Any) -> tuple[list[TaskSpec], list[DependencySpec]]:
    """The plan version's tasks and dependencies as the run's own copy."""
    ordered = sorted(plan.tasks, key=lambda task: (task.position, task.name))
    task_specs = [
        TaskSpec(
            key=str(task.id),
            name=task.name[:200],
            description=task.description,
            acceptance_criteria=list(task.acceptance_criteria),
            risk_level=task.risk_level,
            agent_id=task.assigned_agent_id,
            plan_task_id=task.id,
            spec={
                "estimate_hours": task.duration_hours,
                "priority": task.priority.value,
                "required_skills": list(task.required_skills),
                "deliverable": task.deliverable,
            },
        )
        for task in ordered
    ]
    dep_specs = [
        DependencySpec(
            from_key=str(dep.from_task_id),
            to_key=str(dep.to_task_id),
            dependency_type=dep.type,
            lag_hours=dep.lag_hours,
        )
        for dep in plan.dependencies
    ]
    return task_specs, dep_specs


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
