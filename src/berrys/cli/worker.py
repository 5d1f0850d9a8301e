"""``berrys worker``: a worker process for scale-out (PostgreSQL, any number of them)."""

from __future__ import annotations

import asyncio
import signal

import typer

from berrys.cli.common import console, load_settings, run_async
from berrys.core.db import Database
from berrys.services.pipeline import service as pipeline


def worker_command(
    concurrency: int = typer.Option(None, help="Tasks this worker runs at once."),
) -> None:
    """Claim and execute tasks of every run until stopped (Ctrl-C, SIGTERM)."""
    settings = load_settings()
    if concurrency:
        settings.worker_concurrency = concurrency

    async def _main(database: Database) -> None:
        pipeline.install_tool_approval_hook(database)
        worker = pipeline.build_worker(
            database,
            pipeline.default_executor(settings, database),
            config=pipeline.engine_config(settings),
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.stop)
        console.print(f"Worker {worker.worker_id} is running (Ctrl-C to stop).")
        await worker.run()
        console.print("Worker stopped; its tasks were released.")

    run_async(_main, settings)
