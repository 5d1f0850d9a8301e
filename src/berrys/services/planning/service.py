"""Planning System: plan versions, phases, milestones, tasks, dependencies and resources.

Editing a version (phases, milestones, resources, tasks, dependencies) lives in
``editing.py``; schedules, forecasts, levelling, bottlenecks and what-if in ``insights.py``; plan
generation in ``generation.py``; the pure critical-path engine in ``schedule.py``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.planning import _analysis
from berrys.services.planning._analysis import DepSpec, PlanModel, TaskSpec
from berrys.services.planning._common import (
    _deps,
    _plan_row,
    _record,
    _rows,
    _tasks,
    task_out,
)
from berrys.services.planning._editing import (
    create_dependency,
    create_task,
    set_predecessors,
    update_task,
)
from berrys.services.planning._generation import create_plan
from berrys.services.planning._insights import get_bottlenecks, get_schedule
from berrys.services.planning._versions import (
    _detail,
    _insert_version,
    _make_current,
    create,
    get_detail,
)
from berrys.services.planning._workcalendar import WorkCalendar
from berrys.services.planning.contracts import (
    DependencyOut,
    PlanChangeOut,
    PlanDetail,
    PlanOut,
    PlanUpdate,
    TaskOut,
    TaskStats,
    TaskStatus,
    WorkCalendarSpec,
)
from berrys.services.planning.tables import (
    Plan,
    PlanChange,
    PlanDependency,
    PlanMilestone,
    PlanPhase,
    PlanResource,
    PlanTask,
)
from berrys.services.projects import service as projects

__all__ = [
    "clone",
    "create",
    "create_dependency",
    "create_plan",
    "create_task",
    "current_tasks",
    "delete_plan",
    "get",
    "get_all",
    "get_bottlenecks",
    "get_current",
    "get_dependencies",
    "get_detail",
    "get_history",
    "get_schedule",
    "get_tasks",
    "plan_graph",
    "set_predecessors",
    "set_task_status",
    "task_stats",
    "update_plan",
    "update_task",
]

# --- reading --------------------------------------------------------------------------------


async def get(session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut) -> PlanOut:
    """The plan version if ``user`` may see its project; anyone else's is NotFound."""
    return PlanOut.model_validate(await _plan_row(session, plan_id, user))


async def get_tasks(session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut) -> list[TaskOut]:
    """The plan's tasks in order (phase position, then task position)."""
    await _plan_row(session, plan_id, user)
    return [task_out(t) for t in await _tasks(session, plan_id)]


async def get_dependencies(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut
) -> list[DependencyOut]:
    """The plan's dependencies (from_task_id -> to_task_id, type FS/SS/FF/SF, lag_hours)."""
    await _plan_row(session, plan_id, user)
    return [DependencyOut.model_validate(d) for d in await _deps(session, plan_id)]


async def plan_graph(
    session: AsyncSession, *, plan_id: uuid.UUID
) -> tuple[list[TaskOut], list[DependencyOut]]:
    """A plan's tasks and dependencies for the system (the run engine): no access check."""
    if await session.get(Plan, plan_id) is None:
        raise NotFound.of("Plan", plan_id)
    tasks = [task_out(t) for t in await _tasks(session, plan_id)]
    return tasks, [DependencyOut.model_validate(d) for d in await _deps(session, plan_id)]


async def get_all(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[PlanOut], int]:
    """A project's plan versions, newest first."""
    await projects.get(session, project_id=project_id, user=user)
    condition = Plan.project_id == project_id
    rows, total = await fetch_page(
        session,
        select(Plan).where(condition).order_by(Plan.version.desc()),
        limit=limit,
        offset=offset,
    )
    return [PlanOut.model_validate(r) for r in rows], total


async def get_current(session: AsyncSession, *, project_id: uuid.UUID, user: UserOut) -> PlanDetail:
    """The project's current plan (NotFound when it has none)."""
    await projects.get(session, project_id=project_id, user=user)
    plan = await session.scalar(
        select(Plan).where(Plan.project_id == project_id, Plan.is_current.is_(True))
    )
    if plan is None:
        raise NotFound(f"Project {project_id} has no plan yet")
    return await _detail(session, plan)


async def current_tasks(session: AsyncSession, *, user: UserOut) -> list[tuple[uuid.UUID, TaskOut]]:
    """Every task of the current plan of each project ``user`` may see, with its project id,
    in one query (similarity search ranks them across projects)."""
    visible = await projects.visible_ids(session, user=user)
    rows = await session.execute(
        select(Plan.project_id, PlanTask)
        .join(Plan, Plan.id == PlanTask.plan_id)
        .where(Plan.is_current.is_(True), Plan.project_id.in_(visible))
        .order_by(Plan.project_id, PlanTask.position, PlanTask.id)
    )
    return [(project_id, task_out(task)) for project_id, task in rows]


async def get_history(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[PlanChangeOut], int]:
    """What changed in this plan version, oldest first."""
    await _plan_row(session, plan_id, user)
    condition = PlanChange.plan_id == plan_id
    rows, total = await fetch_page(
        session,
        select(PlanChange).where(condition).order_by(PlanChange.changed_at, PlanChange.id),
        limit=limit,
        offset=offset,
    )
    return [PlanChangeOut.model_validate(r) for r in rows], total


# --- plans ----------------------------------------------------------------------------------


async def update_plan(
    session: AsyncSession, *, plan_id: uuid.UUID, plan_in: PlanUpdate, user: UserOut
) -> PlanOut:
    """Rename, move the start, change the calendar, or make this version current."""
    plan = await _plan_row(session, plan_id, user)
    before = PlanOut.model_validate(plan)
    changes = plan_in.model_dump(exclude_unset=True, exclude_none=True)
    if changes.pop("is_current", None):
        await _make_current(session, plan)
    if "calendar" in changes:
        plan.calendar = WorkCalendarSpec.model_validate(changes.pop("calendar")).model_dump(
            mode="json"
        )
    for name, value in changes.items():
        setattr(plan, name, value)
    await session.flush()
    after = PlanOut.model_validate(plan)
    if after != before:
        changed = [
            f
            for f in ("name", "start_at", "calendar", "is_current")
            if getattr(after, f) != getattr(before, f)
        ]
        await _record(
            session,
            plan,
            action=AuditAction.UPDATE,
            entity_type="plan",
            entity_id=plan.id,
            summary="changed " + ", ".join(changed),
            user=user,
            before=before,
            after=after,
        )
    return PlanOut.model_validate(plan)


async def delete_plan(session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut) -> None:
    """Delete a version; when it was current, the newest remaining version becomes current."""
    plan = await _plan_row(session, plan_id, user)
    before = PlanOut.model_validate(plan)
    was_current, project_id = plan.is_current, plan.project_id
    await session.delete(plan)
    await session.flush()
    if was_current:
        newest = await session.scalar(
            select(Plan).where(Plan.project_id == project_id).order_by(Plan.version.desc()).limit(1)
        )
        if newest is not None:
            newest.is_current = True
    await audit.record(
        session,
        entity_type="plan",
        entity_id=plan_id,
        project_id=project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )


async def clone(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut, make_current: bool = True
) -> PlanDetail:
    """A new version with a copy of everything in this one (new ids), current by default."""
    source = await _plan_row(session, plan_id, user)
    version = (
        await session.execute(
            select(func.max(Plan.version)).where(Plan.project_id == source.project_id)
        )
    ).scalar_one() + 1
    plan = Plan(
        project_id=source.project_id,
        version=version,
        is_current=False,
        name=f"{source.name} (v{version})"[:200],
        methodology=source.methodology,
        start_at=source.start_at,
        calendar=dict(source.calendar),
        parent_id=source.id,
        generated_by=source.generated_by,
        created_by=user.id,
    )
    if make_current:
        await _make_current(session, plan)
    await _insert_version(session, plan)
    await _copy_contents(session, source=source.id, plan=plan.id)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan",
        entity_id=plan.id,
        summary=f"cloned from version {source.version}",
        user=user,
        after=PlanOut.model_validate(plan),
    )
    return await _detail(session, plan)


async def _copy_contents(session: AsyncSession, *, source: uuid.UUID, plan: uuid.UUID) -> None:
    """Copy a version's rows into another, the references between them mapped to new ids."""
    ids: dict[uuid.UUID, uuid.UUID] = {}  # the source's row id -> its copy's
    await _copy_phases(session, source, plan, ids)
    await _copy_resources(session, source, plan, ids)
    await session.flush()
    await _copy_tasks(session, source, plan, ids)
    await session.flush()
    await _copy_dependencies(session, source, plan, ids)
    await _copy_milestones(session, source, plan, ids)
    await session.flush()


async def _copy_phases(
    session: AsyncSession, source: uuid.UUID, plan: uuid.UUID, ids: dict[uuid.UUID, uuid.UUID]
) -> None:
    for row in await _rows(session, PlanPhase, source, PlanPhase.position):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanPhase(
                id=ids[row.id],
                plan_id=plan,
                name=row.name,
                description=row.description,
                position=row.position,
            )
        )


async def _copy_resources(
    session: AsyncSession, source: uuid.UUID, plan: uuid.UUID, ids: dict[uuid.UUID, uuid.UUID]
) -> None:
    for row in await _rows(session, PlanResource, source, PlanResource.name):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanResource(
                id=ids[row.id],
                plan_id=plan,
                agent_id=row.agent_id,
                name=row.name,
                skills=list(row.skills),
                capacity_hours_per_week=row.capacity_hours_per_week,
                cost_per_hour=row.cost_per_hour,
            )
        )


async def _copy_tasks(
    session: AsyncSession, source: uuid.UUID, plan: uuid.UUID, ids: dict[uuid.UUID, uuid.UUID]
) -> None:
    """Copy the tasks (after the phases and resources they point to)."""
    for row in await _tasks(session, source):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanTask(
                id=ids[row.id],
                plan_id=plan,
                phase_id=ids.get(row.phase_id) if row.phase_id else None,
                position=row.position,
                name=row.name,
                description=row.description,
                acceptance_criteria=list(row.acceptance_criteria),
                estimate_hours=row.estimate_hours,
                optimistic_hours=row.optimistic_hours,
                pessimistic_hours=row.pessimistic_hours,
                required_skills=list(row.required_skills),
                priority=row.priority,
                status=row.status,
                risk_level=row.risk_level,
                assigned_agent_id=row.assigned_agent_id,
                assigned_resource_id=ids.get(row.assigned_resource_id)
                if row.assigned_resource_id
                else None,
                not_before_hours=row.not_before_hours,
                deliverable=row.deliverable,
            )
        )


async def _copy_dependencies(
    session: AsyncSession, source: uuid.UUID, plan: uuid.UUID, ids: dict[uuid.UUID, uuid.UUID]
) -> None:
    for row in await _deps(session, source):
        session.add(
            PlanDependency(
                plan_id=plan,
                from_task_id=ids[row.from_task_id],
                to_task_id=ids[row.to_task_id],
                dependency_type=row.dependency_type,
                lag_hours=row.lag_hours,
            )
        )


async def _copy_milestones(
    session: AsyncSession, source: uuid.UUID, plan: uuid.UUID, ids: dict[uuid.UUID, uuid.UUID]
) -> None:
    for row in await _rows(session, PlanMilestone, source, PlanMilestone.name):
        session.add(
            PlanMilestone(
                plan_id=plan,
                phase_id=ids.get(row.phase_id) if row.phase_id else None,
                name=row.name,
                description=row.description,
                task_ids=[str(ids[uuid.UUID(t)]) for t in row.task_ids if uuid.UUID(t) in ids],
            )
        )


# --- for the system (the run engine) --------------------------------------------------------


async def set_task_status(
    session: AsyncSession,
    *,
    task_id: uuid.UUID,
    status: TaskStatus,
    actor_id: uuid.UUID | None = None,
) -> TaskOut:
    """Set a task's status on behalf of the system (the run engine); no access check."""
    task = await session.get(PlanTask, task_id)
    if task is None:
        raise NotFound.of("Task", task_id)
    plan = await session.get(Plan, task.plan_id)
    assert plan is not None
    before = task_out(task)
    if before.status == status:
        return before
    task.status = status
    await session.flush()
    after = task_out(task)
    session.add(
        PlanChange(
            plan_id=plan.id,
            action=AuditAction.TRANSITION,
            entity_type="plan_task",
            entity_id=task.id,
            summary=f"task {task.name!r}: {before.status} -> {status}",
            changed_by=actor_id,
            changed_at=utcnow(),
        )
    )
    await audit.record(
        session,
        entity_type="plan_task",
        entity_id=task.id,
        project_id=plan.project_id,
        action=AuditAction.TRANSITION,
        actor_id=actor_id,
        before=before,
        after=after,
    )
    return after


# --- for the project's stats ----------------------------------------------------------------


async def task_stats(session: AsyncSession, *, project_id: uuid.UUID) -> TaskStats:
    """Tasks by status, progress % (of estimated hours) and ETA of the current plan.

    No access check: the caller (the project's stats) has checked the project already.
    """
    plan = await session.scalar(
        select(Plan).where(Plan.project_id == project_id, Plan.is_current.is_(True))
    )
    counts = {status: 0 for status in TaskStatus}
    if plan is None:
        return TaskStats(plan_id=None, tasks_by_status=counts, progress_percent=0.0, eta=None)
    tasks = list(await session.scalars(select(PlanTask).where(PlanTask.plan_id == plan.id)))
    for task in tasks:
        counts[TaskStatus(task.status)] += 1
    done = {TaskStatus.COMPLETED, TaskStatus.CANCELLED}
    model = PlanModel(
        tasks=[
            TaskSpec(
                id=t.id,
                name=t.name,
                estimate=0.0 if t.status in done else t.estimate_hours,
                optimistic=None if t.status in done else t.optimistic_hours,
                pessimistic=None if t.status in done else t.pessimistic_hours,
            )
            for t in tasks
        ],
        deps=[],
    )
    total = sum(task_out(t).duration_hours for t in tasks if t.status != TaskStatus.CANCELLED)
    finished = sum(task_out(t).duration_hours for t in tasks if t.status == TaskStatus.COMPLETED)
    progress = round(100.0 * finished / total, 1) if total > 0 else 0.0
    eta = None
    if tasks:
        model.deps = [
            DepSpec(
                d.id, d.from_task_id, d.to_task_id, DependencyType(d.dependency_type), d.lag_hours
            )
            for d in await _deps(session, plan.id)
        ]
        sched, _ = _analysis.compute(model)
        start = max(plan.start_at, utcnow())
        calendar = WorkCalendar(WorkCalendarSpec.model_validate(plan.calendar), start)
        try:
            eta = calendar.at(sched.finish, finish=True)
        except Unprocessable:  # past year 9999: no date, and the rest of the stats stand
            eta = None
    return TaskStats(plan_id=plan.id, tasks_by_status=counts, progress_percent=progress, eta=eta)
