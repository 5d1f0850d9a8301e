"""Planning System: plan versions, phases, milestones, tasks, dependencies and resources.

Schedules, forecasts, levelling, bottlenecks and what-if live in ``insights.py``; plan
generation in ``generation.py``; the pure critical-path engine in ``schedule.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.core.enums import AuditAction, DependencyType, Methodology, TaskStatus
from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.services.agents import service as agents
from berrys.services.audit import service as audit
from berrys.services.auth.contracts import UserOut
from berrys.services.planning import analysis
from berrys.services.planning import schedule as engine
from berrys.services.planning.analysis import DepSpec, PlanModel, ResourceSpec, TaskSpec
from berrys.services.planning.contracts import (
    DependencyCreate,
    DependencyOut,
    MilestoneCreate,
    MilestoneOut,
    PhaseCreate,
    PhaseOut,
    PlanChangeOut,
    PlanCreate,
    PlanDetail,
    PlanOut,
    PlanUpdate,
    ResourceCreate,
    ResourceOut,
    TaskCreate,
    TaskOut,
    TaskStats,
    TaskUpdate,
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
from berrys.services.planning.workcalendar import WorkCalendar
from berrys.services.projects import service as projects

DEFAULT_METHODOLOGY = Methodology.CRITICAL_PATH


# --- reading --------------------------------------------------------------------------------


async def _plan_row(session: AsyncSession, plan_id: uuid.UUID, user: UserOut) -> Plan:
    plan = await session.get(Plan, plan_id)
    if plan is None:
        raise NotFound.of("Plan", plan_id)
    try:
        await projects.get(session, project_id=plan.project_id, user=user)
    except NotFound:
        raise NotFound.of("Plan", plan_id) from None
    return plan


def task_out(task: PlanTask) -> TaskOut:
    duration = task.estimate_hours
    if task.optimistic_hours is not None and task.pessimistic_hours is not None:
        duration = engine.pert_mean(
            task.optimistic_hours, task.estimate_hours, task.pessimistic_hours
        )
    return TaskOut.model_validate(
        {
            **{c: getattr(task, c) for c in TaskOut.model_fields if c != "duration_hours"},
            "duration_hours": duration,
        }
    )


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


async def _tasks(session: AsyncSession, plan_id: uuid.UUID) -> list[PlanTask]:
    rows = await session.scalars(
        select(PlanTask)
        .where(PlanTask.plan_id == plan_id)
        .order_by(PlanTask.position, PlanTask.created_at, PlanTask.id)
    )
    return list(rows)


async def _deps(session: AsyncSession, plan_id: uuid.UUID) -> list[PlanDependency]:
    rows = await session.scalars(
        select(PlanDependency)
        .where(PlanDependency.plan_id == plan_id)
        .order_by(PlanDependency.from_task_id, PlanDependency.to_task_id)
    )
    return list(rows)


async def _rows(session: AsyncSession, table: Any, plan_id: uuid.UUID, *order: Any) -> list[Any]:
    return list(
        await session.scalars(select(table).where(table.plan_id == plan_id).order_by(*order))
    )


async def get_detail(session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut) -> PlanDetail:
    """The plan with its phases, milestones, tasks, dependencies and resources."""
    plan = await _plan_row(session, plan_id, user)
    return await _detail(session, plan)


async def _detail(session: AsyncSession, plan: Plan) -> PlanDetail:
    phases = await _rows(session, PlanPhase, plan.id, PlanPhase.position, PlanPhase.id)
    milestones = await _rows(session, PlanMilestone, plan.id, PlanMilestone.name, PlanMilestone.id)
    resources = await _rows(session, PlanResource, plan.id, PlanResource.name, PlanResource.id)
    return PlanDetail(
        **PlanOut.model_validate(plan).model_dump(),
        phases=[PhaseOut.model_validate(p) for p in phases],
        milestones=[MilestoneOut.model_validate(m) for m in milestones],
        tasks=[task_out(t) for t in await _tasks(session, plan.id)],
        dependencies=[DependencyOut.model_validate(d) for d in await _deps(session, plan.id)],
        resources=[ResourceOut.model_validate(r) for r in resources],
    )


async def get_all(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[PlanOut], int]:
    """A project's plan versions, newest first."""
    await projects.get(session, project_id=project_id, user=user)
    condition = Plan.project_id == project_id
    total = (
        await session.execute(select(func.count()).select_from(Plan).where(condition))
    ).scalar_one()
    rows = await session.scalars(
        select(Plan).where(condition).order_by(Plan.version.desc()).limit(limit).offset(offset)
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


async def get_history(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[PlanChangeOut], int]:
    """What changed in this plan version, oldest first."""
    await _plan_row(session, plan_id, user)
    condition = PlanChange.plan_id == plan_id
    total = (
        await session.execute(select(func.count()).select_from(PlanChange).where(condition))
    ).scalar_one()
    rows = await session.scalars(
        select(PlanChange)
        .where(condition)
        .order_by(PlanChange.changed_at, PlanChange.id)
        .limit(limit)
        .offset(offset)
    )
    return [PlanChangeOut.model_validate(r) for r in rows], total


async def load_model(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut
) -> tuple[PlanOut, PlanModel, dict[uuid.UUID, str]]:
    """The plan in memory for analysis, with every agent of the project as a resource."""
    plan = await _plan_row(session, plan_id, user)
    tasks = await _tasks(session, plan.id)
    deps = await _deps(session, plan.id)
    rows = await _rows(session, PlanResource, plan.id, PlanResource.name, PlanResource.id)
    team, _ = await agents.get_all(session, project_id=plan.project_id, user=user, limit=200)
    by_agent = {r.agent_id: r for r in rows if r.agent_id is not None}
    resources = []
    for agent in team:
        row = by_agent.get(agent.id)
        skills = row.skills if row else agent.specialisation.skills
        resources.append(
            ResourceSpec(
                key=agent.id,
                name=agent.name,
                agent_id=agent.id,
                resource_id=row.id if row else None,
                skills=frozenset(s.lower() for s in skills),
                capacity_hours_per_week=row.capacity_hours_per_week if row else 40.0,
                cost_per_hour=row.cost_per_hour if row else 0.0,
            )
        )
    for row in rows:
        if row.agent_id is None:
            resources.append(
                ResourceSpec(
                    key=row.id,
                    name=row.name,
                    resource_id=row.id,
                    skills=frozenset(s.lower() for s in row.skills),
                    capacity_hours_per_week=row.capacity_hours_per_week,
                    cost_per_hour=row.cost_per_hour,
                )
            )
    calendar = WorkCalendarSpec.model_validate(plan.calendar)
    model = PlanModel(
        tasks=[
            TaskSpec(
                id=t.id,
                name=t.name,
                estimate=t.estimate_hours,
                optimistic=t.optimistic_hours,
                pessimistic=t.pessimistic_hours,
                skills=frozenset(s.lower() for s in t.required_skills),
                agent_id=t.assigned_agent_id,
                resource_id=t.assigned_resource_id,
                not_before=t.not_before_hours,
                priority=t.priority,
                status=t.status,
            )
            for t in tasks
        ],
        deps=[
            DepSpec(
                d.id, d.from_task_id, d.to_task_id, DependencyType(d.dependency_type), d.lag_hours
            )
            for d in deps
        ],
        resources=resources,
        hours_per_week=calendar.hours_per_day * len(calendar.working_days),
    )
    return PlanOut.model_validate(plan), model, {t.id: t.name for t in tasks}


def cycle_error(cycle: Sequence[uuid.UUID], names: dict[uuid.UUID, str]) -> Unprocessable:
    """422 naming the tasks of a dependency cycle in order."""
    loop = [*cycle, cycle[0]]
    return Unprocessable(
        "Dependency cycle: " + " -> ".join(repr(names.get(t, str(t))) for t in loop),
        cycle=[str(t) for t in cycle],
        cycle_names=[names.get(t, str(t)) for t in cycle],
    )


# --- plans ----------------------------------------------------------------------------------


async def _record(
    session: AsyncSession,
    plan: Plan,
    *,
    action: AuditAction,
    entity_type: str,
    entity_id: uuid.UUID | None,
    summary: str,
    user: UserOut | None,
    before: Any = None,
    after: Any = None,
) -> None:
    actor = user.id if user else None
    session.add(
        PlanChange(
            plan_id=plan.id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            summary=summary,
            changed_by=actor,
            changed_at=utcnow(),
        )
    )
    plan.updated_at = utcnow()
    await audit.record(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        project_id=plan.project_id,
        action=action,
        actor_id=actor,
        before=before,
        after=after,
    )


async def _default_calendar(
    session: AsyncSession, project_id: uuid.UUID, user: UserOut
) -> WorkCalendarSpec:
    project = await projects.get(session, project_id=project_id, user=user)
    configured = project.metadata.get("calendar")
    if isinstance(configured, dict):
        try:
            return WorkCalendarSpec.model_validate(configured)
        except ValueError:
            pass
    return WorkCalendarSpec()


async def _make_current(session: AsyncSession, plan: Plan) -> None:
    await session.execute(
        update(Plan)
        .where(Plan.project_id == plan.project_id, Plan.id != plan.id, Plan.is_current.is_(True))
        .values(is_current=False)
    )
    await session.flush()
    plan.is_current = True


async def create(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    plan_in: PlanCreate,
    user: UserOut,
    generated_by: str | None = None,
) -> Plan:
    """A new, empty plan version of the project, made current (fill it by hand or by draft)."""
    calendar = plan_in.calendar or await _default_calendar(session, project_id, user)
    version = (
        await session.execute(
            select(func.coalesce(func.max(Plan.version), 0)).where(Plan.project_id == project_id)
        )
    ).scalar_one() + 1
    methodology = plan_in.methodology or DEFAULT_METHODOLOGY
    plan = Plan(
        project_id=project_id,
        version=version,
        is_current=False,
        name=plan_in.name or f"Plan v{version} ({methodology.value.lower().replace('_', ' ')})",
        methodology=methodology,
        start_at=plan_in.start_at or utcnow(),
        calendar=calendar.model_dump(mode="json"),
        generated_by=generated_by,
        created_by=user.id,
    )
    await _make_current(session, plan)
    session.add(plan)
    await session.flush()
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan",
        entity_id=plan.id,
        summary=f"created version {version}" + (f" ({generated_by})" if generated_by else ""),
        user=user,
        after=PlanOut.model_validate(plan),
    )
    return plan


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
    session.add(plan)
    await session.flush()
    ids: dict[uuid.UUID, uuid.UUID] = {}
    for row in await _rows(session, PlanPhase, source.id, PlanPhase.position):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanPhase(
                id=ids[row.id],
                plan_id=plan.id,
                name=row.name,
                description=row.description,
                position=row.position,
            )
        )
    for row in await _rows(session, PlanResource, source.id, PlanResource.name):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanResource(
                id=ids[row.id],
                plan_id=plan.id,
                agent_id=row.agent_id,
                name=row.name,
                skills=list(row.skills),
                capacity_hours_per_week=row.capacity_hours_per_week,
                cost_per_hour=row.cost_per_hour,
            )
        )
    await session.flush()
    for row in await _tasks(session, source.id):
        ids[row.id] = uuid.uuid4()
        session.add(
            PlanTask(
                id=ids[row.id],
                plan_id=plan.id,
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
            )
        )
    await session.flush()
    for row in await _deps(session, source.id):
        session.add(
            PlanDependency(
                plan_id=plan.id,
                from_task_id=ids[row.from_task_id],
                to_task_id=ids[row.to_task_id],
                dependency_type=row.dependency_type,
                lag_hours=row.lag_hours,
            )
        )
    for row in await _rows(session, PlanMilestone, source.id, PlanMilestone.name):
        session.add(
            PlanMilestone(
                plan_id=plan.id,
                phase_id=ids.get(row.phase_id) if row.phase_id else None,
                name=row.name,
                description=row.description,
                task_ids=[str(ids[uuid.UUID(t)]) for t in row.task_ids if uuid.UUID(t) in ids],
            )
        )
    await session.flush()
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


# --- phases, milestones, resources ------------------------------------------------------------


async def create_phase(
    session: AsyncSession, *, plan_id: uuid.UUID, phase_in: PhaseCreate, user: UserOut
) -> PhaseOut:
    plan = await _plan_row(session, plan_id, user)
    position = phase_in.position
    if position is None:
        position = (
            await session.execute(
                select(func.count()).select_from(PlanPhase).where(PlanPhase.plan_id == plan.id)
            )
        ).scalar_one()
    phase = PlanPhase(
        plan_id=plan.id, name=phase_in.name, description=phase_in.description, position=position
    )
    session.add(phase)
    await session.flush()
    out = PhaseOut.model_validate(phase)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan_phase",
        entity_id=phase.id,
        summary=f"added phase {phase.name!r}",
        user=user,
        after=out,
    )
    return out


async def delete_phase(
    session: AsyncSession, *, plan_id: uuid.UUID, phase_id: uuid.UUID, user: UserOut
) -> None:
    plan = await _plan_row(session, plan_id, user)
    phase = await session.get(PlanPhase, phase_id)
    if phase is None or phase.plan_id != plan.id:
        raise NotFound.of("Phase", phase_id)
    before = PhaseOut.model_validate(phase)
    await session.delete(phase)
    await _record(
        session,
        plan,
        action=AuditAction.DELETE,
        entity_type="plan_phase",
        entity_id=phase_id,
        summary=f"removed phase {before.name!r}",
        user=user,
        before=before,
    )


async def create_milestone(
    session: AsyncSession, *, plan_id: uuid.UUID, milestone_in: MilestoneCreate, user: UserOut
) -> MilestoneOut:
    plan = await _plan_row(session, plan_id, user)
    await _check_phase(session, plan, milestone_in.phase_id)
    known = {t.id for t in await _tasks(session, plan.id)}
    unknown = [str(t) for t in milestone_in.task_ids if t not in known]
    if unknown:
        raise Unprocessable(f"Tasks not in this plan: {', '.join(unknown)}", task_ids=unknown)
    milestone = PlanMilestone(
        plan_id=plan.id,
        phase_id=milestone_in.phase_id,
        name=milestone_in.name,
        description=milestone_in.description,
        task_ids=[str(t) for t in dict.fromkeys(milestone_in.task_ids)],
    )
    session.add(milestone)
    await session.flush()
    out = MilestoneOut.model_validate(milestone)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan_milestone",
        entity_id=milestone.id,
        summary=f"added milestone {milestone.name!r}",
        user=user,
        after=out,
    )
    return out


async def delete_milestone(
    session: AsyncSession, *, plan_id: uuid.UUID, milestone_id: uuid.UUID, user: UserOut
) -> None:
    plan = await _plan_row(session, plan_id, user)
    milestone = await session.get(PlanMilestone, milestone_id)
    if milestone is None or milestone.plan_id != plan.id:
        raise NotFound.of("Milestone", milestone_id)
    before = MilestoneOut.model_validate(milestone)
    await session.delete(milestone)
    await _record(
        session,
        plan,
        action=AuditAction.DELETE,
        entity_type="plan_milestone",
        entity_id=milestone_id,
        summary=f"removed milestone {before.name!r}",
        user=user,
        before=before,
    )


async def create_resource(
    session: AsyncSession, *, plan_id: uuid.UUID, resource_in: ResourceCreate, user: UserOut
) -> ResourceOut:
    """An agent's capacity and cost in this plan, or a named person with skills."""
    plan = await _plan_row(session, plan_id, user)
    skills = resource_in.skills
    name = resource_in.name
    if resource_in.agent_id is not None:
        agent = await _check_agent(session, plan, resource_in.agent_id, user)
        existing = await session.scalar(
            select(PlanResource).where(
                PlanResource.plan_id == plan.id, PlanResource.agent_id == agent.id
            )
        )
        if existing is not None:
            raise Conflict(f"Agent {agent.id} already is a resource of this plan ({existing.id})")
        skills = skills if skills is not None else [s.lower() for s in agent.specialisation.skills]
        name = name or agent.name
    elif name is None:
        raise Unprocessable("A person needs a name (or give agent_id for an agent)")
    resource = PlanResource(
        plan_id=plan.id,
        agent_id=resource_in.agent_id,
        name=name,
        skills=list(skills or []),
        capacity_hours_per_week=resource_in.capacity_hours_per_week,
        cost_per_hour=resource_in.cost_per_hour,
    )
    session.add(resource)
    await session.flush()
    out = ResourceOut.model_validate(resource)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan_resource",
        entity_id=resource.id,
        summary=f"added resource {name!r}",
        user=user,
        after=out,
    )
    return out


async def delete_resource(
    session: AsyncSession, *, plan_id: uuid.UUID, resource_id: uuid.UUID, user: UserOut
) -> None:
    plan = await _plan_row(session, plan_id, user)
    resource = await session.get(PlanResource, resource_id)
    if resource is None or resource.plan_id != plan.id:
        raise NotFound.of("Resource", resource_id)
    before = ResourceOut.model_validate(resource)
    await session.delete(resource)
    await _record(
        session,
        plan,
        action=AuditAction.DELETE,
        entity_type="plan_resource",
        entity_id=resource_id,
        summary=f"removed resource {before.name!r}",
        user=user,
        before=before,
    )


# --- tasks ----------------------------------------------------------------------------------


async def _check_phase(session: AsyncSession, plan: Plan, phase_id: uuid.UUID | None) -> None:
    if phase_id is None:
        return
    phase = await session.get(PlanPhase, phase_id)
    if phase is None or phase.plan_id != plan.id:
        raise Unprocessable(f"Phase {phase_id} is not in this plan")


async def _check_agent(
    session: AsyncSession, plan: Plan, agent_id: uuid.UUID, user: UserOut
) -> Any:
    try:
        agent = await agents.get(session, agent_id=agent_id, user=user)
    except NotFound:
        agent = None
    if agent is None or agent.project_id != plan.project_id:
        raise Unprocessable(f"Agent {agent_id} is not an agent of this project")
    return agent


async def _check_resource(session: AsyncSession, plan: Plan, resource_id: uuid.UUID | None) -> None:
    if resource_id is None:
        return
    resource = await session.get(PlanResource, resource_id)
    if resource is None or resource.plan_id != plan.id:
        raise Unprocessable(f"Resource {resource_id} is not in this plan")


async def _task_row(session: AsyncSession, plan: Plan, task_id: uuid.UUID) -> PlanTask:
    task = await session.get(PlanTask, task_id)
    if task is None or task.plan_id != plan.id:
        raise NotFound.of("Task", task_id)
    return task


async def create_task(
    session: AsyncSession, *, plan_id: uuid.UUID, task_in: TaskCreate, user: UserOut
) -> TaskOut:
    plan = await _plan_row(session, plan_id, user)
    await _check_phase(session, plan, task_in.phase_id)
    await _check_resource(session, plan, task_in.assigned_resource_id)
    if task_in.assigned_agent_id is not None:
        await _check_agent(session, plan, task_in.assigned_agent_id, user)
    position = (
        await session.execute(
            select(func.count()).select_from(PlanTask).where(PlanTask.plan_id == plan.id)
        )
    ).scalar_one()
    status = task_in.status
    if status == TaskStatus.PENDING and task_in.assigned_agent_id is not None:
        status = TaskStatus.ASSIGNED
    task = PlanTask(
        plan_id=plan.id, position=position, **task_in.model_dump(exclude={"status"}), status=status
    )
    session.add(task)
    await session.flush()
    out = task_out(task)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan_task",
        entity_id=task.id,
        summary=f"added task {task.name!r}",
        user=user,
        after=out,
    )
    return out


async def update_task(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    task_id: uuid.UUID,
    task_in: TaskUpdate,
    user: UserOut,
) -> TaskOut:
    plan = await _plan_row(session, plan_id, user)
    task = await _task_row(session, plan, task_id)
    before = task_out(task)
    changes = task_in.model_dump(exclude_unset=True)
    for required in (
        "name",
        "estimate_hours",
        "priority",
        "risk_level",
        "status",
        "description",
        "acceptance_criteria",
        "required_skills",
    ):
        if changes.get(required, 0) is None:
            raise Unprocessable(f"{required} cannot be null")
    if "phase_id" in changes:
        await _check_phase(session, plan, changes["phase_id"])
    if "assigned_resource_id" in changes:
        await _check_resource(session, plan, changes["assigned_resource_id"])
    if changes.get("assigned_agent_id") is not None:
        await _check_agent(session, plan, changes["assigned_agent_id"], user)
    for name, value in changes.items():
        setattr(task, name, value)
    optimistic, pessimistic = task.optimistic_hours, task.pessimistic_hours
    if (optimistic is not None and optimistic > task.estimate_hours) or (
        pessimistic is not None and pessimistic < task.estimate_hours
    ):
        raise Unprocessable("Estimates must be ordered: optimistic <= estimate <= pessimistic")
    await session.flush()
    after = task_out(task)
    if after != before:
        changed = [f for f in changes if getattr(after, f, None) != getattr(before, f, None)]
        await _record(
            session,
            plan,
            action=AuditAction.UPDATE,
            entity_type="plan_task",
            entity_id=task.id,
            summary=f"changed {', '.join(changed)} of task {task.name!r}",
            user=user,
            before=before,
            after=after,
        )
    return after


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


async def delete_task(
    session: AsyncSession, *, plan_id: uuid.UUID, task_id: uuid.UUID, user: UserOut
) -> None:
    """Delete a task with its dependencies."""
    plan = await _plan_row(session, plan_id, user)
    task = await _task_row(session, plan, task_id)
    before = task_out(task)
    deps = await session.scalars(
        select(PlanDependency).where(
            (PlanDependency.from_task_id == task_id) | (PlanDependency.to_task_id == task_id)
        )
    )
    for dep in deps:
        await session.delete(dep)
    await session.delete(task)
    await _record(
        session,
        plan,
        action=AuditAction.DELETE,
        entity_type="plan_task",
        entity_id=task_id,
        summary=f"removed task {before.name!r}",
        user=user,
        before=before,
    )


# --- dependencies ---------------------------------------------------------------------------


async def create_dependency(
    session: AsyncSession, *, plan_id: uuid.UUID, dependency_in: DependencyCreate, user: UserOut
) -> DependencyOut:
    """Add ``from_task_id -> to_task_id``; one that closes a cycle is 422 naming its tasks."""
    plan = await _plan_row(session, plan_id, user)
    tasks = {t.id: t.name for t in await _tasks(session, plan.id)}
    missing = [
        str(t) for t in (dependency_in.from_task_id, dependency_in.to_task_id) if t not in tasks
    ]
    if missing:
        raise Unprocessable(f"Tasks not in this plan: {', '.join(missing)}", task_ids=missing)
    existing = await _deps(session, plan.id)
    if any(
        d.from_task_id == dependency_in.from_task_id and d.to_task_id == dependency_in.to_task_id
        for d in existing
    ):
        raise Conflict("This dependency already exists; delete it to change its type or lag")
    check_acyclic(
        [(d.from_task_id, d.to_task_id) for d in existing]
        + [(dependency_in.from_task_id, dependency_in.to_task_id)],
        tasks,
    )
    dep = PlanDependency(
        plan_id=plan.id,
        from_task_id=dependency_in.from_task_id,
        to_task_id=dependency_in.to_task_id,
        dependency_type=dependency_in.type,
        lag_hours=dependency_in.lag_hours,
    )
    session.add(dep)
    await session.flush()
    out = DependencyOut.model_validate(dep)
    await _record(
        session,
        plan,
        action=AuditAction.CREATE,
        entity_type="plan_dependency",
        entity_id=dep.id,
        summary=f"{tasks[dep.from_task_id]!r} -{out.type}{out.lag_hours:+g}h-> "
        f"{tasks[dep.to_task_id]!r}",
        user=user,
        after=out,
    )
    return out


def check_acyclic(
    edges: Sequence[tuple[uuid.UUID, uuid.UUID]], names: dict[uuid.UUID, str]
) -> None:
    """Raise 422 naming the cycle when ``edges`` (over the tasks in ``names``) close one."""
    ids = list(names)
    index = {t: i for i, t in enumerate(ids)}
    cycle = engine.find_cycle(len(ids), [index[a] for a, _ in edges], [index[b] for _, b in edges])
    if cycle is not None:
        raise cycle_error([ids[i] for i in cycle], names)


async def delete_dependency(
    session: AsyncSession, *, plan_id: uuid.UUID, dependency_id: uuid.UUID, user: UserOut
) -> None:
    plan = await _plan_row(session, plan_id, user)
    dep = await session.get(PlanDependency, dependency_id)
    if dep is None or dep.plan_id != plan.id:
        raise NotFound.of("Dependency", dependency_id)
    before = DependencyOut.model_validate(dep)
    await session.delete(dep)
    await _record(
        session,
        plan,
        action=AuditAction.DELETE,
        entity_type="plan_dependency",
        entity_id=dependency_id,
        summary="removed a dependency",
        user=user,
        before=before,
    )


async def set_not_before(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    starts: dict[uuid.UUID, float | None],
    user: UserOut,
) -> None:
    """Save earliest starts (resource levelling) on the plan's tasks."""
    plan = await _plan_row(session, plan_id, user)
    for task in await _tasks(session, plan.id):
        if task.id in starts:
            task.not_before_hours = starts[task.id]
    await _record(
        session,
        plan,
        action=AuditAction.UPDATE,
        entity_type="plan",
        entity_id=plan.id,
        summary=f"levelled resources: {len(starts)} task start(s) moved",
        user=user,
    )


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
        sched, _ = analysis.compute(model)
        start = max(plan.start_at, utcnow())
        calendar = WorkCalendar(WorkCalendarSpec.model_validate(plan.calendar), start)
        eta = calendar.at(sched.finish, finish=True)
    return TaskStats(plan_id=plan.id, tasks_by_status=counts, progress_percent=progress, eta=eta)
