"""Claiming: which READY task runs a worker takes, and what their executors need.

A claim selects READY task runs (past any retry back-off) and RUNNING ones whose lease
expired, longest remaining critical path first — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
inside ``BEGIN IMMEDIATE`` on SQLite — filters them by the run's and the provider's
concurrency limits, gives them this worker's lease in one UPDATE with their events, and
reads each one's snapshot (its task, run, upstream outputs and recorded steps). It runs
inside a group commit (``commit.py``), so work made READY by a batch is claimed by it.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update

from berrys.core.db import Database, utcnow
from berrys.services.catalogue.contracts import DependencyType
from berrys.services.runs.contracts import (
    DONE,
    RunEventType,
    RunStatus,
    TaskRunStatus,
)
from berrys.services.runs.engine.backlog import claimable
from berrys.services.runs.engine.commit import Tx
from berrys.services.runs.engine.events import Event
from berrys.services.runs.engine.journal import TaskSnapshot
from berrys.services.runs.engine.state import ids_param, one_of, propagate
from berrys.services.runs.tables import Run, Step, TaskRun, TaskRunDependency

T = TaskRunStatus
_task = TaskRun.__table__
_run = Run.__table__
_dep = TaskRunDependency.__table__
_step = Step.__table__
# What replay reads of a recorded step: all but the trace's copy of the request.
_REPLAYED = [column for column in _step.c if column.name != "request"]
_pred = _task.alias("upstream_task")
_busy = _task.alias("busy")


@dataclass(frozen=True)
class _RunFacts:
    """What a worker keeps about a run: fixed when the run is created."""

    project_id: uuid.UUID
    options: dict[str, Any]
    max_concurrency: int
    provider_limits: dict[str, int]
    start_edges: bool  # SS/SF dependencies: a start can make another task move


@dataclass
class Claimed:
    """A task run this worker now holds the lease of, ready to execute."""

    snapshot: TaskSnapshot
    recorded: dict[int, Any]
    timeout: float | None


class Claimer:
    """One worker's claims: its candidate query is built once and the runs' fixed facts
    are read once per run."""

    def __init__(
        self,
        database: Database,
        *,
        worker_id: str,
        lease_seconds: float,
        provider_limits: dict[str, int],
        default_timeout_seconds: float | None,
        run_ids: set[uuid.UUID] | None,
    ) -> None:
        self.database = database
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        # Tasks of one provider this worker runs at once; runs add their own.
        self.provider_limits = provider_limits
        self.default_timeout_seconds = default_timeout_seconds
        self.run_ids = run_ids
        self._run_facts: dict[uuid.UUID, _RunFacts] = {}
        self._sqlite = database.is_sqlite
        self._claim_update = _CLAIM[self._sqlite]
        self._snapshot = _SNAPSHOT[self._sqlite]
        self._candidates = self._candidate_query()
        # The last claim left READY work it found untaken (no slot, or a limit).
        self.left_over = False

    async def claim(
        self,
        tx: Tx,
        *,
        free: int,
        executing: list[uuid.UUID],
        mine: Counter[str],
        adopt: dict[uuid.UUID, Claimed] | None = None,
    ) -> list[Claimed]:
        """Inside a group commit: lease up to ``free`` READY task runs to this worker, never
        one it is still ``executing``; ``mine`` counts its running tasks per provider.

        ``adopt``: tasks this worker already started speculatively, with their snapshots.
        They are candidates like any other, chosen or not by the same rules; one chosen is
        returned as given (its snapshot is not read again)."""
        now = utcnow()
        busy = ids_param(executing, sqlite=self._sqlite)
        params = {"now": now, "limit": max(free * 2, 16), "busy": busy}
        candidates = (await tx.session.execute(self._candidates, params)).all()
        self.left_over = False
        if not candidates:
            return []
        run_ids = sorted({row.run_id for row in candidates})
        runs, candidates = await self._locked(tx, candidates, run_ids, params)
        if not candidates:
            return []
        facts = await self._facts(tx.session, run_ids)
        chosen = self._within_limits(candidates, runs, facts, free, mine)
        self.left_over = len(chosen) < len(candidates)
        if not chosen:
            return []
        await self._lease(tx, chosen, now)
        await self._started(tx, chosen, runs, facts)
        return await self._claimed(tx, chosen, facts, adopt)

    async def _locked(
        self,
        tx: Tx,
        candidates: Sequence[Any],
        run_ids: list[uuid.UUID],
        params: Any,
    ) -> tuple[dict[uuid.UUID, Any], Sequence[Any]]:
        """The candidates' runs (their status) and the candidates still to be had. On SQLite
        the batch holds the write lock: the status read with the candidates holds. On
        PostgreSQL runs are locked first, then their tasks (the order every state change
        takes locks in); a run another worker's batch holds is skipped, unless every one
        is held and this batch holds no run: then it waits for the first candidate's run
        and reads the candidates again. Otherwise a worker with nothing to commit would
        find the run locked whenever it looked, while busy workers, queueing on the lock
        with their completions, keep all the work."""
        if self._sqlite:
            return {row.run_id: row.run_status for row in candidates}, candidates
        session = tx.session
        # The runs the batch locked already: their status as the candidates read it.
        runs = {row.run_id: row.run_status for row in candidates if row.run_id in tx.locked_runs}
        others = [run_id for run_id in run_ids if run_id not in tx.locked_runs]
        if others:
            runs.update((await session.execute(_lock_runs(others, skip_locked=True))).all())
        if not runs and not tx.locked_runs:
            waited = candidates[0].run_id
            runs = dict((await session.execute(_lock_runs([waited], skip_locked=False))).all())
            candidates = (await session.execute(self._candidates, params)).all()
        free_ids = [row.id for row in candidates if row.run_id in runs]
        locked = self._candidates.where(_task.c.id.in_(free_ids)).with_for_update(
            skip_locked=True, of=_task
        )
        return runs, (await session.execute(locked, params)).all()

    def _within_limits(
        self,
        candidates: Sequence[Any],
        runs: dict[uuid.UUID, Any],
        facts: dict[uuid.UUID, _RunFacts],
        free: int,
        mine: Counter[str],
    ) -> list[Any]:
        """Up to ``free`` candidates, in order, within their run's concurrency and provider
        limits and this worker's own provider limits."""
        busy: dict[tuple[uuid.UUID, str], int] = {}
        per_run: dict[uuid.UUID, int] = {}
        for row in candidates:
            per_run.setdefault(row.run_id, row.run_busy)
            busy.setdefault((row.run_id, row.provider or ""), row.provider_busy)
        chosen: list[Any] = []  # rows of the candidates' query
        for row in candidates:
            if len(chosen) >= free:
                break
            if row.run_id not in runs:
                continue
            run = facts[row.run_id]
            provider = row.provider or ""
            if per_run[row.run_id] >= run.max_concurrency:
                continue
            run_limit = run.provider_limits.get(provider)
            if run_limit is not None and busy[(row.run_id, provider)] >= run_limit:
                continue
            own_limit = self.provider_limits.get(provider)
            if own_limit is not None and mine[provider] >= own_limit:
                continue
            per_run[row.run_id] += 1
            busy[(row.run_id, provider)] += 1
            mine[provider] += 1
            chosen.append(row)
        return chosen

    async def _lease(self, tx: Tx, chosen: list[Any], now: Any) -> None:
        """The chosen tasks RUNNING under this worker's lease, in one statement."""
        tx.active.update(row.run_id for row in chosen)
        until = now + timedelta(seconds=self.lease_seconds)
        ids = ids_param([row.id for row in chosen], sqlite=self._sqlite)
        params = {"ids": ids, "owner": self.worker_id, "until": until, "now": now}
        await tx.session.execute(self._claim_update, params)

    async def _started(
        self,
        tx: Tx,
        chosen: list[Any],
        runs: dict[uuid.UUID, Any],
        facts: dict[uuid.UUID, _RunFacts],
    ) -> None:
        """Each run's TASK_STARTED (TASK_RECLAIMED) events; a first start may move SS and SF
        successors on."""
        by_run: dict[uuid.UUID, list[Event]] = defaultdict(list)
        first_starts: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for row in chosen:
            by_run[row.run_id].append(self._start_event(row))
            if row.first_start:
                first_starts[row.run_id].append(row.id)
        for run_id, events in by_run.items():
            if first_starts.get(run_id) and facts[run_id].start_edges:
                await propagate(tx.session, first_starts[run_id], events, started=True)
            # A RUNNING run stays RUNNING when more of its tasks start.
            refresh = RunStatus(runs[run_id]) != RunStatus.RUNNING
            tx.emit(run_id, events, refresh=refresh)

    def _start_event(self, row: Any) -> Event:
        """TASK_STARTED, or TASK_RECLAIMED for a task whose last worker's lease expired."""
        attempt = row.attempt or 1
        if row.status == T.RUNNING:
            payload = {
                "attempt": attempt,
                "worker": self.worker_id,
                "previous_worker": row.lease_owner,
            }
            return Event(RunEventType.TASK_RECLAIMED, row.id, payload)
        payload = {"attempt": attempt, "worker": self.worker_id}
        return Event(RunEventType.TASK_STARTED, row.id, payload)

    async def _claimed(
        self,
        tx: Tx,
        chosen: list[Any],
        facts: dict[uuid.UUID, _RunFacts],
        adopt: dict[uuid.UUID, Claimed] | None,
    ) -> list[Claimed]:
        """What the executors need of the chosen tasks: snapshots read for the new ones, the
        adopted ones (started speculatively) as they were given."""
        adopted: list[Claimed] = []
        if adopt:
            adopted = [adopt[row.id] for row in chosen if row.id in adopt]
            chosen = [row for row in chosen if row.id not in adopt]
            if not chosen:
                return adopted
        fresh = all(row.first_start and not row.attempt for row in chosen)
        ids = [row.id for row in chosen]
        claimed = await self._snapshots(tx.session, ids, facts, fresh=fresh, spent=tx.spent)
        return adopted + claimed if adopted else claimed

    def facts_of(self, run_id: uuid.UUID) -> _RunFacts | None:
        """What this worker knows of a run it has claimed from (None: nothing yet)."""
        return self._run_facts.get(run_id)

    async def waiting(self, executing: list[uuid.UUID]) -> bool:
        """Whether any task run waits to be claimed, read without the write lock: an idle
        poll that takes the write lock would queue behind (on SQLite: sleep in the busy
        handler of) whatever transaction is creating the work it looks for."""
        params = {"now": utcnow(), "limit": 1, "busy": ids_param(executing, sqlite=self._sqlite)}
        async with self.database.reads() as session:
            return (await session.execute(self._candidates, params)).first() is not None

    async def warm(self, session: Any, nothing: list[uuid.UUID]) -> None:
        """Run the claim's statements once on ids that match nothing: compiled and cached
        before the first claim needs them."""
        now = utcnow()
        ids = ids_param(nothing, sqlite=self._sqlite)
        params = {"now": now, "limit": 1, "busy": ids}
        await session.execute(self._candidates, params)
        claim = {"ids": ids, "owner": self.worker_id, "until": now, "now": now}
        await session.execute(self._claim_update, claim)
        await session.execute(self._snapshot, {"ids": ids})

    def _candidate_query(self) -> Any:
        """READY task runs (past any retry back-off) and RUNNING ones whose lease expired,
        of runs that may go on, with what already runs of their run and provider; built
        once per worker (its cache key too)."""
        now = bindparam("now", type_=_task.c.lease_expires_at.type)
        running = and_(_busy.c.status == T.RUNNING, _busy.c.lease_expires_at >= now)
        query = (
            select(
                _task.c.id,
                _task.c.run_id,
                _task.c.status,
                _task.c.provider,
                _task.c.started_at.is_(None).label("first_start"),
                _task.c.lease_owner,
                _task.c.attempt,
                _run.c.status.label("run_status"),
                select(func.count())
                .where(_busy.c.run_id == _task.c.run_id, running)
                .scalar_subquery()
                .label("run_busy"),
                select(func.count())
                .where(
                    _busy.c.run_id == _task.c.run_id,
                    _busy.c.provider.is_not_distinct_from(_task.c.provider),
                    running,
                )
                .scalar_subquery()
                .label("provider_busy"),
            )
            .join(_run, _run.c.id == _task.c.run_id)
            .where(
                claimable(now),
                # Never two executions of one task under one owner.
                one_of(_task.c.id, "busy", sqlite=self._sqlite, negate=True),
            )
            # Longest remaining critical path first: scarce slots go where they shorten
            # the makespan.
            .order_by(_task.c.critical_path.desc(), _task.c.position, _task.c.id)
            .limit(bindparam("limit"))
        )
        if self.run_ids is not None:
            query = query.where(_task.c.run_id.in_(list(self.run_ids)))
        return query

    async def _facts(self, session: Any, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, _RunFacts]:
        """What never changes about these runs once created, read once per run."""
        missing = [run_id for run_id in run_ids if run_id not in self._run_facts]
        if missing:
            start_edges = (
                select(_dep.c.to_task_run_id)
                .where(
                    _dep.c.run_id == _run.c.id,
                    _dep.c.dependency_type.in_([DependencyType.SS, DependencyType.SF]),
                )
                .exists()
            )
            for row in await session.execute(
                select(
                    _run.c.id,
                    _run.c.project_id,
                    _run.c.options,
                    _run.c.max_concurrency,
                    _run.c.provider_limits,
                    start_edges.label("start_edges"),
                ).where(_run.c.id.in_(missing))
            ):
                self._run_facts[row.id] = _RunFacts(
                    project_id=row.project_id,
                    options=dict(row.options or {}),
                    max_concurrency=row.max_concurrency,
                    provider_limits=dict(row.provider_limits or {}),
                    start_edges=bool(row.start_edges),
                )
        return {run_id: self._run_facts[run_id] for run_id in run_ids}

    async def _snapshots(
        self,
        session: Any,
        ids: list[uuid.UUID],
        facts: dict[uuid.UUID, _RunFacts],
        *,
        fresh: bool = False,
        spent: dict[uuid.UUID, tuple[float, int]],
    ) -> list[Claimed]:
        """What the executor needs of each claimed task (``fresh``: none ran before, so
        there are no recorded steps to load; ``spent``: what the batch adds to the runs'
        cost at its end)."""
        found = await session.execute(self._snapshot, {"ids": ids_param(ids, sqlite=self._sqlite)})
        graph = _Upstream.read(found)
        recorded = {} if fresh else await _recorded_steps(session, ids, graph.rows)
        claimed = []
        frozen_now: list[dict[str, Any]] = []
        for row in graph.rows:
            spec = graph.seen_by(row, frozen_now)
            snapshot = snapshot_of(
                row,
                facts[row.run_id],
                spec=spec,
                attempt=row.attempt,
                upstream=graph.outputs[row.id],
                run_cost_usd=(row.run_cost_usd or 0.0) + spent.get(row.run_id, (0.0, 0))[0],
                finish_gated=row.id in graph.finish_gated,
            )
            timeout = row.timeout_seconds or self.default_timeout_seconds
            claimed.append(Claimed(snapshot, recorded.get(row.id, {}), timeout))
        if frozen_now:
            await session.execute(_FREEZE_UPSTREAM, frozen_now)
        order = {task_id: index for index, task_id in enumerate(ids)}
        claimed.sort(key=lambda item: order[item.snapshot.id])
        return claimed


@dataclass
class _Upstream:
    """The claimed tasks (one row each) and what their predecessors give them."""

    rows: list[Any]
    outputs: dict[uuid.UUID, dict[str, dict[str, Any]]]
    # Upstream outputs that may still appear (a predecessor not finished) make the
    # attempt freeze the set it saw; FF/SF predecessors gate its completion.
    settling: set[uuid.UUID]
    finish_gated: set[uuid.UUID]

    @classmethod
    def read(cls, found: Any) -> _Upstream:
        """From the snapshot query's rows: a task's row once per predecessor."""
        by_id: dict[uuid.UUID, Any] = {}
        graph = cls([], defaultdict(dict), set(), set())
        for found_row in found:
            task_id = found_row.id
            by_id.setdefault(task_id, found_row)
            if found_row.dependency_type is None:
                continue
            if found_row.pred_output is not None:
                graph.outputs[task_id][found_row.pred_key] = found_row.pred_output
            if TaskRunStatus(found_row.pred_status) not in DONE:
                graph.settling.add(task_id)
            if DependencyType(found_row.dependency_type) in (DependencyType.FF, DependencyType.SF):
                graph.finish_gated.add(task_id)
        graph.rows = list(by_id.values())
        return graph

    def seen_by(self, row: Any, frozen_now: list[dict[str, Any]]) -> dict[str, Any]:
        """The task's spec, its upstream outputs cut to those its attempt first saw.

        The upstream outputs an attempt sees are fixed when it first starts: a task taken
        over later (after a crash) sees the same ones, even if an SS/SF predecessor has
        finished meanwhile, so its recorded history still applies. A first start with
        predecessors still settling adds the set it saw to ``frozen_now``."""
        spec = dict(row.spec or {})
        frozen = spec.get("_upstream")
        if frozen and frozen.get("attempt") == row.attempt:
            keys = set(frozen.get("keys", []))
            self.outputs[row.id] = {k: v for k, v in self.outputs[row.id].items() if k in keys}
        elif row.id in self.settling:
            spec["_upstream"] = {"attempt": row.attempt, "keys": sorted(self.outputs[row.id])}
            frozen_now.append({"task_id": row.id, "frozen_spec": spec})
        return spec


async def _recorded_steps(
    session: Any, ids: list[uuid.UUID], rows: list[Any]
) -> dict[uuid.UUID, dict[int, Any]]:
    """The steps each task's current attempt recorded, by position (what replay returns)."""
    recorded: dict[uuid.UUID, dict[int, Any]] = defaultdict(dict)
    attempts = {row.id: row.attempt for row in rows}
    steps = await session.execute(select(*_REPLAYED).where(_step.c.task_run_id.in_(ids)))
    for step in steps:
        if step.attempt == attempts[step.task_run_id]:
            recorded[step.task_run_id][step.seq] = step
    return recorded


def _lock_runs(run_ids: list[uuid.UUID], *, skip_locked: bool) -> Any:
    """The runs' rows locked, in id order, with their status."""
    return (
        select(_run.c.id, _run.c.status)
        .where(_run.c.id.in_(run_ids))
        .order_by(_run.c.id)
        .with_for_update(of=_run, skip_locked=skip_locked)
    )


_FREEZE_UPSTREAM = (
    update(_task)
    .where(_task.c.id == bindparam("task_id"))
    .values(spec=bindparam("frozen_spec", type_=_task.c.spec.type))
)


def snapshot_of(
    row: Any,
    facts: _RunFacts,
    *,
    spec: dict[str, Any],
    attempt: int,
    upstream: dict[str, dict[str, Any]],
    run_cost_usd: float,
    finish_gated: bool,
) -> TaskSnapshot:
    """An executor's view of a task from its row (the columns of ``_SNAPSHOT``)."""
    return TaskSnapshot(
        id=row.id,
        run_id=row.run_id,
        project_id=facts.project_id,
        key=row.key,
        name=row.name,
        description=row.description,
        acceptance_criteria=list(row.acceptance_criteria or []),
        risk_level=str(getattr(row.risk_level, "value", row.risk_level)),
        agent_id=row.agent_id,
        provider=row.provider,
        spec=spec,
        attempt=attempt,
        grants=list(row.grants or []),
        upstream=upstream,
        run_options=dict(facts.options),
        run_budget_usd=row.budget_usd,
        run_cost_usd=run_cost_usd,
        finish_gated=finish_gated,
    )


# Built once (per dialect, see ``one_of``): SQLAlchemy keys its compiled-statement cache on
# the statement object.
def _claim_statement(sqlite: bool) -> Any:
    return (
        update(_task)
        .where(one_of(_task.c.id, "ids", sqlite=sqlite))
        .values(
            status=T.RUNNING,
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("until", type_=_task.c.lease_expires_at.type),
            started_at=func.coalesce(
                _task.c.started_at, bindparam("now", type_=_task.c.started_at.type)
            ),
            attempt=case((_task.c.attempt == 0, 1), else_=_task.c.attempt),
            not_before=None,
        )
    )


def _snapshot_statement(sqlite: bool) -> Any:
    """What an executor needs of a claimed task: one row per task and predecessor (one with
    none for a task without)."""
    return (
        select(
            _task.c.id,
            _task.c.run_id,
            _task.c.key,
            _task.c.name,
            _task.c.description,
            _task.c.acceptance_criteria,
            _task.c.risk_level,
            _task.c.agent_id,
            _task.c.provider,
            _task.c.spec,
            _task.c.attempt,
            _task.c.grants,
            _task.c.timeout_seconds,
            _run.c.budget_usd,
            _run.c.cost_usd.label("run_cost_usd"),
            _dep.c.dependency_type,
            _pred.c.key.label("pred_key"),
            _pred.c.output.label("pred_output"),
            _pred.c.status.label("pred_status"),
        )
        .join(_run, _run.c.id == _task.c.run_id)
        .outerjoin(_dep, _dep.c.to_task_run_id == _task.c.id)
        .outerjoin(_pred, _pred.c.id == _dep.c.from_task_run_id)
        .where(one_of(_task.c.id, "ids", sqlite=sqlite))
    )


_CLAIM = {False: _claim_statement(False), True: _claim_statement(True)}  # by is_sqlite
_SNAPSHOT = {False: _snapshot_statement(False), True: _snapshot_statement(True)}
