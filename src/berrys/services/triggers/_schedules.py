"""Schedules of a project: creating, changing and deleting them (audited), and reading them
with the fire times each took."""

from __future__ import annotations

import uuid
from datetime import datetime

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import fetch_page, utcnow
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserOut
from berrys.services.projects import service as projects
from berrys.services.triggers._access import project_row, record_change
from berrys.services.triggers.contracts import (
    ScheduleCreate,
    ScheduleFireOut,
    ScheduleOut,
    ScheduleUpdate,
)
from berrys.services.triggers.tables import Schedule, ScheduleFire


def next_fire(cron: str, after: datetime) -> datetime:
    """The first fire time of ``cron`` (UTC) strictly after ``after``."""
    fire: datetime = croniter(cron, after).get_next(datetime)
    return fire


def schedule_out(row: Schedule) -> ScheduleOut:
    return ScheduleOut.model_validate(row)


async def _row(
    session: AsyncSession, project_id: uuid.UUID, schedule_id: uuid.UUID, user: UserOut, **kw: bool
) -> Schedule:
    return await project_row(
        session,
        Schedule,
        label="Schedule",
        project_id=project_id,
        row_id=schedule_id,
        user=user,
        **kw,
    )


async def create(
    session: AsyncSession, *, project_id: uuid.UUID, schedule_in: ScheduleCreate, user: UserOut
) -> ScheduleOut:
    """A schedule of a project its writer may see; its first fire is the next cron time."""
    await projects.get(session, project_id=project_id, user=user)
    auth.require_writer(user)
    row = Schedule(
        project_id=project_id,
        cron=schedule_in.cron,
        missed=schedule_in.missed,
        max_catch_up=schedule_in.max_catch_up,
        enabled=schedule_in.enabled,
        next_fire_at=next_fire(schedule_in.cron, utcnow()),
        created_by=user.id,
    )
    session.add(row)
    await session.flush()
    out = schedule_out(row)
    await record_change(session, "schedule", row, AuditAction.CREATE, user, before=None, after=out)
    return out


async def update(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    schedule_id: uuid.UUID,
    schedule_in: ScheduleUpdate,
    user: UserOut,
) -> ScheduleOut:
    """Change a schedule; a new cron expression moves its next fire to that cron's next time."""
    row = await _row(session, project_id, schedule_id, user, write=True)
    before = schedule_out(row)
    changes = schedule_in.model_dump(exclude_none=True)
    for field, value in changes.items():
        setattr(row, field, value)
    if "cron" in changes or (changes.get("enabled") and not before.enabled):
        row.next_fire_at = next_fire(row.cron, utcnow())
    await session.flush()
    out = schedule_out(row)
    await record_change(
        session, "schedule", row, AuditAction.UPDATE, user, before=before, after=out
    )
    return out


async def delete(
    session: AsyncSession, *, project_id: uuid.UUID, schedule_id: uuid.UUID, user: UserOut
) -> None:
    row = await _row(session, project_id, schedule_id, user, write=True)
    await record_change(
        session, "schedule", row, AuditAction.DELETE, user, before=schedule_out(row), after=None
    )
    await session.delete(row)


async def get(
    session: AsyncSession, *, project_id: uuid.UUID, schedule_id: uuid.UUID, user: UserOut
) -> ScheduleOut:
    return schedule_out(await _row(session, project_id, schedule_id, user))


async def get_all(
    session: AsyncSession, *, project_id: uuid.UUID, user: UserOut, limit: int, offset: int
) -> tuple[list[ScheduleOut], int]:
    await projects.get(session, project_id=project_id, user=user)
    rows, total = await fetch_page(
        session,
        select(Schedule)
        .where(Schedule.project_id == project_id)
        .order_by(Schedule.created_at, Schedule.id),
        limit=limit,
        offset=offset,
    )
    return [schedule_out(row) for row in rows], total


async def fires(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    schedule_id: uuid.UUID,
    user: UserOut,
    limit: int,
    offset: int,
) -> tuple[list[ScheduleFireOut], int]:
    """The fire times the schedule took, newest first, each with its run or its error."""
    await _row(session, project_id, schedule_id, user)
    rows, total = await fetch_page(
        session,
        select(ScheduleFire)
        .where(ScheduleFire.schedule_id == schedule_id)
        .order_by(ScheduleFire.fire_at.desc()),
        limit=limit,
        offset=offset,
    )
    return [ScheduleFireOut.model_validate(row) for row in rows], total
