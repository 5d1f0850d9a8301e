"""Which workers are alive: each registers itself, renews a heartbeat, and leaves.

A worker's row says where it runs (host, pid), when it started, when it last beat and when
it counts as gone (``expires_at``: its heartbeat plus its lease), and how many tasks it
holds. ``berrys workers``, ``GET /api/v1/workers`` and the dashboard read the live ones;
the WORKER_SILENT alert the silent ones.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.db import utcnow
from berrys.services.runs.contracts import TaskRunStatus, WorkerOut
from berrys.services.runs.tables import EngineWorker, Run, TaskRun

_worker = EngineWorker.__table__
_task = TaskRun.__table__
_run = Run.__table__
# A dead worker's row is kept this long (``berrys workers`` shows only live ones), so a
# machine that lost its workers can still be seen in the table for a while.
FORGET_AFTER = timedelta(days=1)


async def register(session: Any, *, worker_id: str, lease_seconds: float, concurrency: int) -> None:
    """Add this worker's row (and drop the rows of workers long gone)."""
    now = utcnow()
    await session.execute(delete(_worker).where(_worker.c.expires_at < now - FORGET_AFTER))
    await session.execute(delete(_worker).where(_worker.c.id == worker_id))
    await session.execute(
        insert(_worker).values(
            id=worker_id,
            host=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
            expires_at=now + timedelta(seconds=lease_seconds),
            tasks_held=0,
            concurrency=concurrency,
            draining=False,
        )
    )


async def beat(
    session: Any, *, worker_id: str, lease_seconds: float, tasks_held: int, draining: bool
) -> None:
    """Renew the heartbeat; a row removed meanwhile (pruned while the worker was cut off)
    is not written again here: the next start registers it."""
    now = utcnow()
    await session.execute(
        update(_worker)
        .where(_worker.c.id == worker_id)
        .values(
            heartbeat_at=now,
            expires_at=now + timedelta(seconds=lease_seconds),
            tasks_held=tasks_held,
            draining=draining,
        )
    )


async def leave(session: Any, *, worker_id: str) -> None:
    await session.execute(delete(_worker).where(_worker.c.id == worker_id))


async def live(session: AsyncSession) -> list[WorkerOut]:
    """The workers whose heartbeat has not expired, oldest first, with the tasks each holds
    now (counted from the task runs, not its last word)."""
    return await _workers(session, _worker.c.expires_at >= utcnow())


async def silent(
    session: AsyncSession, *, beat_before: datetime, project_id: uuid.UUID | None = None
) -> list[WorkerOut]:
    """Registered workers whose last heartbeat is older than ``beat_before`` (killed, hung,
    or cut off from the database), oldest first; with ``project_id`` only those holding a
    running task of that project. A worker that left (stopped, drained) is not registered;
    one that beats again, or whose row is forgotten (``FORGET_AFTER``), is silent no more."""
    condition = _worker.c.heartbeat_at < beat_before
    if project_id is not None:
        holds_project_task = (
            select(_task.c.id)
            .join(_run, _run.c.id == _task.c.run_id)
            .where(
                _task.c.lease_owner == _worker.c.id,
                _task.c.status == TaskRunStatus.RUNNING,
                _run.c.project_id == project_id,
            )
            .exists()
        )
        condition = and_(condition, holds_project_task)
    return await _workers(session, condition)


async def _workers(session: AsyncSession, condition: ColumnElement[bool]) -> list[WorkerOut]:
    """The workers meeting ``condition``, oldest first, with the tasks each holds now."""
    now = utcnow()
    held = (
        select(func.count())
        .where(
            _task.c.lease_owner == _worker.c.id,
            _task.c.status == TaskRunStatus.RUNNING,
            _task.c.lease_expires_at >= now,
        )
        .scalar_subquery()
        .label("held")
    )
    rows = await session.execute(
        select(_worker, held).where(condition).order_by(_worker.c.started_at, _worker.c.id)
    )
    found = []
    for row in rows:
        fields = dict(row._mapping)
        fields["tasks_held"] = fields.pop("held")
        found.append(WorkerOut.model_validate(fields))
    return found
