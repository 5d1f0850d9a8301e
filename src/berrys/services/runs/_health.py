"""Read-only signs of trouble in runs, for whoever watches them (alerts): how tasks ended in
a window and runs with no progress (silent workers: ``engine.presence``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.services.runs.contracts import (
    RunStatus,
    StalledRun,
    TaskOutcomes,
    TaskRunStatus,
)
from berrys.services.runs.tables import Run, RunEvent, Step, TaskRun

_ENDED = (TaskRunStatus.COMPLETED, TaskRunStatus.NEEDS_REVIEW, TaskRunStatus.FAILED)
_WAITING_FOR_PROGRESS = (RunStatus.QUEUED, RunStatus.RUNNING)


def _in_project(project_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
    return [] if project_id is None else [Run.project_id == project_id]


async def task_outcomes(
    session: AsyncSession, *, since: datetime, project_id: uuid.UUID | None = None
) -> TaskOutcomes:
    """Tasks (of one project, or all) that finished since ``since``, and how many failed."""
    failed = func.sum(case((TaskRun.status == TaskRunStatus.FAILED, 1), else_=0))
    row = (
        await session.execute(
            select(func.count(), func.coalesce(failed, 0))
            .select_from(TaskRun)
            .join(Run, Run.id == TaskRun.run_id)
            .where(
                TaskRun.status.in_(_ENDED),
                TaskRun.finished_at >= since,
                *_in_project(project_id),
            )
        )
    ).one()
    return TaskOutcomes(finished=row[0], failed=row[1])


async def stalled_runs(
    session: AsyncSession, *, idle_since: datetime, project_id: uuid.UUID | None = None
) -> list[StalledRun]:
    """QUEUED or RUNNING runs whose last event and last step are both older than
    ``idle_since`` (a step records a model or tool call while a task works)."""
    last_event = (
        select(func.max(RunEvent.created_at)).where(RunEvent.run_id == Run.id).scalar_subquery()
    )
    last_step = (
        select(func.max(func.coalesce(Step.finished_at, Step.started_at)))
        .join(TaskRun, TaskRun.id == Step.task_run_id)
        .where(TaskRun.run_id == Run.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Run.id, Run.project_id, Run.status, Run.created_at, last_event, last_step).where(
            Run.status.in_(_WAITING_FOR_PROGRESS),
            Run.created_at < idle_since,
            *_in_project(project_id),
        )
    )
    stalled = []
    for run_id, run_project, status, created_at, event_at, step_at in rows:
        last = max(moment for moment in (created_at, event_at, step_at) if moment is not None)
        if last < idle_since:
            stalled.append(
                StalledRun(
                    run_id=run_id, project_id=run_project, status=status, last_activity_at=last
                )
            )
    return stalled
