"""Resource levelling and loads over random plans (hypothesis)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from berrys.services.catalogue.contracts import DependencyType
from berrys.services.planning import _analysis
from berrys.services.planning._analysis import DepSpec, PlanModel, ResourceSpec, TaskSpec

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
    schedule, arrays = _analysis.compute(model)
    starts, finish = _analysis.level(model, schedule, arrays)
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
    for intervals in _analysis.resource_intervals(model, starts).values():
        assert _analysis.over_allocations(intervals, units) == []
    moved = _analysis.shifts(model, schedule, starts)
    assert all(s.to_hours > s.from_hours for s in moved)


def test_bottlenecks_name_each_kind_worst_first() -> None:
    """A chain t0..t4 on the critical path that t5 and t6 also wait on (a hub), run by A,
    who lacks the rust B has; nobody has go; B runs t5 and t6 at once."""
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    ids = [uuid.UUID(int=100 + i) for i in range(7)]
    skills = {1: {"rust"}, 2: {"go"}}
    tasks = [
        TaskSpec(
            id=ids[i],
            name=f"t{i}",
            estimate=4.0 if i < 5 else 1.0,
            skills=frozenset(skills.get(i, {"python"})),
            agent_id=a if i < 5 else b,
        )
        for i in range(7)
    ]
    edges = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (0, 6)]
    deps = [DepSpec(uuid.uuid4(), ids[u], ids[v], DependencyType.FS) for u, v in edges]
    resources = [
        ResourceSpec(key=a, name="A", agent_id=a, skills=frozenset({"python"})),
        ResourceSpec(key=b, name="B", agent_id=b, skills=frozenset({"python", "rust"})),
    ]
    model = PlanModel(tasks, deps, resources)
    schedule, arrays = _analysis.compute(model)

    found = _analysis.bottlenecks(model, schedule, arrays)

    names = {task.id: task.name for task in tasks}
    assert [(f.kind, f.severity, [names[t] for t in f.task_ids]) for f in found] == [
        ("SKILL_GAP", "CRITICAL", ["t2"]),  # nobody has go, on the critical path
        ("OVER_ALLOCATION", "HIGH", ["t5", "t6"]),
        ("SKILL_GAP", "HIGH", ["t1"]),  # A lacks the rust B has
        ("DEPENDENCY_HUB", "MEDIUM", ["t0"]),
        ("LONG_CHAIN", "MEDIUM", ["t0", "t1", "t2", "t3", "t4"]),
    ]
    assert found[1].agent_id == b
    assert found[4].metric == round(5 / 7, 3)
