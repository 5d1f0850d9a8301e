"""The critical-path engine: numpy over task indices, no database, no I/O.

Every dependency type is one longest-path constraint on early starts, ``ES[v] >= ES[u] + w``
(``edge_weights``). Kahn's algorithm, level by level, puts every dependency from a lower
level to a higher one; the forward pass relaxes one level's dependencies at a time with one
vectorised maximum, the backward pass walks the levels back with a minimum, and free slack
is the smallest gap to a successor, capped by the finish. O(tasks + dependencies); where
levels are narrow the passes run as plain loops in the same order (the same floats).
"""

from __future__ import annotations

import array
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from berrys.services.catalogue.contracts import DependencyType

FS, SS, FF, SF = 0, 1, 2, 3
KIND_CODE: dict[DependencyType, int] = {
    DependencyType.FS: FS,
    DependencyType.SS: SS,
    DependencyType.FF: FF,
    DependencyType.SF: SF,
}
# Whether an edge's constraint reads the predecessor's finish, and the successor's duration.
# With ``d`` the durations, an edge ``u -> v`` of kind ``k`` and lag ``l``, ES[v] >= ES[u] + w:
#   FS: w = d[u] + l            (ES[v] >= EF[u] + l)
#   SS: w = l                   (ES[v] >= ES[u] + l)
#   FF: w = d[u] + l - d[v]     (EF[v] >= EF[u] + l)
#   SF: w = l - d[v]            (EF[v] >= ES[u] + l)
_USES_PRED_FINISH = np.array([True, False, True, False])
_SUBTRACTS_SUCC_DURATION = np.array([False, False, True, True])
# A numpy call on a level's dependencies costs about as much as relaxing this many of them
# one at a time in Python: graphs with narrower levels on average take the plain loop.
_LEVEL_CALL_EDGES = 16
EPS = 1e-6  # hours; below this a slack is zero (sums of float durations drift by ~1e-12)

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]


class CycleError(ValueError):
    """The dependencies close a cycle; ``cycle`` holds its task indices in dependency order."""

    def __init__(self, cycle: list[int]) -> None:
        super().__init__(f"dependency cycle through {len(cycle)} task(s): {cycle}")
        self.cycle = cycle


@dataclass(slots=True)
class Schedule:
    """Early and late dates in working hours from the plan's start, per task index."""

    order: list[int]
    es: list[float]
    ef: list[float]
    ls: list[float]
    lf: list[float]
    total_slack: list[float]
    free_slack: list[float]
    critical: list[bool]
    critical_path: list[int]
    finish: float


def pert_mean(optimistic: float, most_likely: float, pessimistic: float) -> float:
    """The PERT expected duration (o + 4m + p) / 6."""
    return (optimistic + 4.0 * most_likely + pessimistic) / 6.0


def _weights(durations: Floats, pred: Ints, succ: Ints, kind: Ints, lag: Floats) -> Floats:
    # Added in the order of the formulas above, so that every weight is the same float
    # whichever path (the schedule, levelling, the benchmark's peer) computes it.
    finish = np.where(_USES_PRED_FINISH[kind], durations[pred], 0.0)
    return lag + finish - np.where(_SUBTRACTS_SUCC_DURATION[kind], durations[succ], 0.0)


def _dependencies(
    durations: Floats,
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
) -> tuple[Ints, Ints, Floats]:
    m = len(pred)
    if not len(succ) == len(kind) == len(lag) == m:
        raise ValueError("pred, succ, kind and lag need one entry per dependency")
    u = np.asarray(pred, dtype=np.intp)
    v = np.asarray(succ, dtype=np.intp)
    k = np.asarray(kind, dtype=np.intp)
    return u, v, _weights(durations, u, v, k, np.asarray(lag, dtype=np.float64))


def edge_weights(
    durations: Sequence[float],
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
) -> list[float]:
    """Each dependency as the minimum distance from its predecessor's to its successor's ES."""
    d = np.asarray(durations, dtype=np.float64)
    weights: list[float] = _dependencies(d, pred, succ, kind, lag)[2].tolist()
    return weights


def find_cycle(n: int, pred: Sequence[int], succ: Sequence[int]) -> list[int] | None:
    """One dependency cycle as task indices in order (a -> b -> ... -> a), or None."""
    out: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in zip(pred, succ, strict=True):
        out[u].append(v)
        indeg[v] += 1
    queue = [i for i in range(n) if not indeg[i]]
    for u in queue:
        for v in out[u]:
            indeg[v] -= 1
            if not indeg[v]:
                queue.append(v)
    if len(queue) == n:
        return None
    return _cycle_among_remaining(indeg, pred, succ)


def _cycle_among_remaining(indeg: list[int], pred: Sequence[int], succ: Sequence[int]) -> list[int]:
    # After Kahn's algorithm every remaining task has a remaining predecessor: walking back
    # through them must revisit a task, and the walk from that task is a cycle.
    back: dict[int, int] = {}
    for u, v in zip(pred, succ, strict=True):
        if indeg[u] and indeg[v] and v not in back:
            back[v] = u
    start = next(iter(back))
    seen: dict[int, int] = {}
    walk: list[int] = []
    node = start
    while node not in seen:
        seen[node] = len(walk)
        walk.append(node)
        node = back[node]
    cycle = walk[seen[node] :]
    cycle.reverse()  # the walk went against the dependencies
    first = cycle.index(min(cycle))
    return cycle[first:] + cycle[:first]


@dataclass(slots=True)
class _Levelled:
    """A topological order, and the dependencies ordered by their predecessor's position in
    it: ``edges`` (indices into the input) and their ``pred`` and ``succ``. Those out of level
    ``i`` are ``[bounds[i]:bounds[i + 1]]``; each task's own are contiguous, in input order."""

    order: list[int]
    edges: Ints
    pred: Ints
    succ: Ints
    bounds: list[int]

    def levels(self) -> list[tuple[int, int]]:
        """The ``(lo, hi)`` ranges of the dependencies out of each level that has some."""
        return [(lo, hi) for lo, hi in itertools.pairwise(self.bounds) if lo < hi]


def _levelled(n: int, pred: Ints, succ: Ints) -> _Levelled:
    m = len(pred)
    # Successor lists (CSR), each in input order. Sorting the unique keys pred * m + position
    # is a stable sort by predecessor several times faster than a stable argsort.
    if n * m < 2**62:
        keys = pred * m + np.arange(m)
        keys.sort()
        by_pred = keys % m
    else:
        by_pred = np.argsort(pred, kind="stable")
    out_degree = np.bincount(pred, minlength=n)
    first = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(out_degree, out=first[1:])
    in_degree = np.bincount(succ, minlength=n)
    sources = np.flatnonzero(in_degree == 0).tolist()
    remaining = in_degree.tolist()
    targets = succ[by_pred]
    order, starts = _kahn(_int_array(first), _int_array(targets), remaining, sources)
    if len(order) < n:
        raise CycleError(_cycle_among_remaining(remaining, pred.tolist(), succ.tolist()))
    # Concatenate the successor ranges of the tasks in topological order: gathers that run
    # along the ranges, which matters once the arrays outgrow the caches.
    tasks = np.asarray(order, dtype=np.intp)
    counts = out_degree[tasks]
    offsets = np.zeros(n + 1, dtype=np.intp)
    np.cumsum(counts, out=offsets[1:])
    at = np.arange(m) + np.repeat(first[tasks] - offsets[:-1], counts)
    bounds = offsets[starts].tolist()
    return _Levelled(order, by_pred[at], np.repeat(tasks, counts), targets[at], bounds)


def _int_array(values: Ints) -> array.array[int]:
    # A copy of the bytes, where a list would build an int object per entry; its reads also
    # stay in cache better on millions of dependencies.
    return array.array("q", values.astype(np.int64, copy=False).tobytes())


def _kahn(
    first: array.array[int], targets: array.array[int], in_degree: list[int], order: list[int]
) -> tuple[list[int], list[int]]:
    # In Python: one decrement per dependency is cheaper than a numpy call per level (a
    # random DAG of n tasks can be n / 12 levels deep). ``in_degree`` is left with what
    # remains, which names the cycle when one blocks the sort.
    push = order.append
    starts = [0]
    start = 0
    while start < len(order):
        end = len(order)
        for u in order[start:end]:
            for v in targets[first[u] : first[u + 1]]:
                k = in_degree[v] - 1
                in_degree[v] = k
                if not k:
                    push(v)
        starts.append(end)
        start = end
    return order, starts


def compute(
    durations: Sequence[float],
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
    *,
    release: Sequence[float] | None = None,
) -> Schedule:
    """The full schedule: forward and backward pass, total and free slack, the critical path.

    ``kind`` holds codes FS=0, SS=1, FF=2, SF=3 (see :data:`KIND_CODE`); ``release`` gives an
    optional earliest start per task (default 0). Raises :class:`CycleError` on a cycle.
    """
    n = len(durations)
    d = np.asarray(durations, dtype=np.float64)
    u, v, weight = _dependencies(d, pred, succ, kind, lag)
    graph = _levelled(n, u, v)
    p, s, w = graph.pred, graph.succ, weight[graph.edges]
    floor = np.zeros(n) if release is None else np.maximum(np.asarray(release, np.float64), 0.0)

    es, ls, finish = _passes(graph, w, d, floor)
    ef = es + d
    bound = finish - d
    np.minimum.at(bound, p, es[s] - w)
    free = bound - es
    total = ls - es
    critical = total <= EPS
    path = _critical_path(p, s, w, es, ls, critical, floor)
    return Schedule(
        order=graph.order,
        es=es.tolist(),
        ef=ef.tolist(),
        ls=ls.tolist(),
        lf=(ls + d).tolist(),
        total_slack=np.where(critical, 0.0, total).tolist(),
        free_slack=np.where(free > EPS, free, 0.0).tolist(),
        critical=critical.tolist(),
        critical_path=path,
        finish=finish,
    )


def _passes(graph: _Levelled, w: Floats, d: Floats, floor: Floats) -> tuple[Floats, Floats, float]:
    """Early starts, late starts and the plan's finish."""
    p, s, levels = graph.pred, graph.succ, graph.levels()
    if len(p) >= _LEVEL_CALL_EDGES * len(levels):
        # A level's tasks have all their predecessors in lower levels: their ES is final
        # before their own dependencies are relaxed, their successors' LS before the way back.
        es = floor.copy()
        for lo, hi in levels:
            np.maximum.at(es, s[lo:hi], es[p[lo:hi]] + w[lo:hi])
        finish = float((es + d).max()) if len(d) else 0.0
        ls = finish - d
        for lo, hi in reversed(levels):
            np.minimum.at(ls, p[lo:hi], ls[s[lo:hi]] - w[lo:hi])
        return es, ls, finish
    # Narrow levels (long chains): one dependency at a time, in the same order.
    pl, sl, wl = p.tolist(), s.tolist(), w.tolist()
    early = floor.tolist()
    for u, v, c in zip(pl, sl, wl, strict=True):
        x = early[u] + c
        if x > early[v]:
            early[v] = x
    es = np.array(early)
    finish = float((es + d).max()) if len(d) else 0.0
    late = (finish - d).tolist()
    for u, v, c in zip(reversed(pl), reversed(sl), reversed(wl), strict=True):
        x = late[v] - c
        if x < late[u]:
            late[u] = x
    return es, np.array(late), finish


def _critical_path(
    p: Ints, s: Ints, w: Floats, es: Floats, ls: Floats, critical: NDArray[np.bool_], floor: Floats
) -> list[int]:
    # A dependency is tight when it pins its successor's late start to its predecessor's:
    # between critical tasks it is a link of the critical path. Every critical task either
    # has a tight critical successor or ends at the plan's finish, and either has a tight
    # critical predecessor or starts at its release. So the path starts at the earliest
    # critical task that nothing drives and follows the first tight dependency (input order)
    # as long as there is one: a zero-duration milestone closing the plan belongs to it.
    linked = np.flatnonzero(critical[p] & critical[s] & (np.abs(ls[s] - w - ls[p]) <= EPS))
    driven = np.zeros(len(es), dtype=bool)
    driven[s[linked]] = True
    starts = np.flatnonzero(critical & ~driven & (es <= floor + EPS)).tolist()
    if not starts:
        return []
    start = starts[0]
    for i in starts[1:]:
        if es[i] < es[start] - EPS:
            start = i
    owners = p[linked]  # ``p`` holds each task's dependencies contiguously, in input order
    first = np.ones(len(linked), dtype=bool)
    first[1:] = owners[1:] != owners[:-1]
    successor = dict(zip(owners[first].tolist(), s[linked[first]].tolist(), strict=True))
    path = [start]
    while path[-1] in successor:
        path.append(successor[path[-1]])
    return path


# Monte Carlo samples per block: a block's matrices (tasks and dependencies by samples)
# stay around 8 MB whatever the plan's size.
_BLOCK_ELEMENTS = 1 << 20


def monte_carlo_finishes(
    optimistic: Sequence[float],
    most_likely: Sequence[float],
    pessimistic: Sequence[float],
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
    *,
    iterations: int,
    seed: int,
    release: Sequence[float] | None = None,
) -> list[float]:
    """Sorted plan finishes over ``iterations`` samples of PERT (beta) task durations.

    A task whose optimistic, most likely and pessimistic estimates are equal is fixed. The
    samples run side by side through the same levelled forward pass as :func:`compute`; the
    same seed gives the same list. Raises :class:`CycleError` on a cycle.
    """
    n = len(most_likely)
    fixed = np.asarray(most_likely, dtype=np.float64)
    low = np.asarray(optimistic, dtype=np.float64)
    high = np.asarray(pessimistic, dtype=np.float64)
    uncertain = np.flatnonzero(high - low > EPS)
    low, mode, high = low[uncertain, None], fixed[uncertain, None], high[uncertain, None]
    span = high - low
    alpha = 1.0 + 4.0 * (mode - low) / span
    beta = 1.0 + 4.0 * (high - mode) / span
    u = np.asarray(pred, dtype=np.intp)
    v = np.asarray(succ, dtype=np.intp)
    graph = _levelled(n, u, v)
    p, s = graph.pred, graph.succ
    k = np.asarray(kind, dtype=np.intp)[graph.edges, None]  # one column: broadcast to samples
    lags = np.asarray(lag, dtype=np.float64)[graph.edges, None]
    floor = np.zeros(n) if release is None else np.maximum(np.asarray(release, np.float64), 0.0)
    levels = graph.levels()
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ELEMENTS // max(1, n + len(p)))
    finishes: list[Floats] = []
    for done in range(0, iterations, block):
        size = min(block, iterations - done)
        d = np.repeat(fixed[:, None], size, axis=1)
        d[uncertain] = low + span * rng.beta(alpha, beta, size=(len(uncertain), size))
        w = _weights(d, p, s, k, lags)
        es = np.repeat(floor[:, None], size, axis=1)
        for lo, hi in levels:
            np.maximum.at(es, s[lo:hi], es[p[lo:hi]] + w[lo:hi])
        finishes.append((es + d).max(axis=0, initial=0.0))
    return np.sort(np.concatenate(finishes)).tolist() if finishes else []


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
