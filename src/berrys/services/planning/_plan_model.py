"""A plan as the schedule's model, and what levelling and assignment decide written back.

``insights`` computes schedules, resources, what-ifs and assignments over this model; the
model holds every agent of the project as a resource, with its plan resource's settings.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.agents import service as agents
from berrys.services.agents.contracts import AgentOut
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.planning._analysis import DepSpec, PlanModel, ResourceSpec, TaskSpec
from berrys.services.planning._common import (
    _deps,
    _plan_row,
    _record,
    _rows,
    _tasks,
)
from berrys.services.planning.contracts import (
    PlanOut,
    TaskStatus,
    WorkCalendarSpec,
)
from berrys.services.planning.tables import (
    PlanResource,
    PlanTask,
)


async def load_model(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut
) -> tuple[PlanOut, PlanModel, dict[uuid.UUID, str]]:
    """The plan in memory for analysis, with every agent of the project as a resource."""
    plan = await _plan_row(session, plan_id, user)
    tasks = await _tasks(session, plan.id)
    deps = await _deps(session, plan.id)
    rows = await _rows(session, PlanResource, plan.id, PlanResource.name, PlanResource.id)
    team, _ = await agents.get_all(session, project_id=plan.project_id, user=user, limit=200)
    calendar = WorkCalendarSpec.model_validate(plan.calendar)
    model = PlanModel(
        tasks=[_task_spec(t) for t in tasks],
        deps=[
            DepSpec(
                d.id, d.from_task_id, d.to_task_id, DependencyType(d.dependency_type), d.lag_hours
            )
            for d in deps
        ],
        resources=_resource_specs(team, rows),
        hours_per_week=calendar.hours_per_day * len(calendar.working_days),
    )
    return PlanOut.model_validate(plan), model, {t.id: t.name for t in tasks}


def _task_spec(task: PlanTask) -> TaskSpec:
    return TaskSpec(
        id=task.id,
        name=task.name,
        estimate=task.estimate_hours,
        optimistic=task.optimistic_hours,
        pessimistic=task.pessimistic_hours,
        skills=frozenset(s.lower() for s in task.required_skills),
        agent_id=task.assigned_agent_id,
        resource_id=task.assigned_resource_id,
        not_before=task.not_before_hours,
        priority=task.priority,
        status=task.status,
    )


def _resource_specs(team: list[AgentOut], rows: list[PlanResource]) -> list[ResourceSpec]:
    """Every agent (with its plan resource's settings, if it has one), then the other resources."""
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
    return resources


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


async def set_assignments(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    agents: dict[uuid.UUID, uuid.UUID | None],
    user: UserOut,
) -> None:
    """Save task -> agent assignments (pending tasks become ASSIGNED)."""
    plan = await _plan_row(session, plan_id, user)
    for task in await _tasks(session, plan.id):
        if task.id in agents:
            task.assigned_agent_id = agents[task.id]
            if task.status == TaskStatus.PENDING and task.assigned_agent_id is not None:
                task.status = TaskStatus.ASSIGNED
    await _record(
        session,
        plan,
        action=AuditAction.UPDATE,
        entity_type="plan",
        entity_id=plan.id,
        summary=f"assigned agents to {len(agents)} task(s)",
        user=user,
        after={str(task): str(agent) if agent else None for task, agent in agents.items()},
    )
