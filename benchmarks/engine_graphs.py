"""The graphs both engine benchmarks run, Berrys' and the LangGraph peer's (stdlib only: the
peer runs in its own virtualenv without Berrys)."""

from __future__ import annotations

import random


def layered_dag(tasks: int, width: int, seed: int = 1) -> list[tuple[int, list[int]]]:
    """(task, predecessors) in layers of ``width``; one or two FS predecessors per task."""
    rng = random.Random(seed)
    graph = []
    for index in range(tasks):
        layer = index // width
        if layer == 0:
            graph.append((index, []))
            continue
        previous = list(range((layer - 1) * width, min(layer * width, tasks)))
        picked = rng.sample(previous, k=min(len(previous), rng.choice((1, 2))))
        graph.append((index, sorted(picked)))
    return graph


def branch_latencies(branches: int, seed: int = 3) -> list[list[float]]:
    """Independent chains of 1-10 tasks, each task's simulated model latency (50-150 ms)."""
    rng = random.Random(seed)
    chains = []
    for _ in range(branches):
        length = rng.randint(1, 10)
        chains.append([rng.uniform(0.05, 0.15) for _ in range(length)])
    return chains
