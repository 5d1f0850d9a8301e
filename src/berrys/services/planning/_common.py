"""What the planning modules share: access to a plan, rows, the change record, cycles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.core.errors import NotFound, Unprocessable
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.catalogue.contracts import Methodology
from berrys.services.planning import _schedule as engine
from berrys.services.planning.contracts import (
    TaskOut,
)
from berrys.services.planning.tables import (
    Plan,
    PlanChange,
    PlanDependency,
    PlanTask,
)
from berrys.services.projects import service as projects

DEFAULT_METHODOLOGY = Methodology.CRITICAL_PATH


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


def cycle_error(cycle: Sequence[uuid.UUID], names: dict[uuid.UUID, str]) -> Unprocessable:
    """422 naming the tasks of a dependency cycle in order."""
    loop = [*cycle, cycle[0]]
    return Unprocessable(
        "Dependency cycle: " + " -> ".join(repr(names.get(t, str(t))) for t in loop),
        cycle=[str(t) for t in cycle],
        cycle_names=[names.get(t, str(t)) for t in cycle],
    )


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


def check_acyclic(
    edges: Sequence[tuple[uuid.UUID, uuid.UUID]], names: dict[uuid.UUID, str]
) -> None:
    """Raise 422 naming the cycle when ``edges`` (over the tasks in ``names``) close one."""
    ids = list(names)
    index = {t: i for i, t in enumerate(ids)}
    cycle = engine.find_cycle(len(ids), [index[a] for a, _ in edges], [index[b] for _, b in edges])
    if cycle is not None:
        raise cycle_error([ids[i] for i in cycle], names)
