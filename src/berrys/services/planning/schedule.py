"""The critical-path engine: pure Python over task indices, no database, no I/O.

Every dependency type is one longest-path constraint on early starts. With ``d`` the
durations, an edge ``u -> v`` of kind ``k`` and lag ``l`` says ``ES[v] >= ES[u] + w`` where

    FS: w = d[u] + l            (ES[v] >= EF[u] + l)
    SS: w = l                   (ES[v] >= ES[u] + l)
    FF: w = d[u] + l - d[v]     (EF[v] >= EF[u] + l)
    SF: w = l - d[v]            (EF[v] >= ES[u] + l)

so the forward pass is one sweep in topological order (Kahn's algorithm, fused with it), the
backward pass mirrors it (``LS[u] <= LS[v] - w``, every task finishes by the plan's finish), and
free slack is ``min(ES[v] - w) - ES[u]`` over the successors, capped by the finish. Both passes
touch every task and dependency once: O(tasks + dependencies).
"""

from __future__ import annotations

import gc
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from operator import add, sub
from typing import Any

from berrys.core.enums import DependencyType

FS, SS, FF, SF = 0, 1, 2, 3
KIND_CODE: dict[DependencyType, int] = {
    DependencyType.FS: FS,
    DependencyType.SS: SS,
    DependencyType.FF: FF,
    DependencyType.SF: SF,
}
# Whether an edge's constraint reads the predecessor's finish, and the successor's duration.
_USES_PRED_FINISH = (1, 0, 1, 0)
_SUBTRACTS_SUCC_DURATION = (0, 0, 1, 1)
EPS = 1e-6  # hours; below this a slack is zero (sums of float durations drift by ~1e-12)


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


def edge_weights(
    durations: Sequence[float],
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
) -> list[float]:
    """Each dependency as the minimum distance from its predecessor's to its successor's ES."""
    a, b, d = _USES_PRED_FINISH, _SUBTRACTS_SUCC_DURATION, durations
    return [
        lg + (d[u] if a[k] else 0.0) - (d[v] if b[k] else 0.0)
        for u, v, k, lg in zip(pred, succ, kind, lag, strict=True)
    ]


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
    d = list(map(float, durations))
    collecting = gc.isenabled()
    gc.disable()  # the build allocates ~n lists; generational passes over them cost ~30 %
    try:
        order, es, out = _forward(n, d, pred, succ, kind, lag, release)
    finally:
        if collecting:
            gc.enable()
    ef = list(map(add, es, d))
    finish = max(ef, default=0.0)

    # Backward pass in reverse topological order, free slack alongside.
    ls = [0.0] * n
    free = [0.0] * n
    for u in reversed(order):
        latest = bound = finish - d[u]
        it = iter(out[u])
        for v, w in zip(it, it, strict=False):
            c = ls[v] - w
            if c < latest:
                latest = c
            c = es[v] - w
            if c < bound:
                bound = c
        ls[u] = latest
        free[u] = bound - es[u]

    total = list(map(sub, ls, es))
    critical = [t <= EPS for t in total]
    total = [t if t > EPS else 0.0 for t in total]
    free = [t if t > EPS else 0.0 for t in free]
    lf = list(map(add, ls, d))
    path = _critical_path(out, es, ls, ef, critical, finish, release)
    return Schedule(order, es, ef, ls, lf, total, free, critical, path, finish)


def _forward(
    n: int,
    d: list[float],
    pred: Sequence[int],
    succ: Sequence[int],
    kind: Sequence[int],
    lag: Sequence[float],
    release: Sequence[float] | None,
) -> tuple[list[int], list[float], list[list[Any]]]:
    # Successors as flat lists [v, w, v, w, ...]: no tuple per dependency to allocate.
    out: list[list[Any]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v, k, lg in zip(pred, succ, kind, lag, strict=True):
        if k == FS:
            w = lg + d[u]
        elif k == SS:
            w = lg
        elif k == FF:
            w = lg + d[u] - d[v]
        else:
            w = lg - d[v]
        o = out[u]
        o.append(v)
        o.append(w)
    for v in succ:
        indeg[v] += 1
    es = [0.0] * n if release is None else [max(0.0, float(r)) for r in release]

    # Forward pass fused with Kahn's topological sort: a task's ES is final when popped.
    order = [i for i in range(n) if not indeg[i]]
    push = order.append
    for u in order:
        eu = es[u]
        it = iter(out[u])
        for v, w in zip(it, it, strict=False):
            c = eu + w
            if c > es[v]:
                es[v] = c
            k = indeg[v] - 1
            indeg[v] = k
            if not k:
                push(v)
    if len(order) != n:
        raise CycleError(_cycle_among_remaining(indeg, pred, succ))
    return order, es, out


def _critical_path(
    out: list[list[Any]],
    es: list[float],
    ls: list[float],
    ef: list[float],
    critical: list[bool],
    finish: float,
    release: Sequence[float] | None,
) -> list[int]:
    # Start at the earliest critical task that no predecessor drives (ES at its release),
    # then follow tight edges to critical successors until a task ends at the finish: every
    # critical task either ends at the finish or has such a successor.
    start = -1
    for i, is_critical in enumerate(critical):
        floor = 0.0 if release is None else max(0.0, release[i])
        if is_critical and es[i] <= floor + EPS and (start < 0 or es[i] < es[start] - EPS):
            start = i
    if start < 0:
        return []
    path = [start]
    u = start
    while ef[u] < finish - EPS:
        nxt = -1
        it = iter(out[u])
        for v, w in zip(it, it, strict=False):
            if critical[v] and abs(ls[v] - w - ls[u]) <= EPS:
                nxt = v
                break
        if nxt < 0:  # cannot happen for a consistent schedule; stop rather than loop
            break
        path.append(nxt)
        u = nxt
    return path


def monte_carlo_finishes(
    optimistic: Sequence[float],
    most_likely: Sequence[float],
    pessimistic: Sequence[float],
    order: Sequence[int],
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

    A task whose optimistic, most likely and pessimistic estimates are equal is fixed.
    ``order`` is a topological order (``Schedule.order``); the same seed gives the same list.
    """
    n = len(most_likely)
    rng = random.Random(seed)
    a, b = _USES_PRED_FINISH, _SUBTRACTS_SUCC_DURATION
    out: list[list[tuple[int, int, int, float]]] = [[] for _ in range(n)]
    for u, v, k, lg in zip(pred, succ, kind, lag, strict=True):
        out[u].append((v, a[k], b[k], float(lg)))
    shapes: list[tuple[int, float, float, float, float]] = []
    fixed = [float(m) for m in most_likely]
    for i, (o, m, p) in enumerate(zip(optimistic, most_likely, pessimistic, strict=True)):
        if p - o > EPS:
            alpha = 1.0 + 4.0 * (m - o) / (p - o)
            beta = 1.0 + 4.0 * (p - m) / (p - o)
            shapes.append((i, float(o), float(p - o), alpha, beta))
    base = [0.0] * n if release is None else [max(0.0, float(r)) for r in release]
    betavariate = rng.betavariate
    finishes: list[float] = []
    for _ in range(iterations):
        d = fixed[:]
        for i, low, span, alpha, beta in shapes:
            d[i] = low + span * betavariate(alpha, beta)
        es = base[:]
        end = 0.0
        for u in order:
            su = es[u]
            fu = su + d[u]
            if fu > end:
                end = fu
            for v, uses_finish, minus_duration, lg in out[u]:
                c = (fu if uses_finish else su) + lg
                if minus_duration:
                    c -= d[v]
                if c > es[v]:
                    es[v] = c
        finishes.append(end)
    finishes.sort()
    return finishes


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]
