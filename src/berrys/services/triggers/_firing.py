"""Firing the due schedules: each due schedule is locked (SKIP LOCKED; SQLite's write lock)
by one process, which records its fire times (unique per schedule and time, so a time fires
once) and starts one run of the project's current plan per fire, as the schedule's creator.
Missed times follow the schedule's policy: SKIP fires once, CATCH_UP each (capped)."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from croniter import croniter
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import Database, utcnow
from berrys.core.errors import BerrysError, Unprocessable
from berrys.services.auth import service as auth
from berrys.services.llm import service as llm
from berrys.services.pipeline import service as pipeline
from berrys.services.runs.contracts import RunCreate
from berrys.services.triggers._schedules import next_fire
from berrys.services.triggers.contracts import MissedFires
from berrys.services.triggers.tables import Schedule, ScheduleFire

_log = structlog.get_logger("berrys.triggers")
MAX_SCHEDULES_PER_PASS = 20


def missed_times(row: Schedule, now: datetime) -> list[datetime]:
    """The fire times from ``row.next_fire_at`` to ``now`` the policy fires, oldest first:
    the latest one (SKIP) or the latest ``max_catch_up`` (CATCH_UP)."""
    cap = row.max_catch_up if row.missed == MissedFires.CATCH_UP else 1
    # Stepped back from now: a schedule missed for a year costs ``cap`` steps, not a year's.
    backwards = croniter(row.cron, now + timedelta(seconds=1))
    times: list[datetime] = []
    while len(times) < cap:
        fire_at: datetime = backwards.get_prev(datetime)
        if fire_at < row.next_fire_at:
            break
        if fire_at <= now:
            times.append(fire_at)
    return sorted(times)


async def fire_due(database: Database, models: llm.Runtime, *, now: datetime | None = None) -> int:
    """Fire every schedule due at ``now``; how many runs were started."""
    at = now or utcnow()
    due = (Schedule.enabled.is_(True), Schedule.next_fire_at <= at)
    async with database.transaction(read_only=True) as session:
        if not await session.scalar(select(exists().where(*due))):
            return 0  # no write transaction (SQLite's write lock) while nothing is due
    started = 0
    async with database.transaction() as session:
        rows = (
            await session.scalars(
                select(Schedule)
                .where(*due)
                .order_by(Schedule.next_fire_at, Schedule.id)
                .limit(MAX_SCHEDULES_PER_PASS)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            for fire_at in missed_times(row, at):
                started += await _fire(session, database, models, row, fire_at)
                row.last_fired_at = fire_at
            row.next_fire_at = next_fire(row.cron, at)
    return started


async def _fire(
    session: AsyncSession,
    database: Database,
    models: llm.Runtime,
    row: Schedule,
    fire_at: datetime,
) -> int:
    fire = ScheduleFire(schedule_id=row.id, fire_at=fire_at)
    session.add(fire)
    await session.flush()  # the unique (schedule, time): a second process fails here
    try:
        async with session.begin_nested():
            user = None
            if row.created_by is not None:
                user = await auth.acting_for(session, user_id=row.created_by)
            if user is None:
                raise Unprocessable("The schedule's creator is no longer an active user")
            run = await pipeline.create_from_plan(
                session,
                models=models,
                database=database,
                project_id=row.project_id,
                run_in=RunCreate(
                    options={"schedule_id": str(row.id), "fire_at": fire_at.isoformat()}
                ),
                user=user,
            )
    except BerrysError as exc:  # no plan, no access any more: recorded, the next fire tries
        fire.error = exc.detail
        _log.warning("triggers.fire_failed", schedule_id=str(row.id), error=exc.detail)
        return 0
    fire.run_id = run.id
    return 1
