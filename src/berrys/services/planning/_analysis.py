"""Plans in memory: schedule, forecast, resource loads, levelling, bottlenecks, assignment.

Pure functions over plain dataclasses (no database): the service loads rows into a
:class:`PlanModel`, and what-if edits a copy of one without saving anything.
"""

from __future__ import annotations

import bisect
import heapq
import math
import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace

from berrys.core.enums import Priority
from berrys.services.catalogue.contracts import DependencyType, RiskLevel
from berrys.services.planning import _schedule as engine
from berrys.services.planning.contracts import (
    Bottleneck,
    BottleneckKind,
    OptimizationTarget,
    OverAllocation,
    TaskShift,
    TaskStatus,
)

_PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}
MAX_LEVELLED_TASKS = 20_000


@dataclass(slots=True)
class TaskSpec:
    id: uuid.UUID
    name: str
    estimate: float
    optimistic: float | None = None
    pessimistic: float | None = None
    skills: frozenset[str] = frozenset()
    agent_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None
    not_before: float | None = None
    priority: Priority = Priority.MEDIUM
    status: TaskStatus = TaskStatus.PENDING

    @property
    def duration(self) -> float:
        """The estimate, or the PERT mean when optimistic and pessimistic are both given."""
        if self.optimistic is not None and self.pessimistic is not None:
            return engine.pert_mean(self.optimistic, self.estimate, self.pessimistic)
        return self.estimate

    @property
    def resource_key(self) -> uuid.UUID | None:
        return self.agent_id or self.resource_id


@dataclass(slots=True)
class DepSpec:
    id: uuid.UUID
    from_id: uuid.UUID
    to_id: uuid.UUID
    kind: DependencyType
    lag: float = 0.0


@dataclass(slots=True)
class ResourceSpec:
    """A resource keyed by its agent's id (agents) or its own row id (people)."""

    key: uuid.UUID
    name: str
    agent_id: uuid.UUID | None = None
    resource_id: uuid.UUID | None = None
    skills: frozenset[str] = frozenset()
    capacity_hours_per_week: float = 40.0
    cost_per_hour: float = 0.0


@dataclass(slots=True)
class PlanModel:
    tasks: list[TaskSpec]
    deps: list[DepSpec]
    resources: list[ResourceSpec] = field(default_factory=list)
    hours_per_week: float = 40.0

    def copy(self) -> PlanModel:
        return PlanModel(
            [replace(t) for t in self.tasks],
            [replace(d) for d in self.deps],
            [replace(r) for r in self.resources],
            self.hours_per_week,
        )


@dataclass(slots=True)
class Arrays:
    index: dict[uuid.UUID, int]
    pred: list[int]
    succ: list[int]
    kind: list[int]
    lag: list[float]


def arrays(model: PlanModel) -> Arrays:
    index = {task.id: i for i, task in enumerate(model.tasks)}
    return Arrays(
        index,
        [index[d.from_id] for d in model.deps],
        [index[d.to_id] for d in model.deps],
        [engine.KIND_CODE[d.kind] for d in model.deps],
        [d.lag for d in model.deps],
    )


def compute(model: PlanModel, *, release: bool = True) -> tuple[engine.Schedule, Arrays]:
    """The critical-path schedule; raises :class:`engine.CycleError` (task indices)."""
    a = arrays(model)
    releases = [t.not_before or 0.0 for t in model.tasks] if release else None
    durations = [t.duration for t in model.tasks]
    return engine.compute(durations, a.pred, a.succ, a.kind, a.lag, release=releases), a


def forecast(
    model: PlanModel, a: Arrays, *, iterations: int, seed: int
) -> tuple[float, float, float]:
    """P50, P80 and P95 of the finish in working hours (seeded Monte Carlo over PERT)."""
    tasks = model.tasks
    if not tasks:
        return 0.0, 0.0, 0.0
    low = [t.optimistic if t.optimistic is not None else t.duration for t in tasks]
    mode = [t.estimate if t.optimistic is not None else t.duration for t in tasks]
    high = [t.pessimistic if t.pessimistic is not None else t.duration for t in tasks]
    mode = [min(max(m, lo), hi) for lo, m, hi in zip(low, mode, high, strict=True)]
    finishes = engine.monte_carlo_finishes(
        low,
        mode,
        high,
        a.pred,
        a.succ,
        a.kind,
        a.lag,
        iterations=iterations,
        seed=seed,
        release=[t.not_before or 0.0 for t in tasks],
    )
    p50, p80, p95 = (engine.percentile(finishes, q) for q in (0.5, 0.8, 0.95))
    return p50, p80, p95


def _units(resource: ResourceSpec | None, hours_per_week: float) -> float:
    """How many tasks at once a resource carries (40 h/week on a 40 h calendar: one)."""
    capacity = resource.capacity_hours_per_week if resource else 40.0
    return capacity / hours_per_week if hours_per_week > 0 else 1.0


def over_allocations(
    intervals: list[tuple[float, float, uuid.UUID]], units: float
) -> list[OverAllocation]:
    """Periods where more tasks run at once than ``units`` allows (a sweep over starts/ends)."""
    events: list[tuple[float, int, uuid.UUID]] = []
    for start, end, task_id in intervals:
        if end - start > engine.EPS:
            events.append((start, 1, task_id))
            events.append((end, -1, task_id))
    events.sort(key=lambda e: (e[0], e[1]))
    running: dict[uuid.UUID, None] = {}
    periods: list[OverAllocation] = []
    for i, (at, step, task_id) in enumerate(events):
        if step > 0:
            running[task_id] = None
        else:
            running.pop(task_id, None)
        nxt = events[i + 1][0] if i + 1 < len(events) else at
        if nxt - at <= engine.EPS or len(running) <= units + engine.EPS:
            continue
        last = periods[-1] if periods else None
        if last is not None and abs(last.end_hours - at) <= engine.EPS:
            last.end_hours = nxt
            last.load = max(last.load, len(running))
            last.task_ids.extend(t for t in running if t not in last.task_ids)
        else:
            periods.append(
                OverAllocation(
                    start_hours=at,
                    end_hours=nxt,
                    load=len(running),
                    capacity=units,
                    task_ids=list(running),
                )
            )
    return periods


def resource_intervals(
    model: PlanModel, starts: list[float]
) -> dict[uuid.UUID, list[tuple[float, float, uuid.UUID]]]:
    by_resource: dict[uuid.UUID, list[tuple[float, float, uuid.UUID]]] = defaultdict(list)
    for task, start in zip(model.tasks, starts, strict=True):
        if task.resource_key is not None:
            by_resource[task.resource_key].append((start, start + task.duration, task.id))
    return by_resource


def level(model: PlanModel, sched: engine.Schedule, a: Arrays) -> tuple[list[float], float]:
    """Resource levelling (serial schedule generation): starts honouring each resource's
    capacity. Ready tasks are placed by latest start (minimum-slack rule), so critical tasks
    keep their dates and non-critical ones move, within their slack where capacity allows.
    """
    n = len(model.tasks)
    if n == 0 or n > MAX_LEVELLED_TASKS:
        return list(sched.es), sched.finish
    durations = [t.duration for t in model.tasks]
    weights = engine.edge_weights(durations, a.pred, a.succ, a.kind, a.lag)
    incoming: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    outgoing: list[list[int]] = [[] for _ in range(n)]
    for u, v, w in zip(a.pred, a.succ, weights, strict=True):
        incoming[v].append((u, w))
        outgoing[u].append(v)
    waiting = [len(incoming[i]) for i in range(n)]
    resources = {r.key: r for r in model.resources}
    units = {
        key: max(1, math.floor(_units(resources.get(key), model.hours_per_week) + engine.EPS))
        for key in {t.resource_key for t in model.tasks if t.resource_key is not None}
    }
    placed: dict[uuid.UUID, _Usage] = defaultdict(_Usage)
    start = [0.0] * n

    def key(i: int) -> tuple[float, float, int, int]:  # latest start first: critical tasks
        task = model.tasks[i]
        return (sched.ls[i], sched.es[i], _PRIORITY_RANK[task.priority], i)

    ready = [key(i) for i in range(n) if not waiting[i]]
    heapq.heapify(ready)
    while ready:
        i = heapq.heappop(ready)[-1]
        task = model.tasks[i]
        earliest = max([task.not_before or 0.0] + [start[u] + w for u, w in incoming[i]])
        resource = task.resource_key
        if resource is not None and durations[i] > engine.EPS:
            usage = placed[resource]
            earliest = usage.first_fit(earliest, durations[i], units[resource])
            usage.add(earliest, earliest + durations[i])
        start[i] = earliest
        for v in outgoing[i]:
            waiting[v] -= 1
            if not waiting[v]:
                heapq.heappush(ready, key(v))
    finish = max((s + d for s, d in zip(start, durations, strict=True)), default=0.0)
    return start, finish


class _Usage:
    """A resource's load over time as a step function: ``use[i]`` tasks run from
    ``times[i]`` to ``times[i + 1]`` (the last step, to the end of time, is always 0)."""

    def __init__(self) -> None:
        self.times = [0.0]
        self.use = [0]

    def _split(self, at: float) -> int:
        i = bisect.bisect_right(self.times, at + engine.EPS) - 1
        if abs(self.times[i] - at) <= engine.EPS:
            return i
        self.times.insert(i + 1, at)
        self.use.insert(i + 1, self.use[i])
        return i + 1

    def add(self, start: float, end: float) -> None:
        first, last = self._split(start), self._split(end)
        for k in range(first, last):
            self.use[k] += 1

    def first_fit(self, earliest: float, length: float, units: int) -> float:
        """The earliest start >= ``earliest`` with fewer than ``units`` tasks running
        throughout ``length`` hours (one forward scan: O(steps))."""
        times, use = self.times, self.use
        at = earliest
        i = bisect.bisect_right(times, at + engine.EPS) - 1
        while True:
            k, end = i, at + length
            while k < len(times) and times[k] < end - engine.EPS and use[k] < units:
                k += 1
            if k == len(times) or times[k] >= end - engine.EPS:
                return at
            at, i = times[k + 1], k + 1  # blocked by step k: try from its end


def shifts(model: PlanModel, sched: engine.Schedule, starts: list[float]) -> list[TaskShift]:
    return [
        TaskShift(
            task_id=task.id,
            from_hours=sched.es[i],
            to_hours=starts[i],
            within_slack=starts[i] - sched.es[i] <= sched.total_slack[i] + engine.EPS,
        )
        for i, task in enumerate(model.tasks)
        if starts[i] > sched.es[i] + engine.EPS
    ]


def _severity(ratio: float, steps: tuple[float, float, float]) -> RiskLevel:
    if ratio >= steps[2]:
        return RiskLevel.CRITICAL
    if ratio >= steps[1]:
        return RiskLevel.HIGH
    if ratio >= steps[0]:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def _raise(level: RiskLevel) -> RiskLevel:
    order = [RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL]
    return order[min(len(order) - 1, order.index(level) + 1)]


def bottlenecks(model: PlanModel, sched: engine.Schedule, a: Arrays) -> list[Bottleneck]:
    """Over-allocated resources, skill gaps, dependency hubs and long chains, worst first."""
    critical = {model.tasks[i].id for i, c in enumerate(sched.critical) if c}
    resources = {r.key: r for r in model.resources}
    found = [
        *_over_allocated(model, sched, critical, resources),
        *_skill_gaps(model, critical, resources),
    ]
    if model.tasks:
        found += _dependency_hubs(model, a, critical)
        found += _long_chain(model, sched)
    rank = {RiskLevel.CRITICAL: 0, RiskLevel.HIGH: 1, RiskLevel.MEDIUM: 2, RiskLevel.LOW: 3}
    found.sort(key=lambda b: (rank[b.severity], -b.metric))
    return found


def _over_allocated(
    model: PlanModel,
    sched: engine.Schedule,
    critical: set[uuid.UUID],
    resources: dict[uuid.UUID, ResourceSpec],
) -> list[Bottleneck]:
    """Resources carrying more tasks at once than their capacity (worse on the critical path)."""
    found = []
    for key, intervals in resource_intervals(model, sched.es).items():
        resource = resources.get(key)
        units = _units(resource, model.hours_per_week)
        periods = over_allocations(intervals, units)
        if not periods:
            continue
        peak = max(p.load for p in periods) / units
        tasks = sorted({t for p in periods for t in p.task_ids}, key=str)
        severity = _severity(peak, (1.0, 2.0, 3.0))
        if critical & set(tasks):
            severity = _raise(severity)
        found.append(
            Bottleneck(
                kind=BottleneckKind.OVER_ALLOCATION,
                severity=severity,
                detail=f"{resource.name if resource else key} carries up to "
                f"{max(p.load for p in periods):g} tasks at once (capacity {units:g}) "
                f"in {len(periods)} period(s)",
                task_ids=tasks,
                agent_id=resource.agent_id if resource else key,
                resource_id=resource.resource_id if resource else None,
                metric=round(peak, 3),
            )
        )
    return found


def _skill_gaps(
    model: PlanModel, critical: set[uuid.UUID], resources: dict[uuid.UUID, ResourceSpec]
) -> list[Bottleneck]:
    """Tasks given to someone lacking a skill others have, then skills nobody has."""
    team = frozenset().union(*(r.skills for r in model.resources))
    missing: dict[str, list[uuid.UUID]] = defaultdict(list)
    found = []
    for task in model.tasks:
        for skill in sorted(task.skills - team):
            missing[skill].append(task.id)
        assignee = resources.get(task.resource_key) if task.resource_key else None
        lacking = sorted((task.skills & team) - (assignee.skills if assignee else frozenset()))
        if task.resource_key is not None and assignee is not None and lacking:
            found.append(
                Bottleneck(
                    kind=BottleneckKind.SKILL_GAP,
                    severity=RiskLevel.HIGH if task.id in critical else RiskLevel.MEDIUM,
                    detail=f"{task.name!r} needs {', '.join(lacking)}, which {assignee.name} "
                    "lacks but others on the team have",
                    task_ids=[task.id],
                    agent_id=assignee.agent_id,
                    resource_id=assignee.resource_id,
                    metric=len(lacking),
                )
            )
    for skill, task_ids in missing.items():
        found.append(
            Bottleneck(
                kind=BottleneckKind.SKILL_GAP,
                severity=RiskLevel.CRITICAL if critical & set(task_ids) else RiskLevel.HIGH,
                detail=f"nobody on the team has the skill {skill!r} ({len(task_ids)} task(s))",
                task_ids=task_ids,
                metric=len(task_ids),
            )
        )
    return found


def _dependency_hubs(model: PlanModel, a: Arrays, critical: set[uuid.UUID]) -> list[Bottleneck]:
    """Tasks that many others wait on (at least 3, and twice the plan's mean)."""
    fan_out = [0] * len(model.tasks)
    for u in a.pred:
        fan_out[u] += 1
    threshold = max(3.0, 2.0 * statistics.fmean(fan_out))
    found = []
    for i, out in enumerate(fan_out):
        if out >= threshold:
            task = model.tasks[i]
            severity = RiskLevel.MEDIUM if out >= 5 else RiskLevel.LOW
            found.append(
                Bottleneck(
                    kind=BottleneckKind.DEPENDENCY_HUB,
                    severity=_raise(severity) if task.id in critical else severity,
                    detail=f"{out} tasks wait on {task.name!r}",
                    task_ids=[task.id],
                    metric=out,
                )
            )
    return found


def _long_chain(model: PlanModel, sched: engine.Schedule) -> list[Bottleneck]:
    """A critical path that strings most of the tasks in a row: little runs in parallel."""
    n = len(model.tasks)
    chain = len(sched.critical_path)
    ratio = chain / n
    if chain < 4 or ratio < 0.5:
        return []
    return [
        Bottleneck(
            kind=BottleneckKind.LONG_CHAIN,
            severity=_severity(ratio, (0.5, 0.75, 0.95)),
            detail=f"the critical path strings {chain} of {n} tasks in a row: "
            "little runs in parallel",
            task_ids=[model.tasks[i].id for i in sched.critical_path],
            metric=round(ratio, 3),
        )
    ]


def fits(resource: ResourceSpec, skills: frozenset[str]) -> bool:
    return skills <= resource.skills


def assign(
    model: PlanModel,
    target: OptimizationTarget,
    *,
    only: set[uuid.UUID] | None = None,
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Agents for the tasks in ``only`` (default: tasks without an agent), by skill fit.

    Candidates are the agents whose skills cover the task's (else those covering the most).
    TIME balances the hours, COST takes the cheapest, BALANCED weighs both. Longest tasks
    are placed first. Returns task id -> agent id (None when the plan has no agents).
    """
    agents = [(r.agent_id, r) for r in model.resources if r.agent_id is not None]
    load: dict[uuid.UUID, float] = defaultdict(float)
    for task in model.tasks:
        if task.agent_id is not None and (only is None or task.id not in only):
            load[task.agent_id] += task.duration
    todo = [t for t in model.tasks if (t.id in only if only is not None else t.agent_id is None)]
    todo.sort(key=lambda t: (-t.duration, str(t.id)))
    chosen: dict[uuid.UUID, uuid.UUID | None] = {}
    top_cost = max((r.cost_per_hour for _, r in agents), default=0.0) or 1.0
    for task in todo:
        if not agents:
            chosen[task.id] = None
            continue
        best_cover = max(len(task.skills & r.skills) for _, r in agents)
        candidates = [(a, r) for a, r in agents if len(task.skills & r.skills) == best_cover]
        total = sum(load.values()) or 1.0

        agent_id, _ = min(
            candidates, key=lambda c: _score(c[1], load[c[0]] / total, top_cost, target)
        )
        chosen[task.id] = agent_id
        load[agent_id] += task.duration
    return chosen


def _score(
    resource: ResourceSpec, hours: float, top_cost: float, target: OptimizationTarget
) -> tuple[float, str]:
    """``hours``: the resource's share of all the hours assigned so far."""
    cost = resource.cost_per_hour / top_cost
    if target == OptimizationTarget.TIME:
        value = hours
    elif target == OptimizationTarget.COST:
        value = cost + hours * 1e-3
    else:
        value = hours + cost
    return value, str(resource.agent_id)
