"""Scale-out: tasks per second on a 2,000-task DAG against `berrys worker` processes, beside DBOS.

The DAG (layers of ``--width``, each task FS-depending on one or two of the layer before) runs
on PostgreSQL, each task one model call of ``--latency`` s (the scripted model's latency setting),
executed by 1, 2, 4, 8 worker processes of ``--concurrency`` tasks each, started, idle and
warmed (an untimed run of one task per slot) before the run is created; the clock runs from
the run's commit to its ``finished_at``. DBOS runs the same DAG (``scale_out_dbos.py``: its
queue polled every ``--dbos-poll-seconds``) on its own database of the same server with as
many processes, warmed alike. Prints each run, the medians, cores and load; also the makespan
against the critical path (its length times the latency), and where a Berrys task's time went.

    python benchmarks/scale_out.py --runs 3 --workers 1 2 4 8 --concurrency 4 \
        --database-url postgresql+asyncpg://berrys:berrys@127.0.0.1:5432/bench \
        --dbos-database-url postgresql://berrys:berrys@127.0.0.1:5432/bench_dbos
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine_graphs import layered_dag
from engine_throughput import setup_store
from harness import cpu_seconds, processes, server_env, wait_until_idle
from sqlalchemy import make_url, text

from berrys.core.db import Database, utcnow
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunStatus, TaskSpec
from berrys.services.runs.engine.worker import run_status

HERE = Path(__file__).resolve().parent
MODEL = "scale-out-model"
Graph = list[tuple[int, list[int]]]


async def berrys_worker(concurrency: int, tasks: int) -> None:
    """What `berrys worker` runs (``run_worker``), with Services of its own on which the
    benchmark's scripted model is installed (its latency: ``BERRYS_LLM_SCRIPTED_LATENCY_MS``)."""
    from berrys.cli.common import load_settings, setup_logging
    from berrys.cli.worker import run_worker
    from berrys.services.catalogue import service as catalogue
    from berrys.services.llm import service as llm
    from berrys.wiring import Services

    settings = load_settings()
    settings.worker_concurrency = concurrency
    setup_logging(settings, server=True)
    services = Services.build(settings)
    answer = {"content": "done", "usage": {"prompt_tokens": 40, "completion_tokens": 12}}
    # A task calls the model once, and again when a call of it was discarded (a continuation
    # whose claim went to another task) or retried: twice as many answers as tasks is plenty.
    llm.script(services.models, MODEL, [answer] * (2 * tasks))
    # Warm, as a worker is after its first task: the executor reads the catalogue on each
    # task, and the first read loads it (seconds, in the event loop), cached after that.
    catalogue.current(settings)
    try:
        await run_worker(services)
    finally:
        await services.aclose()


def critical_path(graph: Graph) -> int:
    """The number of tasks on the DAG's longest chain (``graph`` lists tasks in order)."""
    depth: dict[int, int] = {}
    for task, predecessors in graph:
        depth[task] = 1 + max((depth[p] for p in predecessors), default=0)
    return max(depth.values())


def postgres_pid(url: str) -> int | None:
    """The postmaster's pid (its CPU and its backends'), when this user may read it."""
    result = subprocess.run(
        ["psql", url.replace("+asyncpg", ""), "-Atc", "SHOW data_directory"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int((Path(result.stdout.strip()) / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def started_workers(
    commands: list[list[str]], env: dict[str, str], ready: str
) -> Iterator[list[int]]:
    """Start each command (the first alone: it may create a schema), wait until each has
    printed ``ready`` and is idle; SIGTERM them all on exit."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    with tempfile.TemporaryDirectory() as logs:
        try:
            for index, command in enumerate(commands):
                log = Path(logs) / f"{index}.log"
                out = log.open("wb")
                process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
                started.append((process, log))
                if index == 0:
                    _wait_ready(started, ready)
            _wait_ready(started, ready)
            for process, _ in started:
                wait_until_idle(process.pid)
            yield [process.pid for process, _ in started]
        finally:
            for process, _ in started:
                process.send_signal(signal.SIGTERM)
            for process, _ in started:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_ready(started: list[tuple[subprocess.Popen[bytes], Path]], ready: str) -> None:
    deadline = time.monotonic() + 180
    for process, log in started:
        while ready not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise SystemExit(f"worker exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"worker not ready after 180 s:\n{log.read_text()}")
            time.sleep(0.1)  # the log is a file: polled while the worker starts


async def _reset_schema(url: str, schema: str) -> None:
    database = Database(url)
    try:
        async with database.transaction() as session:
            await session.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            if schema == "public":
                await session.execute(text("CREATE SCHEMA public"))
    finally:
        await database.dispose()


async def _fresh_store(url: str) -> Any:
    """A fresh Berrys store with the runs' owner and their project."""
    await _reset_schema(url, "public")
    database = Database(url)
    try:
        return await setup_store(database)
    finally:
        await database.dispose()


def _specs(graph: Graph, slots: int) -> tuple[list[TaskSpec], list[DependencySpec], int]:
    specs = [TaskSpec(key=f"t{i}", name=f"Task {i}") for i, _ in graph]
    deps = [DependencySpec(from_key=f"t{p}", to_key=f"t{i}") for i, preds in graph for p in preds]
    return specs, deps, slots


async def _execute_run(url: str, project: Any, specs: Any, deadline: float) -> tuple[float, int]:
    """Create the run; seconds from its commit to its ``finished_at``, and the tasks done; at
    ``deadline`` seconds, the tasks done by then."""
    tasks, deps, slots = specs
    database = Database(url)
    try:
        async with database.transaction() as session:
            run = await runs.create(
                session,
                project_id=project.id,
                tasks=tasks,
                dependencies=deps,
                actor_id=project.owner_id,
                max_concurrency=min(256, slots),
            )
        started = utcnow()
        while await run_status(database, run.id) not in (RunStatus.COMPLETED, RunStatus.FAILED):
            if (utcnow() - started).total_seconds() > deadline:
                async with database.transaction(read_only=True) as session:
                    progress = await runs.get(session, run_id=run.id)
                completed = [t for t in progress.task_runs if t.status == "COMPLETED"]
                return deadline, len(completed)
            # The end is the run's own finished_at: this poll's interval does not count.
            await asyncio.sleep(0.25)
        async with database.transaction(read_only=True) as session:
            done = await runs.get(session, run_id=run.id)
            print(json.dumps(await _where_time_went(session, run.id)), flush=True)
    finally:
        await database.dispose()
    if done.status != RunStatus.COMPLETED or done.finished_at is None:
        raise SystemExit(f"run {run.id} ended {done.status}")
    return (done.finished_at - started).total_seconds(), len(tasks)


async def _where_time_went(session: Any, run_id: Any) -> dict[str, Any]:
    """From the run's own records: how long a task waited READY before it started, how long
    it ran (the model's latency and the worker's work), and how many tasks each worker ran."""
    spans = text(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.created_at"
        " - r.created_at)), percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM"
        " t.finished_at - t.started_at)) FROM task_run t"
        " JOIN event r ON r.task_run_id = t.id AND r.type = 'TASK_READY'"
        " JOIN event s ON s.task_run_id = t.id AND s.type = 'TASK_STARTED'"
        " WHERE t.run_id = :run"
    )
    per_worker = text(
        "SELECT count(*) FROM event WHERE run_id = :run AND type = 'TASK_STARTED'"
        " GROUP BY payload->>'worker' ORDER BY 1 DESC"
    )
    waited, ran = (await session.execute(spans, {"run": run_id})).one()
    counts = (await session.execute(per_worker, {"run": run_id})).scalars().all()
    return {"ready_wait_ms_p50": waited * 1e3, "running_ms_p50": ran * 1e3, "per_worker": counts}


def _backends_cpu(postgres: int | None, database: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving ``database`` (not the other databases
    of the same server)."""
    if postgres is None:
        return {}
    found = {}
    for pid in processes(postgres)[1:]:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in command:
            found[pid] = cpu_seconds(pid)
    return found


def _timed(pids: list[int], postgres: int | None, url: str, execute: Any) -> dict[str, Any]:
    """``execute()``'s seconds and tasks done, with the workers' CPU and their database's
    backends' over it (a backend that ends meanwhile drops out; the workers' connections
    stay)."""
    load = os.getloadavg()[0]
    workers_cpu = sum(cpu_seconds(pid) for pid in pids)
    database = make_url(url).database or ""
    backends = _backends_cpu(postgres, database)
    wall, done = execute()
    workers_cpu = sum(cpu_seconds(pid) for pid in pids) - workers_cpu
    after = _backends_cpu(postgres, database)
    database_cpu = sum(cpu - backends.get(pid, 0.0) for pid, cpu in after.items())
    return {
        "load": load,
        "wall_s": wall,
        "done": done,
        "tasks_per_s": done / wall,
        "workers_cpu_ms_per_task": workers_cpu / max(done, 1) * 1e3,
        "postgres_cpu_ms_per_task": database_cpu / max(done, 1) * 1e3,
    }


def measure_berrys(args: argparse.Namespace, graph: Graph, workers: int) -> dict[str, Any]:
    slots = workers * args.concurrency
    url = args.database_url
    project = asyncio.run(_fresh_store(url))
    with tempfile.TemporaryDirectory() as data_dir:
        env = server_env(
            data_dir,
            BERRYS_DATABASE_URL=url,
            # The provider allows what all the workers run, whether it counts per process
            # or across them: the workers' concurrency is what is measured.
            BERRYS_LLM_PROVIDER_CONCURRENCY=str(slots),
            BERRYS_LLM_SCRIPTED_LATENCY_MS=json.dumps([args.latency * 1e3] * 2),
        )
        command = [sys.executable, str(HERE / "scale_out.py"), "--role", "berrys-worker"]
        command += ["--concurrency", str(args.concurrency), "--tasks", str(args.tasks)]
        with started_workers([command] * workers, env, "is running") as pids:
            # Warm, as deployed workers are: a run of one task per slot first, untimed.
            warm = _specs(independent(slots), slots)
            asyncio.run(_execute_run(url, project, warm, args.deadline))
            specs = _specs(graph, slots)
            return _timed(
                pids,
                args.postgres_pid,
                url,
                lambda: asyncio.run(_execute_run(url, project, specs, args.deadline)),
            )


def independent(tasks: int) -> Graph:
    return [(task, []) for task in range(tasks)]


def measure_dbos(args: argparse.Namespace, graph: Graph, workers: int) -> dict[str, Any]:
    import scale_out_dbos

    url = args.dbos_database_url
    asyncio.run(_reset_schema(url.replace("postgresql://", "postgresql+asyncpg://"), "dbos"))
    poll = str(args.dbos_poll_seconds)
    options = ["--concurrency", str(args.concurrency), "--poll-seconds", poll]
    commands = [
        [sys.executable, str(HERE / "scale_out_dbos.py"), "--url", url, "--index", str(i), *options]
        for i in range(workers)
    ]
    with started_workers(commands, dict(os.environ), "ready") as pids:
        # Warm, as deployed workers are: a run of one task per slot first, untimed.
        slots = workers * args.concurrency
        scale_out_dbos.measure(url, independent(slots), args.latency, args.deadline)
        return _timed(
            pids,
            args.postgres_pid,
            url,
            lambda: scale_out_dbos.measure(url, graph, args.latency, args.deadline),
        )


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=("measure", "berrys-worker"), default="measure")
    parser.add_argument("--database-url", default=os.environ.get("BERRYS_BENCH_DATABASE_URL"))
    parser.add_argument("--dbos-database-url", default=os.environ.get("BERRYS_BENCH_DBOS_URL"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--width", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05)
    # 4: a process's calls to one provider at once by default (BERRYS_LLM_PROVIDER_CONCURRENCY).
    parser.add_argument("--concurrency", type=int, default=4, help="Tasks per process.")
    parser.add_argument("--dbos-poll-seconds", type=float, default=0.05)
    parser.add_argument(
        "--deadline",
        type=float,
        default=600,
        help="Seconds after which a run counts as "
        "unfinished: its tasks done by then give its tasks per second.",
    )
    parser.add_argument(
        "--engines", nargs="+", choices=("berrys", "dbos"), default=["berrys", "dbos"]
    )
    return parser.parse_args()


def _medians(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [key for key in results[0] if key != "load"]
    return {key: statistics.median(r[key] for r in results) for key in keys}


def main() -> None:
    args = _parse()
    if args.role == "berrys-worker":
        asyncio.run(berrys_worker(args.concurrency, args.tasks))
        return
    if ("berrys" in args.engines and not args.database_url) or (
        "dbos" in args.engines and not args.dbos_database_url
    ):
        raise SystemExit("--database-url for Berrys, --dbos-database-url for DBOS")
    args.postgres_pid = postgres_pid(args.database_url or args.dbos_database_url)
    graph = layered_dag(args.tasks, args.width)
    bound = critical_path(graph) * args.latency
    print(json.dumps({"cores": os.cpu_count(), "load": os.getloadavg(), "bound_s": bound}))
    measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
    engines = {"berrys": measure_berrys, "dbos": measure_dbos}
    for run in range(args.runs):
        for workers in args.workers:
            for name in args.engines:
                result = engines[name](args, graph, workers)
                result["bound_s"] = bound
                measured.setdefault((name, workers), []).append(result)
                print(json.dumps({"run": run, "engine": name, "workers": workers} | result))
    _table(measured, len(graph))


def _table(measured: dict[tuple[str, int], list[dict[str, Any]]], tasks: int) -> None:
    """The medians as a Markdown table; a run that did not finish is marked with its tasks."""
    print("| engine | workers | tasks/s (runs) | makespan s | x bound | worker CPU ms/task |")
    print("|---|---:|---:|---:|---:|---:|")
    for (name, workers), results in measured.items():
        m = _medians(results)
        each = ", ".join(
            f"{r['tasks_per_s']:.0f}" + ("" if r["done"] == tasks else f" ({r['done']} done)")
            for r in results
        )
        print(
            f"| {name} | {workers} | **{m['tasks_per_s']:.0f}** ({each}) | {m['wall_s']:.1f} | "
            f"{m['wall_s'] / m['bound_s']:.1f} | {m['workers_cpu_ms_per_task']:.1f} "
            f"(PostgreSQL {m['postgres_cpu_ms_per_task']:.1f}) |"
        )
    loads = [f"{r['load']:.1f}" for results in measured.values() for r in results]
    print(f"1-minute load average at the starts: {', '.join(loads)}")


if __name__ == "__main__":
    main()
