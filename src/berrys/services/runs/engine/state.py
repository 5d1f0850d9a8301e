"""State changes of task runs and runs, always inside the caller's transaction.

Dependencies: FS, the successor becomes READY after the predecessor COMPLETED; SS, after it
started; FF, the successor may run but is not COMPLETED before the predecessor; SF, likewise
on its start. SKIPPED and NEEDS_REVIEW count as finished. Only a task's own predecessors
decide when it is READY. A run whose tasks are all finished is COMPLETED, or
COMPLETED_WITH_REVIEW while a task still NEEDS_REVIEW.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import String, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from berrys.core.db import Database, utcnow
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.runs.contracts import (
    DONE,
    RUN_TERMINAL,
    RunEventType,
    RunStatus,
    TaskRunStatus,
)
from berrys.services.runs.engine.events import EngineSession, Event, append, emit_many
from berrys.services.runs.engine.hooks import OnStatusChange, StatusChange
from berrys.services.runs.tables import Run, TaskRun, TaskRunDependency

T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__
_dep = TaskRunDependency.__table__

_pred = _task.alias("pred")
_succ = _task.alias("succ")
_link = _dep.alias("link")


def _has_started(task: Any) -> Any:
    # A boolean, not the timestamp: parsing SQLite's datetime text costs more than the query.
    return task.c.started_at.is_not(None).label("started")


@asynccontextmanager
async def write(database: Database) -> AsyncIterator[Any]:
    """A write transaction of the engine on a Core connection (no ORM unit of work; the rare
    writes through other services join it with :func:`with_orm`). On SQLite the process's
    engine writes queue on the database's ``write_queue`` first."""
    opened = database.engine.begin()
    if not database.is_sqlite:
        async with opened as session:
            yield session
        return
    async with database.write_queue(), opened as session:
        yield session


async def run_write(database: Database, body: Any) -> Any:
    """Run ``body(session)`` as one engine write transaction and return its result."""
    async with write(database) as session:
        return await body(session)


async def lock_run(session: AsyncSession, run_id: uuid.UUID) -> None:
    """Serialise the run's state changes: taken first by every transaction that changes a
    task run's status (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE already serialises).

    Without it two predecessors finishing at once under READ COMMITTED would each see the
    other unfinished, and their common successor would never become READY.
    """
    dialect = session.dialect if hasattr(session, "dialect") else session.get_bind().dialect
    if dialect.name == "sqlite":
        return
    await session.execute(select(_run.c.id).where(_run.c.id == run_id).with_for_update())


def is_sqlite(session: Any) -> bool:
    dialect = session.dialect if hasattr(session, "dialect") else session.get_bind().dialect
    return bool(dialect.name == "sqlite")


def one_of(column: Any, name: str, *, sqlite: bool, negate: bool = False) -> Any:
    """``column IN`` (``NOT IN``) the ids bound as the one parameter ``name``. On SQLite the
    ids travel as one JSON array read by ``json_each``: one prepared statement whatever
    their number, no per-id binding or re-rendering of the SQL (an expanding IN costs
    ~150 µs of CPU more per statement for 20 ids). Bind with :func:`ids_param`."""
    if sqlite:
        ids: Any = select(
            func.json_each(bindparam(name, type_=String())).table_valued("value").c.value
        )
    else:
        ids = bindparam(name, expanding=True)
    return column.not_in(ids) if negate else column.in_(ids)


def ids_param(ids: Iterable[uuid.UUID], *, sqlite: bool) -> Any:
    """The value of a :func:`one_of` parameter (SQLite stores a UUID as its hex)."""
    return json.dumps([value.hex for value in ids]) if sqlite else list(ids)


def _started(status: TaskRunStatus, started: bool) -> bool:
    return started or status in DONE


# A predecessor as the gates see it: dependency type, status, whether it has started.
Pred = tuple[DependencyType, TaskRunStatus, bool]


def start_gate(preds: Iterable[Pred]) -> bool:
    """May the successor start? FS needs the predecessor finished, SS started."""
    for kind, status, started in preds:
        if kind == DependencyType.FS and status not in DONE:
            return False
        if kind == DependencyType.SS and not _started(status, started):
            return False
    return True


def finish_gate(preds: Iterable[Pred]) -> bool:
    """May the successor be COMPLETED? FF needs the predecessor finished, SF started."""
    for kind, status, started in preds:
        if kind == DependencyType.FF and status not in DONE:
            return False
        if kind == DependencyType.SF and not _started(status, started):
            return False
    return True


async def predecessors_of(
    session: EngineSession, task_run_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Pred]]:
    ids = list(task_run_ids)
    found: dict[uuid.UUID, list[Pred]] = defaultdict(list)
    if not ids:
        return found
    pred = _pred
    rows = await session.execute(
        select(_dep.c.to_task_run_id, _dep.c.dependency_type, pred.c.status, _has_started(pred))
        .join(pred, pred.c.id == _dep.c.from_task_run_id)
        .where(_dep.c.to_task_run_id.in_(ids))
    )
    for to_id, kind, status, started in rows:
        found[to_id].append((DependencyType(kind), TaskRunStatus(status), bool(started)))
    return found


async def propagate(
    session: EngineSession,
    changed: Iterable[uuid.UUID],
    events: list[Event],
    *,
    started: bool = False,
) -> None:
    """After tasks finished (or, ``started``, first started), make their successors READY
    or COMPLETED (NEEDS_REVIEW). One query per wave finds the successors that may move with
    all their predecessors; a start concerns only SS and SF successors."""
    frontier = set(changed)
    sqlite = is_sqlite(session)
    after_finish, after_start = _AFTER[sqlite]
    query = after_start if started else after_finish
    while frontier:
        rows = await session.execute(query, {"changed": ids_param(frontier, sqlite=sqlite)})
        query = after_finish  # what completes in turn has finished
        preds: dict[uuid.UUID, list[Pred]] = defaultdict(list)
        status_of: dict[uuid.UUID, TaskRunStatus] = {}
        # Which successors may move is decided here, not in SQL: a status filter there
        # lets SQLite's planner walk every PENDING task instead of the links.
        for row in rows:
            status = TaskRunStatus(row.status)
            if status != T.PENDING and not (status == T.RUNNING and row.output_ready):
                continue
            status_of[row.id] = status
            kind = DependencyType(row.dependency_type)
            preds[row.id].append((kind, TaskRunStatus(row.pred_status), bool(row.started)))
        frontier = set()
        ready = [i for i, st in status_of.items() if st == T.PENDING and start_gate(preds[i])]
        completed = [i for i, st in status_of.items() if st == T.RUNNING and finish_gate(preds[i])]
        if ready:
            await session.execute(_MAKE_READY[sqlite], {"ready": ids_param(ready, sqlite=sqlite)})
            events.extend(Event(RunEventType.TASK_READY, task_id) for task_id in ready)
        if completed:
            await _finish_held(session, completed, events)
            frontier.update(completed)


async def _finish_held(session: Any, completed: list[uuid.UUID], events: list[Event]) -> None:
    """Tasks whose output waited for an FF/SF predecessor: COMPLETED, or NEEDS_REVIEW when
    their output carries review reasons (a rare path: one read of their outputs)."""
    outputs = await session.execute(
        select(_task.c.id, _task.c.output).where(_task.c.id.in_(completed))
    )
    review = {
        task_id: list(output["review_reasons"])
        for task_id, output in outputs
        if (output or {}).get("review_reasons")
    }
    now = utcnow()
    for status, ids in (
        (T.COMPLETED, [i for i in completed if i not in review]),
        (T.NEEDS_REVIEW, [i for i in completed if i in review]),
    ):
        if not ids:
            continue
        await session.execute(
            update(_task)
            .where(_task.c.id.in_(ids))
            .values(status=status, output_ready=False, finished_at=now)
        )
    for task_id in completed:
        if task_id in review:
            payload = {"reasons": review[task_id]}
            events.append(Event(RunEventType.TASK_NEEDS_REVIEW, task_id, payload))
        else:
            events.append(Event(RunEventType.TASK_COMPLETED, task_id))


# Built once: SQLAlchemy keys its compiled-statement cache on the statement object.
def _after_finish(sqlite: bool) -> Any:
    return (
        select(
            _succ.c.id,
            _succ.c.status,
            _succ.c.output_ready,
            _dep.c.dependency_type,
            _pred.c.status.label("pred_status"),
            _has_started(_pred),
        )
        .select_from(_link)
        .join(_succ, _succ.c.id == _link.c.to_task_run_id)
        .join(_dep, _dep.c.to_task_run_id == _succ.c.id)
        .join(_pred, _pred.c.id == _dep.c.from_task_run_id)
        .where(one_of(_link.c.from_task_run_id, "changed", sqlite=sqlite))
        .distinct()
    )


def _after(sqlite: bool) -> tuple[Any, Any]:
    """(after a finish, after a start) for the dialect."""
    finish = _after_finish(sqlite)
    start = finish.where(_link.c.dependency_type.in_([DependencyType.SS, DependencyType.SF]))
    return finish, start


_AFTER = {False: _after(False), True: _after(True)}  # by is_sqlite


def _make_ready(sqlite: bool) -> Any:
    # On SQLite ``+status`` keeps the planner on the primary key (it would otherwise walk
    # the status index, i.e. every PENDING task of every run, checking each against the ids).
    status = UnaryExpression(_task.c.status, operator=custom_op("+")) if sqlite else _task.c.status
    return (
        update(_task)
        .where(one_of(_task.c.id, "ready", sqlite=sqlite), status == T.PENDING)
        .values(status=T.READY)
    )


_MAKE_READY = {False: _make_ready(False), True: _make_ready(True)}  # by is_sqlite


async def initial_ready(session: AsyncSession, run_id: uuid.UUID, events: list[Event]) -> None:
    """Mark READY every PENDING task of a new run whose start gate is open."""
    rows = (
        await session.execute(
            select(_task.c.id).where(_task.c.run_id == run_id, _task.c.status == T.PENDING)
        )
    ).all()
    preds = await predecessors_of(session, [row.id for row in rows])
    ready = [row.id for row in rows if start_gate(preds.get(row.id, []))]
    if ready:
        await session.execute(update(_task).where(_task.c.id.in_(ready)).values(status=T.READY))
        events.extend(Event(RunEventType.TASK_READY, task_id) for task_id in ready)


def derive_status(
    counts: dict[TaskRunStatus, int],
    *,
    paused: bool,
    cancel_requested: bool,
    started: bool,
    gated: bool = False,
) -> RunStatus:
    """The run's status from its task runs (and, through AWAITING_INPUT, its interactions)."""
    total = sum(counts.values())
    review = counts.get(T.NEEDS_REVIEW, 0)
    done = counts.get(T.COMPLETED, 0) + counts.get(T.SKIPPED, 0) + review
    active = counts.get(T.RUNNING, 0) + counts.get(T.READY, 0)
    if cancel_requested and counts.get(T.RUNNING, 0) == 0:
        return RunStatus.CANCELLED
    if total and done == total:
        return RunStatus.COMPLETED_WITH_REVIEW if review else RunStatus.COMPLETED
    if total == 0:
        return RunStatus.COMPLETED
    if gated:
        return RunStatus.AWAITING_INPUT
    if paused:
        return RunStatus.PAUSED
    if active:
        return RunStatus.RUNNING if started else RunStatus.QUEUED
    if counts.get(T.AWAITING_INPUT, 0):
        return RunStatus.AWAITING_INPUT
    if counts.get(T.FAILED, 0):
        return RunStatus.FAILED
    if counts.get(T.CANCELLED, 0):
        return RunStatus.CANCELLED
    return RunStatus.FAILED  # PENDING tasks that nothing can make READY


async def refresh_run_status(
    session: EngineSession, run_id: uuid.UUID, events: list[Event], *, on_status: OnStatusChange
) -> RunStatus:
    """Recompute the run's status; a change is written with its RUN_STATUS event, and
    ``on_status`` hears of it in the same transaction."""
    run = (
        await session.execute(
            select(
                _run.c.status,
                _run.c.paused,
                _run.c.cancel_requested,
                _run.c.started_at,
                _run.c.gate_interaction_id,
                _run.c.options,
                _run.c.project_id,
                _run.c.id,
            ).where(_run.c.id == run_id)
        )
    ).one()
    counts = {
        TaskRunStatus(status): count
        for status, count in await session.execute(
            select(_task.c.status, func.count())
            .where(_task.c.run_id == run_id)
            .group_by(_task.c.status)
        )
    }
    started = run.started_at is not None or any(
        counts.get(s, 0)
        for s in (T.RUNNING, T.COMPLETED, T.NEEDS_REVIEW, T.FAILED, T.AWAITING_INPUT)
    )
    new = derive_status(
        counts,
        paused=run.paused,
        cancel_requested=run.cancel_requested,
        started=started,
        gated=run.gate_interaction_id is not None,
    )
    old = RunStatus(run.status)
    if new != old:
        values: dict[str, Any] = {"status": new, "updated_at": utcnow()}
        if new in RUN_TERMINAL:
            values["finished_at"] = utcnow()
        elif old in RUN_TERMINAL:
            values["finished_at"] = None
        if started and run.started_at is None:
            values["started_at"] = utcnow()
        await session.execute(update(_run).where(_run.c.id == run_id).values(**values))
        events.append(Event(RunEventType.RUN_STATUS, None, {"from": old.value, "to": new.value}))
        change = StatusChange(run.id, run.project_id, run.options or {}, old, new)
        await with_orm(session, lambda orm: on_status(orm, change))
    return new


async def with_orm(session: Any, work: Any) -> Any:
    """``work(orm_session)`` in the caller's transaction (other services use the ORM)."""
    if isinstance(session, AsyncConnection):
        orm = AsyncSession(bind=session, expire_on_commit=False)  # joins the transaction
        try:
            result = await work(orm)
            await orm.flush()
            return result
        finally:
            await orm.close()
    return await work(session)


async def commit_events(
    session: AsyncSession,
    run_id: uuid.UUID,
    events: list[Event],
    *,
    on_status: OnStatusChange,
    refresh: bool = True,
) -> RunStatus | None:
    """Recompute the run's status (adding its event) and write all events of the change."""
    status = None
    if refresh:
        status = await refresh_run_status(session, run_id, events, on_status=on_status)
    await emit_many(session, run_id, events)
    return status


async def settle_run(
    session: EngineSession,
    run_id: uuid.UUID,
    events: list[Event],
    *,
    refresh: bool,
    active: bool,
    on_status: OnStatusChange,
    cost_usd: float = 0.0,
    tokens: int = 0,
) -> None:
    """The end of a group transaction for one run: its events, spending and status.

    ``active``: a task of the run is RUNNING under this worker's lease after the change. A
    RUNNING run that is not paused, cancelled or gated then stays RUNNING (derive_status), so
    its status needs no recount."""
    row = await append(session, run_id, events, cost_usd=cost_usd, tokens=tokens)
    steady = (
        active
        and RunStatus(row.status) == RunStatus.RUNNING
        and not row.paused
        and not row.cancel_requested
        and row.gate_interaction_id is None
    )
    if refresh and not steady:
        changed: list[Event] = []
        await refresh_run_status(session, run_id, changed, on_status=on_status)
        await emit_many(session, run_id, changed)
