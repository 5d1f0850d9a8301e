"""The run outbox: one event per state change, numbered per run, written in the change's
transaction. SSE, a run's trace and metrics read these rows; nothing else is a second
source of truth. On PostgreSQL the same transaction sends a notification on
``RUN_EVENTS_CHANNEL`` (only a wake-up for SSE streams: they read the rows). docs/architecture.md
lists the event types and what each carries.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from berrys.core.db import utcnow
from berrys.services.runs.contracts import RunEventType
from berrys.services.runs.engine import metrics
from berrys.services.runs.tables import Run, RunEvent

_run = Run.__table__
_event = RunEvent.__table__

# The PostgreSQL channel on which a committed outbox write says "run <id> has events up to
# <seq>": payload ``"<run id> <seq>"``. Delivered at commit, so a listener that reads after
# it sees the rows.
RUN_EVENTS_CHANNEL = "berrys_run_events"


# Where the engine's Core statements run: the group commit's connection, or a service's
# session (then in the service's transaction).
EngineSession = AsyncSession | AsyncConnection


@dataclass(slots=True)
class Event:
    type: RunEventType
    task_run_id: uuid.UUID | None = None
    payload: dict[str, Any] = field(default_factory=dict)


async def emit_many(session: EngineSession, run_id: uuid.UUID, events: Sequence[Event]) -> int:
    """Append ``events`` to the run's outbox in the caller's transaction; the last seq."""
    if not events:
        return 0
    seq: int = (await append(session, run_id, events)).event_seq
    return seq


async def append(
    session: EngineSession,
    run_id: uuid.UUID,
    events: Sequence[Event],
    *,
    cost_usd: float = 0.0,
    tokens: int = 0,
) -> Any:
    """Number and write ``events`` and add spending to the run, in one UPDATE of its row
    (plus the events' INSERT); the row's ``event_seq`` and status flags after it."""
    params = {"run": run_id, "count": len(events), "cost": cost_usd, "spent_tokens": tokens}
    row = (await session.execute(_APPEND, params)).one()
    if not events:
        return row
    first = row.event_seq - len(events) + 1
    now = utcnow()
    await session.execute(
        _INSERT,
        [
            {
                "run_id": run_id,
                "seq": first + index,
                "type": event.type,
                "task_run_id": event.task_run_id,
                "payload": event.payload,
                "created_at": now,
            }
            for index, event in enumerate(events)
        ],
    )
    if _dialect_of(session) == "postgresql":
        payload = f"{run_id} {row.event_seq}"
        await session.execute(_NOTIFY, {"channel": RUN_EVENTS_CHANNEL, "payload": payload})
    counts = Counter(event.type for event in events)
    for kind, count in counts.items():
        metrics.EVENTS.labels(kind.value).inc(count)
    return row


# Built once: SQLAlchemy keys its compiled-statement cache on the statement object.
_APPEND = (
    update(_run)
    .where(_run.c.id == bindparam("run", type_=_run.c.id.type))
    .values(
        event_seq=_run.c.event_seq + bindparam("count", type_=_run.c.event_seq.type),
        cost_usd=_run.c.cost_usd + bindparam("cost", type_=_run.c.cost_usd.type),
        tokens=_run.c.tokens + bindparam("spent_tokens", type_=_run.c.tokens.type),
    )
    .returning(
        _run.c.event_seq,
        _run.c.status,
        _run.c.paused,
        _run.c.cancel_requested,
        _run.c.gate_interaction_id,
    )
)
_INSERT = insert(_event)
_NOTIFY = select(func.pg_notify(bindparam("channel"), bindparam("payload")))


def _dialect_of(session: EngineSession) -> str:
    if isinstance(session, AsyncConnection):
        return session.dialect.name
    return session.get_bind().dialect.name


async def emit(
    session: AsyncSession,
    run_id: uuid.UUID,
    type: RunEventType,
    *,
    task_run_id: uuid.UUID | None = None,
    **payload: Any,
) -> int:
    return await emit_many(session, run_id, [Event(type, task_run_id, payload)])


async def of_project(
    session: AsyncSession,
    *,
    project_id: uuid.UUID,
    since: datetime,
    types: Collection[RunEventType],
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Events of ``types`` in the project's runs written at ``since`` or later, oldest first
    (the same shape as ``read``, with ``run_id``)."""
    rows = await session.execute(
        select(_event)
        .join(_run, _run.c.id == _event.c.run_id)
        .where(
            _run.c.project_id == project_id,
            _event.c.created_at >= since,
            _event.c.type.in_(list(types)),
        )
        .order_by(_event.c.created_at, _event.c.run_id, _event.c.seq)
        .limit(limit)
    )
    return [{"run_id": str(row.run_id), **_event_dict(row)} for row in rows]


def _event_dict(row: Any) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "type": RunEventType(row.type).value,
        "task_run_id": str(row.task_run_id) if row.task_run_id else None,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
    }


async def read(
    session: AsyncSession, *, run_id: uuid.UUID, after_seq: int = 0, limit: int = 500
) -> list[dict[str, Any]]:
    """Events of a run with ``seq > after_seq``, oldest first."""
    rows = await session.execute(
        select(_event)
        .where(_event.c.run_id == run_id, _event.c.seq > after_seq)
        .order_by(_event.c.seq)
        .limit(limit)
    )
    return [_event_dict(row) for row in rows]
