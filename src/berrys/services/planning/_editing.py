"""Editing a plan version: phases, milestones, resources, tasks and dependencies."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.errors import Conflict, NotFound, Unprocessable
from berrys.core.lifecycle import Lifecycle
from berrys.services.agents import service as agents
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.planning._common import (
    _deps,
    _plan_row,
    _record,
    _tasks,
    check_acyclic,
    task_out,
)
from berrys.services.planning.contracts import (
    DependencyCreate,
    DependencyOut,
    MilestoneCreate,
    MilestoneOut,
    PhaseCreate,
    PhaseOut,
    ResourceCreate,
    ResourceOut,
    TaskCreate,
    TaskOut,
    TaskStatus,
    TaskUpdate,
)
from berrys.services.planning.tables import (
    Plan,
    PlanDependency,
    PlanMilestone,
    PlanPhase,
    PlanResource,
    PlanTask,
)

_S = TaskStatus
# Moves a person may make by PATCH (the run engine sets statuses through
# ``service.set_task_status``). A finished or cancelled task may be reopened.
TASK_TRANSITIONS = Lifecycle[TaskStatus](
    "Task",
    {
        _S.PENDING: {_S.ASSIGNED, _S.IN_PROGRESS, _S.BLOCKED, _S.CANCELLED},
        _S.ASSIGNED: {_S.PENDING, _S.IN_PROGRESS, _S.BLOCKED, _S.CANCELLED},
        _S.IN_PROGRESS: {_S.BLOCKED, _S.COMPLETED, _S.FAILED, _S.CANCELLED},
        _S.BLOCKED: {_S.PENDING, _S.ASSIGNED, _S.IN_PROGRESS, _S.CANCELLED},
        _S.FAILED: {_S.PENDING, _S.ASSIGNED, _S.IN_PROGRESS, _S.CANCELLED},
        _S.COMPLETED: {_S.IN_PROGRESS},
        _S.CANCELLED: {_S.PENDING},
    },
)


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
    if "status" in changes and changes["status"] != task.status:
        TASK_TRANSITIONS.check(TaskStatus(task.status), changes["status"])
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


async def set_predecessors(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    task_id: uuid.UUID,
    predecessor_ids: Sequence[uuid.UUID],
    user: UserOut,
) -> None:
    """Make ``predecessor_ids`` the tasks ``task_id`` depends on: a kept dependency keeps its
    type and lag, a new one is finish-to-start, the others go. 422 naming the tasks of a
    cycle or those not in the plan; nothing is changed unless the caller commits."""
    plan = await _plan_row(session, plan_id, user)
    await _task_row(session, plan, task_id)
    wanted = list(dict.fromkeys(predecessor_ids))
    existing = [dep for dep in await _deps(session, plan.id) if dep.to_task_id == task_id]
    for dep in existing:
        if dep.from_task_id not in wanted:
            await delete_dependency(session, plan_id=plan.id, dependency_id=dep.id, user=user)
    kept = {dep.from_task_id for dep in existing}
    for predecessor in wanted:
        if predecessor not in kept:
            await create_dependency(
                session,
                plan_id=plan.id,
                dependency_in=DependencyCreate(from_task_id=predecessor, to_task_id=task_id),
                user=user,
            )
