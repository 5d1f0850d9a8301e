"""A finished run read as SSE events and as AG-UI events, in process over ASGI.

A fresh SQLite store; a run of ``--tasks`` tasks in layers of ``--width`` (as
``engine_throughput.py``), each task one recorded tool step and one model step, executed by a
worker. Then, ``--reads`` times each: ``GET /runs/{id}/events`` (the outbox as it is), ``GET
/runs/{id}/agui`` (the same outbox through the AG-UI view, with each attempt's tool calls
from the journal and each output from its task run), and ``GET /runs/{id}/agui`` with a
``Last-Event-ID`` 90 % of the way in (a reconnection: the view reads the outbox from the
start again and sends the rest). Medians of wall time per read, and per outbox event.

    python benchmarks/agui_stream.py --tasks 500 --width 20 --reads 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from engine_graphs import layered_dag
from engine_throughput import setup_store

from berrys.app import create_app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunStatus, TaskSpec
from berrys.services.runs.engine.executor import TaskOutcome
from berrys.services.runs.engine.journal import TaskContext
from berrys.services.runs.engine.worker import EngineConfig, Worker, run_status


class ToolThenModel:
    """One recorded tool step, then one model step, per task."""

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        key = ctx.task.key

        async def look_up() -> dict[str, Any]:
            return {"found": f"notes for {key}"}

        async def answer() -> dict[str, Any]:
            return {"content": f"done {key}", "tokens": 12}

        await ctx.tool("notes.read", {"task": key}, look_up, idempotent=True)
        reply = await ctx.model({"task": key}, answer, usage=lambda r: (0.0, r["tokens"]))
        return TaskOutcome(output={"text": reply["content"]}, produced_by="scripted/bench")


async def finished_run(database: Database, project: Any, tasks: int, width: int) -> Any:
    graph = layered_dag(tasks, width)
    specs = [TaskSpec(key=f"t{i}", name=f"Task {i}") for i, _ in graph]
    deps = [DependencySpec(from_key=f"t{p}", to_key=f"t{i}") for i, preds in graph for p in preds]
    worker = Worker(
        database, ToolThenModel(), hooks=runs.HOOKS, config=EngineConfig(concurrency=16)
    )
    working = asyncio.create_task(worker.run())
    async with database.transaction() as session:
        run = await runs.create(session, project_id=project.id, tasks=specs, dependencies=deps)
    while (await run_status(database, run.id)) != RunStatus.COMPLETED:  # noqa: ASYNC110
        await asyncio.sleep(0.25)  # the benchmark's own completion poll
    worker.stop()
    await working
    return run


async def timed_reads(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], reads: int
) -> tuple[float, int]:
    """The median wall time of ``reads`` reads of ``url`` (ms), and the messages one sends."""
    times, messages = [], 0
    for _ in range(reads):
        started = time.perf_counter()
        response = await http.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
        messages = response.text.count("\ndata: ") + response.text.startswith("data: ")
    return statistics.median(times), messages


async def main(tasks: int, width: int, reads: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            data_dir=Path(folder),
            worker_embedded=False,
            local_model_enabled=False,
            log_level="WARNING",
            _env_file=None,
        )
        database = Database(settings.resolved_database_url)
        project = await setup_store(database)
        run = await finished_run(database, project, tasks, width)
        app = create_app(settings, database=database)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = {"email": "bench@example.com", "password": "benchmark pass"}
            token = (await http.post("/api/v1/auth/login", json=login)).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with database.transaction(read_only=True) as session:
                outbox = len(await runs.events(session, run_id=run.id, limit=1_000_000))
            sse, sse_sent = await timed_reads(http, f"/api/v1/runs/{run.id}/events", auth, reads)
            agui, agui_sent = await timed_reads(http, f"/api/v1/runs/{run.id}/agui", auth, reads)
            tail_after = {**auth, "Last-Event-ID": str(int(outbox * 0.9))}
            tail, tail_sent = await timed_reads(
                http, f"/api/v1/runs/{run.id}/agui", tail_after, reads
            )
        await database.dispose()
    print(f"{tasks} tasks, {outbox} outbox events; medians of {reads} reads")
    print("| read | messages | wall ms | ms per outbox event |")
    print("|---|---:|---:|---:|")
    for name, wall, sent in (
        ("GET /events", sse, sse_sent),
        ("GET /agui", agui, agui_sent),
        ("GET /agui, Last-Event-ID at 90 %", tail, tail_sent),
    ):
        print(f"| {name} | {sent} | {wall:.0f} | {wall / outbox:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--reads", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.tasks, options.width, options.reads))
