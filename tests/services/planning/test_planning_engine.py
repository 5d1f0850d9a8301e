"""The critical-path engine against hand-computed graphs, one per dependency type with lag,
and hypothesis properties over random DAGs."""

from __future__ import annotations

import graphlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from berrys.services.planning import _schedule
from berrys.services.planning._schedule import (
    EPS,
    FF,
    FS,
    SF,
    SS,
    CycleError,
    compute,
    find_cycle,
    monte_carlo_finishes,
    percentile,
    pert_mean,
)

A, B, C, D = 0, 1, 2, 3


def _two(kind: int, lag: float, da: float = 4.0, db: float = 2.0):  # type: ignore[no-untyped-def]
    return compute([da, db], [A], [B], [kind], [lag])


def test_finish_to_start_with_lag():
    s = _two(FS, 1.0)
    assert (s.es, s.ef) == ([0.0, 5.0], [4.0, 7.0])
    assert (s.ls, s.lf) == ([0.0, 5.0], [4.0, 7.0])
    assert s.finish == 7.0
    assert s.total_slack == [0.0, 0.0]
    assert s.critical_path == [A, B]


def test_start_to_start_with_lag():
    s = _two(SS, 1.0)
    assert (s.es, s.ef) == ([0.0, 1.0], [4.0, 3.0])
    assert s.finish == 4.0
    # B may slip until the plan's finish; A is driven by the finish itself.
    assert (s.ls, s.lf) == ([0.0, 2.0], [4.0, 4.0])
    assert s.total_slack == [0.0, 1.0]
    assert s.free_slack == [0.0, 1.0]
    assert s.critical == [True, False]
    assert s.critical_path == [A]


def test_finish_to_finish_with_lag():
    s = _two(FF, 1.0)
    # EF_B >= EF_A + 1 = 5, so B starts at 3.
    assert (s.es, s.ef) == ([0.0, 3.0], [4.0, 5.0])
    assert s.finish == 5.0
    assert (s.ls, s.lf) == ([0.0, 3.0], [4.0, 5.0])
    assert s.critical_path == [A, B]


def test_start_to_finish_with_lag():
    loose = _two(SF, 1.0)
    # EF_B >= ES_A + 1 = 1 is already met by starting at 0.
    assert (loose.es, loose.ef) == ([0.0, 0.0], [4.0, 2.0])
    assert loose.total_slack == [0.0, 2.0]
    assert loose.critical_path == [A]
    tight = _two(SF, 5.0)
    # EF_B >= 5: B runs 3..5 and drives the finish; A must start by LF_B - 5 = 0.
    assert (tight.es, tight.ef) == ([0.0, 3.0], [4.0, 5.0])
    assert (tight.ls, tight.lf) == ([0.0, 3.0], [4.0, 5.0])
    assert tight.critical_path == [A, B]


def test_negative_lag_is_a_lead_but_never_before_the_plan_start():
    s = _two(FS, -3.0)
    assert s.es == [0.0, 1.0]
    s = _two(SS, -3.0)
    assert s.es == [0.0, 0.0]


def test_diamond_total_and_free_slack():
    # A(2) -> B(3) -> D(2); A -> C(1) -FS+1-> D.
    s = compute([2.0, 3.0, 1.0, 2.0], [A, A, B, C], [B, C, D, D], [FS, FS, FS, FS], [0, 0, 0, 1])
    assert s.es == [0.0, 2.0, 2.0, 5.0]
    assert s.finish == 7.0
    assert s.ls == [0.0, 2.0, 3.0, 5.0]
    assert s.total_slack == [0.0, 0.0, 1.0, 0.0]
    assert s.free_slack == [0.0, 0.0, 1.0, 0.0]
    assert s.critical_path == [A, B, D]


def test_free_slack_is_less_than_total_slack_along_a_chain():
    # A(1) -> C(1) -> D(1); B(5) -> D. A and C can both slip 3, but A alone only
    # without moving C: A's free slack is 0, C's is 3.
    s = compute([1.0, 5.0, 1.0, 1.0], [A, C, B], [C, D, D], [FS, FS, FS], [0, 0, 0])
    assert s.total_slack == [3.0, 0.0, 3.0, 0.0]
    assert s.free_slack == [0.0, 0.0, 3.0, 0.0]


def test_release_times_delay_a_task():
    s = compute([2.0, 2.0], [A], [B], [FS], [0.0], release=[0.0, 5.0])
    assert s.es == [0.0, 5.0]
    assert s.total_slack == [3.0, 0.0]
    assert s.critical_path == [B]


def test_empty_plan():
    s = compute([], [], [], [], [])
    assert (s.finish, s.critical_path) == (0.0, [])


def test_cycle_is_named_in_order():
    with pytest.raises(CycleError) as raised:
        compute([1.0] * 4, [A, B, C, D], [B, C, A, A], [FS] * 4, [0.0] * 4)
    assert raised.value.cycle == [A, B, C]
    assert find_cycle(4, [A, B, C, D], [B, C, A, A]) == [A, B, C]
    assert find_cycle(2, [A, A], [A, B]) == [A]
    assert find_cycle(3, [A, B], [B, C]) is None


def test_pert_and_monte_carlo_are_seeded_and_ordered():
    assert pert_mean(2.0, 4.0, 12.0) == pytest.approx(5.0)
    args = ([2.0, 1.0], [4.0, 2.0], [12.0, 6.0], [A], [B], [FS], [0.0])
    first = monte_carlo_finishes(*args, iterations=300, seed=7)
    assert first == monte_carlo_finishes(*args, iterations=300, seed=7)
    assert first != monte_carlo_finishes(*args, iterations=300, seed=8)
    p50, p80, p95 = (percentile(first, q) for q in (0.5, 0.8, 0.95))
    assert 3.0 <= p50 <= p80 <= p95 <= 18.0
    fixed = monte_carlo_finishes(
        [4.0, 2.0], [4.0, 2.0], [4.0, 2.0], [A], [B], [FS], [1.0], iterations=5, seed=1
    )
    assert fixed == [7.0] * 5


@st.composite
def dags(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(min_value=1, max_value=12))
    label = draw(st.permutations(range(n)))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=20)) if pairs else []
    durations = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    kinds = draw(
        st.lists(st.sampled_from([FS, SS, FF, SF]), min_size=len(chosen), max_size=len(chosen))
    )
    lags = draw(st.lists(st.integers(-4, 8), min_size=len(chosen), max_size=len(chosen)))
    pred = [label[i] for i, _ in chosen]
    succ = [label[j] for _, j in chosen]
    return [d / 2 for d in durations], pred, succ, kinds, [lag / 2 for lag in lags]


@settings(max_examples=150, deadline=None)
@given(dags())
def test_schedule_properties(graph):  # type: ignore[no-untyped-def]
    durations, pred, succ, kinds, lags = graph
    s = compute(durations, pred, succ, kinds, lags)
    n = len(durations)
    for u, v, k, lag in zip(pred, succ, kinds, lags, strict=True):
        for start, end in ((s.es, s.ef), (s.ls, s.lf)):
            if k == FS:
                assert start[v] >= end[u] + lag - EPS
            elif k == SS:
                assert start[v] >= start[u] + lag - EPS
            elif k == FF:
                assert end[v] >= end[u] + lag - EPS
            else:
                assert end[v] >= start[u] + lag - EPS
    assert s.finish == max(s.ef)
    for i in range(n):
        assert s.es[i] >= 0.0
        assert s.total_slack[i] >= 0.0
        assert 0.0 <= s.free_slack[i] <= s.total_slack[i] + EPS
        assert s.lf[i] <= s.finish + EPS
        if s.critical[i]:
            assert s.total_slack[i] == 0.0
    assert any(s.critical)
    path = s.critical_path
    assert path
    assert all(s.critical[i] for i in path)
    assert s.ef[path[-1]] == pytest.approx(s.finish)
    edges = set(zip(pred, succ, strict=True))
    assert all((a, b) in edges for a, b in itertools.pairwise(path))


@settings(max_examples=60, deadline=None)
@given(dags(), st.data())
def test_a_closing_edge_is_reported_as_its_cycle(graph, data):  # type: ignore[no-untyped-def]
    durations, pred, succ, kinds, lags = graph
    if not pred:
        return
    # Close a cycle by adding the reverse of an existing dependency.
    at = data.draw(st.integers(0, len(pred) - 1))
    pred2, succ2 = [*pred, succ[at]], [*succ, pred[at]]
    with pytest.raises(CycleError) as raised:
        compute(durations, pred2, succ2, [*kinds, FS], [*lags, 0.0])
    cycle = raised.value.cycle
    edges = set(zip(pred2, succ2, strict=True))
    assert len(cycle) >= 2
    assert all((a, b) in edges for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True))


def _reference(durations, pred, succ, kinds, lags, release=None):  # type: ignore[no-untyped-def]
    """The schedule by the textbook loops over graphlib's topological order."""
    n = len(durations)
    d = durations
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter({i: () for i in range(n)})
    out: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for u, v, k, lag in zip(pred, succ, kinds, lags, strict=True):
        sorter.add(v, u)
        w = {FS: lag + d[u], SS: lag, FF: lag + d[u] - d[v], SF: lag - d[v]}[k]
        out[u].append((v, w))
    order = list(sorter.static_order())
    es = [max(0.0, r) for r in release] if release else [0.0] * n
    for u in order:
        for v, w in out[u]:
            es[v] = max(es[v], es[u] + w)
    finish = max((es[i] + d[i] for i in range(n)), default=0.0)
    ls = [finish - d[i] for i in range(n)]
    for u in reversed(order):
        for v, w in out[u]:
            ls[u] = min(ls[u], ls[v] - w)
    free = [min([finish - d[u]] + [es[v] - w for v, w in out[u]]) - es[u] for u in range(n)]
    return es, ls, free, finish


def _both_ways(graph, release=None):  # type: ignore[no-untyped-def]
    """The schedule by numpy calls per level and by the plain loop: the same floats."""
    schedules = []
    for edges in (0, 10**9):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_schedule, "_LEVEL_CALL_EDGES", edges)
            schedules.append(compute(*graph, release=release))
    assert schedules[0] == schedules[1]
    return schedules[0]


def _assert_matches_reference(s, graph, release=None):  # type: ignore[no-untyped-def]
    es, ls, free, finish = _reference(*graph, release)
    assert s.finish == pytest.approx(finish, abs=1e-9)
    assert s.es == pytest.approx(es, abs=1e-9)
    assert s.ls == pytest.approx(ls, abs=1e-9)
    assert s.free_slack == pytest.approx([f if f > EPS else 0.0 for f in free], abs=1e-9)
    assert s.critical == [b - a <= EPS for a, b in zip(es, ls, strict=True)]


def test_zero_duration_milestones_sit_on_the_critical_path():
    # Kick-off (0) -> A(3) -> B(2) -> done (0); A -SS-> C(1) -FF-> done.
    s = compute(
        [0.0, 3.0, 2.0, 1.0, 0.0], [0, 1, 2, 1, 3], [1, 2, 4, 3, 4], [FS, FS, FS, SS, FF], [0.0] * 5
    )
    assert s.es == [0.0, 0.0, 3.0, 0.0, 5.0]
    assert s.finish == 5.0
    assert s.critical_path == [0, 1, 2, 4]
    assert s.total_slack == [0.0, 0.0, 0.0, 4.0, 0.0]


def test_the_critical_path_starts_at_the_task_that_drives_the_others():
    # B (index 0) starts with A (index 1) through SS: both are critical and start at 0,
    # but A drives B, so the path is A then B.
    s = compute([4.0, 4.0], [1], [0], [SS], [0.0])
    assert s.critical == [True, True]
    assert s.critical_path == [1, 0]


def test_disconnected_tasks_slip_until_the_plan_finish():
    s = compute([2.0, 5.0, 1.0], [], [], [], [])
    assert s.finish == 5.0
    assert s.total_slack == [3.0, 0.0, 4.0]
    assert s.free_slack == [3.0, 0.0, 4.0]
    assert s.critical_path == [B]


def test_negative_lag_on_a_finish_to_finish_dependency():
    # EF_B >= EF_A - 2 = 2, so B(1) starts at 1; B may slip to the plan's finish.
    s = _two(FF, -2.0, da=4.0, db=1.0)
    assert (s.es, s.ls) == ([0.0, 1.0], [0.0, 3.0])
    assert s.total_slack == [0.0, 2.0]


def test_cycles_name_only_their_own_tasks():
    # 0 -> 1 -> 2 -> 3 -> 1, and 3 -> 4: task 4 is blocked too but not on the cycle.
    with pytest.raises(CycleError) as raised:
        compute([1.0] * 5, [0, 1, 2, 3, 3], [1, 2, 3, 1, 4], [FS] * 5, [0.0] * 5)
    assert raised.value.cycle == [1, 2, 3]
    with pytest.raises(CycleError) as raised:
        compute([1.0, 1.0], [A, B], [B, B], [FS, SS], [0.0, 0.0])
    assert raised.value.cycle == [B]


def test_mismatched_dependency_lists_are_refused():
    with pytest.raises(ValueError, match="one entry per dependency"):
        compute([1.0, 1.0], [A], [B], [FS, FS], [0.0])


@st.composite
def multigraphs(draw):  # type: ignore[no-untyped-def]
    """DAGs with repeated dependencies between the same two tasks, and release times."""
    n = draw(st.integers(min_value=1, max_value=10))
    label = draw(st.permutations(range(n)))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=25)) if pairs else []
    durations = [x / 2 for x in draw(st.lists(st.integers(0, 20), min_size=n, max_size=n))]
    kinds = draw(
        st.lists(st.sampled_from([FS, SS, FF, SF]), min_size=len(chosen), max_size=len(chosen))
    )
    lags = draw(st.lists(st.integers(-6, 6), min_size=len(chosen), max_size=len(chosen)))
    release = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.0, 3.0, 10.0]), min_size=n, max_size=n))
    graph = (
        durations,
        [label[i] for i, _ in chosen],
        [label[j] for _, j in chosen],
        kinds,
        [x / 2 for x in lags],
    )
    return graph, release


@settings(max_examples=150, deadline=None)
@given(multigraphs())
def test_schedule_matches_the_textbook_loops(case):  # type: ignore[no-untyped-def]
    graph, release = case
    _assert_matches_reference(_both_ways(graph), graph)
    _assert_matches_reference(_both_ways(graph, release), graph, release)


def test_a_large_random_dag_matches_the_textbook_loops():
    # Hundreds of levels, many tasks and shared successors per level.
    rng = random.Random(5)
    n = 3000
    edges = {(rng.randrange(j), j) for j in range(1, n) for _ in range(3)}
    label = list(range(n))
    rng.shuffle(label)
    graph = (
        [rng.choice((0.0, rng.uniform(0.5, 40.0))) for _ in range(n)],
        [label[i] for i, _ in edges],
        [label[j] for _, j in edges],
        [rng.randrange(4) for _ in edges],
        [rng.choice((0.0, 2.0, -1.0)) for _ in edges],
    )
    release = [rng.choice((0.0, 0.0, 50.0)) for _ in range(n)]
    _assert_matches_reference(_both_ways(graph, release), graph, release)


def test_monte_carlo_stays_within_the_optimistic_and_pessimistic_schedules(monkeypatch):  # type: ignore[no-untyped-def]
    # With finish-to-start dependencies and no leads, longer tasks never finish earlier.
    monkeypatch.setattr(_schedule, "_BLOCK_ELEMENTS", 64)  # several blocks of samples
    rng = random.Random(3)
    n = 40
    edges = sorted({(rng.randrange(j), j) for j in range(1, n) for _ in range(2)})
    pred, succ = [i for i, _ in edges], [j for _, j in edges]
    low = [rng.uniform(1.0, 5.0) for _ in range(n)]
    mode = [x * 2 for x in low]
    high = [x * 5 if i % 4 else x for i, x in enumerate(low)]
    mode = [m if i % 4 else low[i] for i, m in enumerate(mode)]
    deps = (pred, succ, [FS] * len(edges), [1.0] * len(edges))
    finishes = monte_carlo_finishes(low, mode, high, *deps, iterations=100, seed=11)
    assert len(finishes) == 100
    assert finishes == sorted(finishes)
    assert compute(low, *deps).finish - EPS <= finishes[0]
    assert finishes[-1] <= compute(high, *deps).finish + EPS
    assert finishes == monte_carlo_finishes(low, mode, high, *deps, iterations=100, seed=11)
