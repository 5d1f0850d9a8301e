"""The run engine: throughput on a 1,000-task DAG and makespan against the critical path.

(a) ``--part throughput``: a DAG of N tasks in layers of width W (each task depends FS on one
    or two tasks of the previous layer), executed by one worker on a fresh durable SQLite
    store (WAL, synchronous=NORMAL) with a zero-latency scripted model: every task makes one
    recorded model step (written once, COMPLETED with its result, in the group commit that
    also completes the task), and every state change writes its outbox event. Tasks per
    second and wall/CPU per task; wall and CPU start once the run is committed (the worker is
    started, and warm, before: a deployed worker waits for work), wall ends at the run's
    finished_at, CPU is the process's.
(b) the same DAG in LangGraph (StateGraph fanning out with Send, a fake chat model, its
    SqliteSaver checkpointer), run by ``engine_langgraph_peer.py`` under another Python
    (``--langgraph-python``, a venv with langgraph and langgraph-checkpoint-sqlite).
(c) ``--part makespan``: 50 independent branches of different lengths (1..10 tasks), each
    task a model call of 50-150 ms simulated latency; makespan against the critical-path
    lower bound (the longest branch's summed latency).

    python benchmarks/engine_throughput.py --runs 3 --langgraph-python /tmp/lgvenv/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from engine_graphs import branch_latencies, layered_dag

from berrys.core import migrate
from berrys.core.db import Database, utcnow
from berrys.services.auth import service as auth
from berrys.services.auth.contracts import UserCreate
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunStatus, TaskSpec
from berrys.services.runs.engine.executor import TaskOutcome
from berrys.services.runs.engine.journal import StepPolicy, TaskContext
from berrys.services.runs.engine.worker import EngineConfig, Worker, run_status

HERE = Path(__file__).resolve().parent


class ModelExecutor:
    """One recorded model step per task; ``latency`` seconds per call (0: none)."""

    def __init__(self, latencies: dict[str, float] | None = None) -> None:
        self.latencies = latencies or {}

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        key = ctx.task.key
        delay = self.latencies.get(key, 0.0)

        async def call() -> dict[str, Any]:
            if delay:
                await asyncio.sleep(delay)
            return {"content": f"done {key}", "tokens": 12}

        reply = await ctx.model({"task": key}, call, usage=lambda r: (0.0, r["tokens"]))
        return TaskOutcome(output={"text": reply["content"]}, produced_by="scripted/bench")


async def setup_store(database: Database) -> Any:
    """A migrated store holding the benchmark's admin and a project of theirs."""
    await migrate.upgrade(database)
    async with database.transaction() as session:
        user = await auth.create_user(
            session,
            user_in=UserCreate.model_validate(
                {"email": "bench@example.com", "password": "benchmark pass", "role": "ADMIN"}
            ),
            actor_id=None,
        )
        return await projects.create(session, project_in=ProjectCreate(name="bench"), user=user)


async def _execute(
    database: Database,
    project: Any,
    specs: list[TaskSpec],
    deps: list[DependencySpec],
    executor: Any,
    concurrency: int,
) -> tuple[float, float]:
    config = EngineConfig(
        concurrency=concurrency,
        poll_seconds=0.05,
        heartbeat_seconds=5.0,
        lease_seconds=60.0,
        maintenance_seconds=5.0,
        step_policy=StepPolicy(),
    )
    # A worker waits for work, as a deployed one does: started (and warm) before the run
    # exists, so its start-up is not the run's. The fresh store holds no other run.
    worker = Worker(database, executor, hooks=runs.HOOKS, config=config)
    task = asyncio.create_task(worker.run())
    await worker.ready.wait()
    async with database.transaction() as session:
        run = await runs.create(
            session,
            project_id=project.id,
            tasks=specs,
            dependencies=deps,
            max_concurrency=concurrency,
        )
    # The clock starts once the run is created (committed), as before.
    started, cpu = utcnow(), time.process_time()
    while (await run_status(database, run.id)) not in (  # noqa: ASYNC110 - across processes
        RunStatus.COMPLETED,
        RunStatus.FAILED,
    ):
        # The benchmark's own completion poll: it shares the worker's event loop, and the
        # end time comes from finished_at, so it need not be frequent.
        await asyncio.sleep(0.25)
    cpu = time.process_time() - cpu
    worker.stop()
    await task
    async with database.transaction(read_only=True) as session:
        run_out = await runs.get(session, run_id=run.id)
    assert run_out.status == RunStatus.COMPLETED
    assert run_out.finished_at is not None
    # The end is the run's own finished_at (written by the transaction that completed its
    # last task), so the completion poll's interval does not count.
    return (run_out.finished_at - started).total_seconds(), cpu


async def throughput(tasks: int, width: int) -> dict[str, float]:
    graph = layered_dag(tasks, width)
    specs = [TaskSpec(key=f"t{i}", name=f"t{i}") for i, _ in graph]
    deps = [DependencySpec(from_key=f"t{p}", to_key=f"t{i}") for i, preds in graph for p in preds]
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            project = await setup_store(database)
            wall, cpu = await _execute(database, project, specs, deps, ModelExecutor(), width)
        finally:
            await database.dispose()
    return {
        "tasks": tasks,
        "wall_s": wall,
        "cpu_s": cpu,
        "tasks_per_s": tasks / wall,
        "us_per_task_wall": wall / tasks * 1e6,
        "us_per_task_cpu": cpu / tasks * 1e6,
    }


async def makespan(branches: int) -> dict[str, float]:
    specs, deps, latencies = [], [], {}
    chains = branch_latencies(branches)
    for b, chain in enumerate(chains):
        for t, latency in enumerate(chain):
            key = f"b{b}t{t}"
            latencies[key] = latency
            specs.append(TaskSpec(key=key, name=key))
            if t:
                deps.append(DependencySpec(from_key=f"b{b}t{t - 1}", to_key=key))
    bound = max(sum(chain) for chain in chains)
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite+aiosqlite:///{folder}/bench.db")
        try:
            project = await setup_store(database)
            wall, _ = await _execute(
                database, project, specs, deps, ModelExecutor(latencies), branches
            )
        finally:
            await database.dispose()
    return {
        "tasks": len(specs),
        "bound_s": bound,
        "makespan_s": wall,
        "above_bound_pct": (wall / bound - 1) * 100,
    }


def langgraph(python: str, part: str, tasks: int, width: int, branches: int) -> dict[str, Any]:
    output = subprocess.run(
        [
            python,
            str(HERE / "engine_langgraph_peer.py"),
            "--part",
            part,
            "--tasks",
            str(tasks),
            "--width",
            str(width),
            "--branches",
            str(branches),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
        cwd=HERE.parent,
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("throughput", "makespan", "both"), default="both")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--langgraph-python", default=None, help="A Python with langgraph.")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    parts = ("throughput", "makespan") if args.part == "both" else (args.part,)
    for part in parts:
        mine, peer = [], []
        for _ in range(args.runs):
            if part == "throughput":
                mine.append(asyncio.run(throughput(args.tasks, args.width)))
            else:
                mine.append(asyncio.run(makespan(args.branches)))
            if args.langgraph_python:
                peer.append(
                    langgraph(args.langgraph_python, part, args.tasks, args.width, args.branches)
                )
        key = "tasks_per_s" if part == "throughput" else "above_bound_pct"
        report[part] = {
            "berrys_runs": mine,
            "berrys_median": statistics.median(r[key] for r in mine),
            "langgraph_runs": peer,
            "langgraph_median": statistics.median(r[key] for r in peer) if peer else None,
            "metric": key,
        }
        print(json.dumps({part: report[part]}, indent=1), flush=True)
    print(json.dumps({p: {k: v for k, v in r.items() if "median" in k} for p, r in report.items()}))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    uuid.uuid4()
    main()
