"""Continuations: a task's successor starts the moment the task's executor returns.

The successor's executor starts in the slot its predecessor frees while the completion
commits; the completion's batch then claims work exactly as it would without it, and adopts
the running execution if its claim chooses the successor, or cancels it. Until its claim
commits the successor may only call models (its writes and tool calls wait for
``TaskContext.confirmed``). A successor qualifies when the completion alone makes it
startable (every dependency on the finishing task FS, other predecessors done), uses the
same provider, belongs to a run without a budget, and no READY work waits untaken.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select

from berrys.core.db import Database
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.runs.contracts import DONE, TaskRunStatus
from berrys.services.runs.engine.claiming import Claimed, Claimer, snapshot_of
from berrys.services.runs.engine.executor import TaskOutcome
from berrys.services.runs.engine.journal import TaskContext, TaskSnapshot
from berrys.services.runs.engine.state import ids_param, one_of
from berrys.services.runs.tables import Run, TaskRun, TaskRunDependency

_log = structlog.get_logger("berrys.engine")
T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__
_dep = TaskRunDependency.__table__
_link = _dep.alias("link")
_next = _task.alias("follower")
_pred = _task.alias("upstream_task")


@dataclass
class _Follower:
    """A successor that may start when its origin ends, and what it would see."""

    item: Claimed  # the origin's output is added to its upstream when it starts
    keys: set[str] | None  # upstream keys its attempt froze (None: all)


class Continuations:
    """One worker's continuations: reads successors while tasks run and starts one when a
    task succeeds. ``start(item)`` asks the worker to run ``item`` speculatively (False:
    it may not now)."""

    def __init__(
        self,
        database: Database,
        claimer: Claimer,
        *,
        after_seconds: float,
        start: Callable[[Claimed], bool],
    ) -> None:
        self.database = database
        self._claimer = claimer
        self.after_seconds = after_seconds
        self._start = start
        self._tasks: dict[uuid.UUID, TaskSnapshot] = {}  # executing here
        self._timers: dict[uuid.UUID, asyncio.TimerHandle] = {}
        self._due: list[uuid.UUID] = []
        self._reader: asyncio.Task[None] | None = None
        self._found: dict[uuid.UUID, list[_Follower]] = {}

    # -- while a task runs -------------------------------------------------------------------
    def prepare(self, task: TaskSnapshot, claimed: asyncio.Future[None] | None) -> None:
        """The task starts (``claimed``: before its claim committed; its clock starts then,
        as a task waiting for its claim has not run yet)."""
        if task.run_budget_usd is not None:
            return
        self._tasks[task.id] = task
        if claimed is None or claimed.done():
            self._arm(task.id)
        else:

            def arm_once_claimed(done: asyncio.Future[None]) -> None:
                if not done.cancelled():
                    self._arm(task.id)

            claimed.add_done_callback(arm_once_claimed)

    def _arm(self, task_id: uuid.UUID) -> None:
        if task_id in self._tasks and task_id not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[task_id] = loop.call_later(self.after_seconds, self._read_soon, task_id)

    def prepared(self, task_id: uuid.UUID) -> bool:
        """Whether the running task has successors read that may start when it succeeds."""
        return bool(self._found.get(task_id))

    def returned(self, task_id: uuid.UUID) -> None:
        """Its executor returned: too late to start reading (its end is a write away)."""
        timer = self._timers.pop(task_id, None)
        if timer is not None:
            timer.cancel()
        if task_id not in self._due and task_id not in self._found:
            self._tasks.pop(task_id, None)  # nothing read, nor being read

    def forget(self, task_id: uuid.UUID) -> None:
        if self._tasks.pop(task_id, None) is None:
            return
        timer = self._timers.pop(task_id, None)
        if timer is not None:
            timer.cancel()
        self._found.pop(task_id, None)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._reader is not None:
            self._reader.cancel()

    def _read_soon(self, task_id: uuid.UUID) -> None:
        self._timers.pop(task_id, None)
        self._due.append(task_id)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        """Read the successors of every task due, in one query per turn."""
        while self._due:
            due, self._due = self._due, []
            origins = [task_id for task_id in due if task_id in self._tasks]
            if not origins:
                continue
            try:
                async with self.database.reads() as session:
                    sqlite = self.database.is_sqlite
                    query, ids = _FOLLOWERS[sqlite], ids_param(origins, sqlite=sqlite)
                    rows = (await session.execute(query, {"origins": ids})).all()
            except Exception as exc:
                # Only a head start is lost: the successors wait for the claim instead.
                if await self.database.outage(exc):
                    _log.info("engine.continuation_read_failed", reason="database unreachable")
                else:
                    _log.exception("engine.continuation_read_failed")
                continue
            for origin, followers in self._followers(rows).items():
                if origin in self._tasks:  # still running: it may hand over
                    self._found[origin] = followers

    def _followers(self, rows: Sequence[Any]) -> dict[uuid.UUID, list[_Follower]]:
        """The qualifying successors of each origin, best first (the claim's order)."""
        grouped: dict[tuple[uuid.UUID, uuid.UUID], list[Any]] = {}
        for row in rows:
            grouped.setdefault((row.origin, row.id), []).append(row)
        found: dict[uuid.UUID, list[tuple[Any, _Follower]]] = {}
        for (origin, _), preds in grouped.items():
            row = preds[0]
            task = self._tasks.get(origin)
            facts = self._claimer.facts_of(row.run_id)
            if task is None or facts is None or not _may_follow(row, task):
                continue
            upstream = _upstream_after(origin, preds)
            if upstream is None:
                continue
            follower = self._follower(row, facts, *upstream)
            found.setdefault(origin, []).append((row, follower))
        return {
            origin: [
                follower
                for _, follower in sorted(
                    pairs, key=lambda pair: (-pair[0].critical_path, pair[0].position, pair[0].id)
                )
            ]
            for origin, pairs in found.items()
        }

    def _follower(
        self, row: Any, facts: Any, upstream: dict[str, dict[str, Any]], finish_gated: bool
    ) -> _Follower:
        """The successor as its claim would hand it over (its first attempt)."""
        spec = dict(row.spec or {})
        frozen = spec.get("_upstream")
        keys = set(frozen.get("keys", [])) if frozen and frozen.get("attempt") == 1 else None
        snapshot = snapshot_of(
            row,
            facts,
            spec=spec,
            attempt=1,  # what the claim makes of a task never started
            upstream=upstream,
            run_cost_usd=row.run_cost_usd or 0.0,
            finish_gated=finish_gated,
        )
        timeout = row.timeout_seconds or self._claimer.default_timeout_seconds
        return _Follower(Claimed(snapshot, {}, timeout), keys)

    # -- when it succeeds ------------------------------------------------------------------
    def follow(self, ctx: TaskContext, outcome: TaskOutcome) -> uuid.UUID | None:
        followers = self._found.pop(ctx.task.id, None)
        if not followers:
            return None
        try:
            # Exactly what the claim's snapshot would read back from the database.
            output = json.loads(json.dumps(outcome.output))
        except (TypeError, ValueError):
            return None
        for follower in followers:
            snapshot = follower.item.snapshot
            if follower.keys is None or ctx.task.key in follower.keys:
                snapshot.upstream[ctx.task.key] = output
            if self._start(follower.item):
                return snapshot.id
        return None


# The successors of the origins with every predecessor of each (the origin among them):
# one row per (origin, successor, predecessor). Which ones qualify is decided in Python.
def _may_follow(row: Any, origin: TaskSnapshot) -> bool:
    """A successor never started, in a run that lets it start now, of the origin's provider
    (its slot is the origin's)."""
    return (
        TaskRunStatus(row.status) == T.PENDING
        and row.first_start
        and not row.attempt
        and row.budget_usd is None
        and not row.paused
        and not row.cancel_requested
        and row.provider == origin.provider
    )


def _upstream_after(
    origin: uuid.UUID, preds: list[Any]
) -> tuple[dict[str, dict[str, Any]], bool] | None:
    """The successor's upstream outputs and whether an FF/SF predecessor gates its
    completion, once the origin (an FS predecessor) is done; None when another predecessor
    is not finished (or the origin is no FS predecessor)."""
    upstream: dict[str, dict[str, Any]] = {}
    finish_gated = False
    for pred in preds:
        kind = DependencyType(pred.dependency_type)
        finish_gated |= kind in (DependencyType.FF, DependencyType.SF)
        if pred.pred_id == origin:
            if kind != DependencyType.FS:
                return None
        elif TaskRunStatus(pred.pred_status) not in DONE:
            return None
        elif pred.pred_output is not None:
            upstream[pred.pred_key] = pred.pred_output
    return upstream, finish_gated


def _followers_query(sqlite: bool) -> Any:
    return (
        select(
            _link.c.from_task_run_id.label("origin"),
            _next.c.id,
            _next.c.run_id,
            _next.c.key,
            _next.c.name,
            _next.c.description,
            _next.c.acceptance_criteria,
            _next.c.risk_level,
            _next.c.agent_id,
            _next.c.provider,
            _next.c.spec,
            _next.c.attempt,
            _next.c.grants,
            _next.c.timeout_seconds,
            _next.c.status,
            _next.c.started_at.is_(None).label("first_start"),
            _next.c.critical_path,
            _next.c.position,
            _run.c.budget_usd,
            _run.c.cost_usd.label("run_cost_usd"),
            _run.c.paused,
            _run.c.cancel_requested,
            _dep.c.dependency_type,
            _pred.c.id.label("pred_id"),
            _pred.c.key.label("pred_key"),
            _pred.c.output.label("pred_output"),
            _pred.c.status.label("pred_status"),
        )
        .select_from(_link)
        .join(_next, _next.c.id == _link.c.to_task_run_id)
        .join(_run, _run.c.id == _next.c.run_id)
        .join(_dep, _dep.c.to_task_run_id == _next.c.id)
        .join(_pred, _pred.c.id == _dep.c.from_task_run_id)
        .where(one_of(_link.c.from_task_run_id, "origins", sqlite=sqlite))
    )


_FOLLOWERS = {False: _followers_query(False), True: _followers_query(True)}  # by is_sqlite
