"""Plan versions: a new version made current, and a version read whole.

The planning service (by hand, or cloned) and plan generation both create versions here.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.core.errors import Conflict
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.planning._common import (
    DEFAULT_METHODOLOGY,
    _deps,
    _plan_row,
    _record,
    _rows,
    _tasks,
    task_out,
)
from berrys.services.planning.contracts import (
    DependencyOut,
    MilestoneOut,
    PhaseOut,
    PlanCreate,
    PlanDetail,
    PlanOut,
    ResourceOut,
    WorkCalendarSpec,
)
from berrys.services.planning.tables import (
    Plan,
    PlanMilestone,
    PlanPhase,
    PlanResource,
)
from berrys.services.projects import service as projects


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


async def _insert_version(session: AsyncSession, plan: Plan) -> None:
    """Add a new version; a concurrent one taking the same number (or current) is 409."""
    try:
        async with session.begin_nested():
            session.add(plan)
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "Another version of this project's plan was created at the same moment; try again"
        ) from None


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
    await _insert_version(session, plan)
    await _record(
        session,
        plan,
        action=AuditAction.GENERATE if generated_by else AuditAction.CREATE,
        entity_type="plan",
        entity_id=plan.id,
        summary=f"generated version {version} ({generated_by})"
        if generated_by
        else f"created version {version}",
        user=user,
        after=PlanOut.model_validate(plan),
    )
    return plan


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
