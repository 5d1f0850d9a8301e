"""The work queue's depth (task runs waiting for a worker, under a live lease) and runs by status.

``claimable`` is what a worker's claim may take (``claiming.py`` selects with it); the
``Backlog`` collector counts from the database once per scrape of GET /metrics, so every
server process reports the whole deployment's figures, whichever process (a worker's
included) changed them: an autoscaler sizes the workers on them (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import and_, bindparam, func, or_, select

from berrys.core.db import Database, utcnow
from berrys.services.runs.contracts import RUN_TERMINAL, RunStatus, TaskRunStatus
from berrys.services.runs.tables import Run, TaskRun

T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__


def claimable(now: Any) -> Any:
    """READY task runs past any retry back-off, and RUNNING ones whose lease expired (their
    worker is gone), of runs that may go on."""
    runnable = or_(
        and_(
            _task.c.status == T.READY,
            or_(_task.c.not_before.is_(None), _task.c.not_before <= now),
        ),
        and_(
            _task.c.status == T.RUNNING,
            _task.c.lease_expires_at < now,
            _task.c.output_ready.is_(False),
        ),
    )
    return and_(
        runnable,
        _run.c.paused.is_(False),
        _run.c.cancel_requested.is_(False),
        # Plain comparisons, not NOT IN (list): a literal list is an expanding parameter,
        # and the statement would be rendered again on every execution.
        *(_run.c.status != status for status in sorted(RUN_TERMINAL)),
    )


def _depth_query() -> Any:
    now = bindparam("now", type_=_task.c.lease_expires_at.type)
    leased = and_(_task.c.status == T.RUNNING, _task.c.lease_expires_at >= now)
    return (
        select(
            func.count().filter(claimable(now)).label("waiting"),
            func.count().filter(leased).label("running"),
        )
        .select_from(_task.join(_run, _run.c.id == _task.c.run_id))
        # The claim index (status, lease_expires_at) keeps this to the live tasks.
        .where(_task.c.status.in_([T.READY, T.RUNNING]))
    )


_DEPTH = _depth_query()
_RUNS_BY_STATUS = select(_run.c.status, func.count()).group_by(_run.c.status)


class Backlog:
    """A Prometheus collector of the work's state, read by ``refresh`` before a scrape (a
    collector's ``collect`` cannot await the database)."""

    def __init__(self) -> None:
        self._depth: tuple[int, int] | None = None
        self._runs: dict[RunStatus, int] = {}

    async def refresh(self, database: Database) -> None:
        # Figures of this scrape or none (the database is away), never stale ones.
        self._depth, self._runs = None, {}
        async with database.transaction(read_only=True) as session:
            row = (await session.execute(_DEPTH, {"now": utcnow()})).one()
            runs = (await session.execute(_RUNS_BY_STATUS)).all()
        self._depth = (int(row.waiting or 0), int(row.running or 0))
        self._runs = {status: 0 for status in RunStatus} | {
            RunStatus(status): count for status, count in runs
        }

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("berrys_tasks_waiting", "")
        yield GaugeMetricFamily("berrys_tasks_running", "")
        yield GaugeMetricFamily("berrys_runs", "", labels=["status"])

    def collect(self) -> Iterator[Metric]:
        if self._depth is None:
            return
        waiting, running = self._depth
        yield GaugeMetricFamily(
            "berrys_tasks_waiting",
            "Task runs a worker could claim now, in the whole database.",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "berrys_tasks_running",
            "Task runs a worker holds a live lease on, in the whole database.",
            value=running,
        )
        runs = GaugeMetricFamily(
            "berrys_runs", "Runs in the whole database by status.", labels=["status"]
        )
        for status, count in self._runs.items():
            runs.add_metric([status.value], count)
        yield runs
