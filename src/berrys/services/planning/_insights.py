"""What a plan means: schedule and forecast, resource loads, levelling, bottlenecks, what-if,
and the task figures of a project's stats. Reads only, except ``level(apply=True)``."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.errors import ServiceUnavailable, Unprocessable
from berrys.services.auth.contracts import UserOut
from berrys.services.planning import _analysis, _plan_model
from berrys.services.planning import _schedule as engine
from berrys.services.planning._analysis import DepSpec, PlanModel
from berrys.services.planning._common import cycle_error
from berrys.services.planning._workcalendar import WorkCalendar
from berrys.services.planning.contracts import (
    AddDependencyChange,
    AssignOut,
    AssignRequest,
    BottlenecksOut,
    EstimateChange,
    Forecast,
    LevelOut,
    MilestoneForecast,
    PlanOut,
    RemoveDependencyChange,
    RemoveResourceChange,
    ResourceLoad,
    ResourcesOut,
    ScheduledTask,
    ScheduleOut,
    ScheduleSummary,
    TaskDelta,
    WhatIfOut,
    WhatIfRequest,
    WorkCalendarSpec,
)
from berrys.services.planning.tables import Plan, PlanMilestone

DEFAULT_ITERATIONS = 1000
MAX_ITERATIONS = 20_000
# Monte Carlo work cap: iterations x (tasks + dependencies).
MAX_SAMPLE_WORK = 5_000_000
SCHEDULE_TIMEOUT_SECONDS = 20.0


def _calendar(plan: PlanOut | Plan, start: datetime | None = None) -> WorkCalendar:
    spec = WorkCalendarSpec.model_validate(plan.calendar)
    return WorkCalendar(spec, start or plan.start_at)


def _schedule(
    model: PlanModel, names: dict[uuid.UUID, str]
) -> tuple[engine.Schedule, _analysis.Arrays]:
    try:
        return _analysis.compute(model)
    except engine.CycleError as exc:
        raise cycle_error([model.tasks[i].id for i in exc.cycle], names) from None


def _r(value: float) -> float:
    return round(value, 6)


async def get_schedule(
    session: AsyncSession,
    *,
    plan_id: uuid.UUID,
    user: UserOut,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int | None = None,
) -> ScheduleOut:
    """Early/late dates, slack, the critical path, and the P50/P80/P95 finish forecast."""
    plan, model, names = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    calendar = _calendar(plan)
    size = len(model.tasks) + len(model.deps)
    iterations = max(1, min(iterations, MAX_ITERATIONS, MAX_SAMPLE_WORK // max(1, size)))
    seed = plan.id.int % 2**31 if seed is None else seed
    sched, a, (p50, p80, p95) = await _sampled(model, names, iterations=iterations, seed=seed)
    at = calendar.at
    milestones = await session.scalars(
        select(PlanMilestone).where(PlanMilestone.plan_id == plan.id).order_by(PlanMilestone.name)
    )
    return ScheduleOut(
        plan_id=plan.id,
        start_at=calendar.start,
        tasks=[_scheduled(task, i, sched, calendar) for i, task in enumerate(model.tasks)],
        critical_path=[model.tasks[i].id for i in sched.critical_path],
        finish_hours=_r(sched.finish),
        finish=Forecast(
            date=at(sched.finish, finish=True),
            p50=at(p50, finish=True),
            p80=at(p80, finish=True),
            p95=at(p95, finish=True),
            p50_hours=_r(p50),
            p80_hours=_r(p80),
            p95_hours=_r(p95),
            iterations=iterations,
            seed=seed,
        ),
        milestones=[_milestone_forecast(row, sched, a, calendar) for row in milestones],
    )


async def _sampled(
    model: PlanModel, names: dict[uuid.UUID, str], *, iterations: int, seed: int
) -> tuple[engine.Schedule, _analysis.Arrays, tuple[float, float, float]]:
    """The schedule and the sampled P50/P80/P95 finish hours.

    Sampling a large plan takes up to a few hundred milliseconds: in a thread, so other
    requests go on meanwhile, and past the timeout a clear error instead of a wait.
    """

    def compute() -> tuple[engine.Schedule, _analysis.Arrays, tuple[float, float, float]]:
        sched, a = _schedule(model, names)
        return sched, a, _analysis.forecast(model, a, iterations=iterations, seed=seed)

    try:
        return await asyncio.wait_for(asyncio.to_thread(compute), SCHEDULE_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ServiceUnavailable(
            f"The schedule's forecast took over {SCHEDULE_TIMEOUT_SECONDS:g} s; "
            "ask again with fewer iterations",
            iterations=iterations,
        ) from None


def _scheduled(
    task: _analysis.TaskSpec, i: int, sched: engine.Schedule, calendar: WorkCalendar
) -> ScheduledTask:
    """Task ``i`` of the schedule, its hours also as dates on the plan's calendar."""
    at = calendar.at
    return ScheduledTask(
        task_id=task.id,
        name=task.name,
        duration_hours=_r(task.duration),
        es_hours=_r(sched.es[i]),
        ef_hours=_r(sched.ef[i]),
        ls_hours=_r(sched.ls[i]),
        lf_hours=_r(sched.lf[i]),
        early_start=at(sched.es[i]),
        early_finish=at(sched.ef[i], finish=True),
        late_start=at(sched.ls[i]),
        late_finish=at(sched.lf[i], finish=True),
        total_slack_hours=_r(sched.total_slack[i]),
        free_slack_hours=_r(sched.free_slack[i]),
        critical=sched.critical[i],
        assigned_agent_id=task.agent_id,
    )


def _milestone_forecast(
    row: PlanMilestone, sched: engine.Schedule, a: _analysis.Arrays, calendar: WorkCalendar
) -> MilestoneForecast:
    """A milestone finishes when the last of its tasks does (at hour 0 without any)."""
    ends = [sched.ef[a.index[uuid.UUID(t)]] for t in row.task_ids if uuid.UUID(t) in a.index]
    end = max(ends, default=0.0)
    return MilestoneForecast(
        milestone_id=row.id,
        name=row.name,
        finish_hours=_r(end),
        finish=calendar.at(end, finish=True),
    )


async def get_resources(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut
) -> ResourcesOut:
    """Each resource's allocated hours and its over-allocated periods in the early schedule."""
    _, model, names = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    sched, _ = _schedule(model, names)
    intervals = _analysis.resource_intervals(model, sched.es)
    loads = []
    known = set()
    for resource in model.resources:
        known.add(resource.key)
        mine = intervals.get(resource.key, [])
        units = _analysis._units(resource, model.hours_per_week)
        loads.append(
            ResourceLoad(
                resource_id=resource.resource_id,
                agent_id=resource.agent_id,
                name=resource.name,
                capacity_hours_per_week=resource.capacity_hours_per_week,
                allocated_hours=_r(sum(end - start for start, end, _ in mine)),
                task_ids=[t for _, _, t in mine],
                over_allocations=_analysis.over_allocations(mine, units),
            )
        )
    return ResourcesOut(
        resources=loads,
        unassigned_task_ids=[t.id for t in model.tasks if t.resource_key is None],
    )


async def level(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut, apply: bool = False
) -> LevelOut:
    """Resource levelling: shift tasks (non-critical first, within slack where possible) so no
    resource carries more than its capacity; ``apply`` saves the shifted starts."""
    _, model, names = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    sched, a = _schedule(model, names)
    starts, finish = _analysis.level(model, sched, a)
    moved = _analysis.shifts(model, sched, starts)
    if apply and moved:
        await _plan_model.set_not_before(
            session, plan_id=plan_id, starts={s.task_id: s.to_hours for s in moved}, user=user
        )
    return LevelOut(
        finish_hours_before=_r(sched.finish),
        finish_hours_after=_r(finish),
        shifts=moved,
        applied=apply and bool(moved),
    )


async def get_bottlenecks(
    session: AsyncSession, *, plan_id: uuid.UUID, user: UserOut
) -> BottlenecksOut:
    _, model, names = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    sched, a = _schedule(model, names)
    return BottlenecksOut(plan_id=plan_id, bottlenecks=_analysis.bottlenecks(model, sched, a))


def _apply(model: PlanModel, request: WhatIfRequest) -> None:
    tasks = {t.id: t for t in model.tasks}
    for change in request.changes:
        if isinstance(change, EstimateChange):
            task = tasks.get(change.task_id)
            if task is None:
                raise Unprocessable(f"Task {change.task_id} is not in this plan")
            for field, attr in (
                ("estimate_hours", "estimate"),
                ("optimistic_hours", "optimistic"),
                ("pessimistic_hours", "pessimistic"),
            ):
                if field in change.model_fields_set:
                    setattr(task, attr, getattr(change, field))
            if (task.optimistic is not None and task.optimistic > task.estimate) or (
                task.pessimistic is not None and task.pessimistic < task.estimate
            ):
                raise Unprocessable(f"Estimates of {task.name!r} must be ordered o <= m <= p")
        elif isinstance(change, RemoveResourceChange):
            key = change.agent_id or change.resource_id
            keep = [r for r in model.resources if key not in (r.key, r.resource_id)]
            if len(keep) == len(model.resources):
                raise Unprocessable(f"Resource {key} is not in this plan")
            removed = {r.key for r in model.resources} - {r.key for r in keep}
            model.resources = keep
            affected = set()
            for task in model.tasks:
                if task.resource_key in removed:
                    task.agent_id = task.resource_id = None
                    affected.add(task.id)
            chosen = _analysis.assign(model, request.optimization_target, only=affected)
            for task in model.tasks:
                if task.id in chosen:
                    task.agent_id = chosen[task.id]
        elif isinstance(change, AddDependencyChange):
            for task_id in (change.from_task_id, change.to_task_id):
                if task_id not in tasks:
                    raise Unprocessable(f"Task {task_id} is not in this plan")
            model.deps.append(
                DepSpec(
                    uuid.uuid4(),
                    change.from_task_id,
                    change.to_task_id,
                    change.type,
                    change.lag_hours,
                )
            )
        elif isinstance(change, RemoveDependencyChange):
            kept = [d for d in model.deps if d.id != change.dependency_id]
            if len(kept) == len(model.deps):
                raise Unprocessable(f"Dependency {change.dependency_id} is not in this plan")
            model.deps = kept


async def what_if(
    session: AsyncSession, *, plan_id: uuid.UUID, request: WhatIfRequest, user: UserOut
) -> WhatIfOut:
    """The schedule delta of changes applied in memory; nothing is saved."""
    plan, model, names = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    calendar = _calendar(plan)
    changed = model.copy()
    _apply(changed, request)
    summaries = []
    results = []
    for version in (model, changed):
        sched, a = _schedule(version, names)
        _, levelled = _analysis.level(version, sched, a)
        results.append(sched)
        summaries.append(
            ScheduleSummary(
                finish_hours=_r(sched.finish),
                finish=calendar.at(sched.finish, finish=True),
                levelled_finish_hours=_r(levelled),
                critical_path=[version.tasks[i].id for i in sched.critical_path],
            )
        )
    before, after = results
    deltas = [
        TaskDelta(
            task_id=old.id,
            es_hours_before=_r(before.es[i]),
            es_hours_after=_r(after.es[i]),
            ef_hours_before=_r(before.ef[i]),
            ef_hours_after=_r(after.ef[i]),
            assigned_agent_id_before=old.agent_id,
            assigned_agent_id_after=new.agent_id,
        )
        for i, (old, new) in enumerate(zip(model.tasks, changed.tasks, strict=True))
        if abs(before.es[i] - after.es[i]) > engine.EPS
        or abs(before.ef[i] - after.ef[i]) > engine.EPS
        or old.agent_id != new.agent_id
    ]
    return WhatIfOut(
        before=summaries[0],
        after=summaries[1],
        delta_hours=_r(after.finish - before.finish),
        levelled_delta_hours=_r(
            summaries[1].levelled_finish_hours - summaries[0].levelled_finish_hours
        ),
        critical_path_changed=summaries[0].critical_path != summaries[1].critical_path,
        changed_tasks=deltas,
    )


async def assign(
    session: AsyncSession, *, plan_id: uuid.UUID, request: AssignRequest, user: UserOut
) -> AssignOut:
    """Assign agents to tasks by skill fit and the optimisation target, and save it."""
    _, model, _ = await _plan_model.load_model(session, plan_id=plan_id, user=user)
    only = {t.id for t in model.tasks} if request.reassign_all else None
    chosen = _analysis.assign(model, request.optimization_target, only=only)
    current = {t.id: t.agent_id for t in model.tasks}
    changed = {task: agent for task, agent in chosen.items() if agent != current[task]}
    if changed:
        await _plan_model.set_assignments(session, plan_id=plan_id, agents=changed, user=user)
    return AssignOut(assigned=chosen)
