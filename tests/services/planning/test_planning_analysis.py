"""Resource levelling and loads over random plans (hypothesis)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from berrys.core.enums import DependencyType
from berrys.services.planning import analysis
from berrys.services.planning.analysis import DepSpec, PlanModel, ResourceSpec, TaskSpec

AGENTS = [uuid.UUID(int=i + 1) for i in range(3)]


@st.composite
def plans(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 14))
    tasks = [
        TaskSpec(
            id=uuid.UUID(int=1000 + i),
            name=f"t{i}",
            estimate=draw(st.integers(1, 12)) / 2,
            agent_id=draw(st.sampled_from([*AGENTS, None])),
        )
        for i in range(n)
    ]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=15)) if pairs else []
    deps = [
        DepSpec(
            uuid.uuid4(),
            tasks[i].id,
            tasks[j].id,
            draw(st.sampled_from(list(DependencyType))),
            draw(st.integers(-2, 4)) / 2,
        )
        for i, j in chosen
    ]
    capacity = draw(st.sampled_from([40.0, 80.0]))
    resources = [
        ResourceSpec(key=a, name=str(a), agent_id=a, capacity_hours_per_week=capacity)
        for a in AGENTS
    ]
    return PlanModel(tasks, deps, resources, hours_per_week=40.0)


@settings(max_examples=120, deadline=None)
@given(plans())
def test_levelling_respects_capacity_and_dependencies(model):  # type: ignore[no-untyped-def]
    schedule, arrays = analysis.compute(model)
    starts, finish = analysis.level(model, schedule, arrays)
    assert finish >= schedule.finish - 1e-9
    # Every dependency still holds with the levelled starts.
    index = arrays.index
    for dep in model.deps:
        u, v = index[dep.from_id], index[dep.to_id]
        du, dv = model.tasks[u].duration, model.tasks[v].duration
        su, sv = starts[u], starts[v]
        bound = {
            DependencyType.FS: su + du + dep.lag,
            DependencyType.SS: su + dep.lag,
            DependencyType.FF: su + du + dep.lag - dv,
            DependencyType.SF: su + dep.lag - dv,
        }[dep.kind]
        assert sv >= bound - 1e-6
    # No resource carries more tasks at once than its capacity.
    units = int(model.resources[0].capacity_hours_per_week // model.hours_per_week)
    for intervals in analysis.resource_intervals(model, starts).values():
        assert analysis.over_allocations(intervals, units) == []
    moved = analysis.shifts(model, schedule, starts)
    assert all(s.to_hours > s.from_hours for s in moved)
