"""Benchmark: the full critical-path schedule of a large random DAG, beside networkx.

Run from the repository root (networkx only for this benchmark, never a dependency):

    pip install networkx
    python benchmarks/planning_schedule.py            # 10k, 100k, 1M tasks; 3 deps per task
    python benchmarks/planning_schedule.py --sizes 100000 --repeat 7

The timed part is ``berrys.services.planning._schedule.compute``: graph build, the forward
and backward pass over all four dependency types with lag, total and free slack and the
critical path. Beside it, in the same run and on the same graph (weighted with the same
start-to-start distances), networkx builds a DiGraph and runs ``dag_longest_path``, which
only finds one longest path. Medians of ``--repeat`` runs, wall clock and CPU time (CPU time
is steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from berrys.services.planning._schedule import compute, edge_weights


def random_dag(tasks: int, deps_per_task: int, seed: int) -> tuple[list[Any], ...]:
    """Distinct edges i -> j with i < j before relabelling (acyclic), mostly local."""
    rng = random.Random(seed)
    durations = [rng.uniform(1.0, 40.0) for _ in range(tasks)]
    edges: set[tuple[int, int]] = set()
    target = tasks * deps_per_task
    while len(edges) < target:
        j = rng.randrange(1, tasks)
        i = j - 1 - int(rng.expovariate(1 / 50)) if rng.random() < 0.9 else rng.randrange(j)
        if i >= 0:
            edges.add((i, j))
    # Relabel the tasks at random so that ids are not a topological order, and shuffle the
    # dependencies: the engine gets no help from the input's order.
    label = list(range(tasks))
    rng.shuffle(label)
    durations = [durations[old] for old in sorted(range(tasks), key=label.__getitem__)]
    ordered = sorted(edges)
    rng.shuffle(ordered)
    pred = [label[e[0]] for e in ordered]
    succ = [label[e[1]] for e in ordered]
    kind = [rng.randrange(4) for _ in ordered]
    lag = [rng.choice((0.0, 0.0, 2.0, 8.0)) for _ in ordered]
    return durations, pred, succ, kind, lag


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        result = None
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--deps-per-task", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-networkx", action="store_true")
    args = parser.parse_args()
    try:
        import networkx as nx
    except ImportError:
        nx = None
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, networkx "
        f"{nx.__version__ if nx else '-'}, {os.cpu_count()} cpus, load average {load}"
    )
    print(
        f"{'tasks':>9} {'deps':>9} | {'berrys wall':>11} {'cpu':>6} {'us/(n+m)':>8} | "
        f"{'nx build':>8} {'nx longest_path':>15} {'cpu':>6}"
    )
    for size in args.sizes:
        repeat = args.repeat if size <= 100_000 else max(1, args.repeat // 2)
        print(_run(size, args.deps_per_task, repeat, None if args.no_networkx else nx), flush=True)
        gc.collect()


def _run(size: int, deps_per_task: int, repeat: int, nx: Any) -> str:
    durations, pred, succ, kind, lag = random_dag(size, deps_per_task, seed=size)
    wall, cpu, schedule = _time(partial(compute, durations, pred, succ, kind, lag), repeat)
    line = (
        f"{size:>9} {len(pred):>9} | {wall:>11.3f} {cpu:>6.3f} "
        f"{cpu / (size + len(pred)) * 1e6:>8.3f} | "
    )
    if nx is not None:
        weights = edge_weights(durations, pred, succ, kind, lag)

        def build() -> Any:
            graph = nx.DiGraph()
            graph.add_nodes_from(range(size))
            graph.add_weighted_edges_from(zip(pred, succ, weights, strict=True))
            return graph

        build_wall, _, graph = _time(build, 1)
        nx_wall, nx_cpu, _ = _time(partial(nx.dag_longest_path, graph), repeat)
        line += f"{build_wall:>8.3f} {nx_wall:>15.3f} {nx_cpu:>6.3f}"
    return line + f"   finish {schedule.finish:.0f} h"


if __name__ == "__main__":
    main()
