"""``berrys worker``: a worker process for scale-out (PostgreSQL, any number of them)."""

from __future__ import annotations

import asyncio
import signal

import typer

from berrys.cli.common import console, load_settings, run_with_services
from berrys.services.catalogue import service as catalogue
from berrys.services.pipeline import service as pipeline
from berrys.wiring import Services


def worker_command(
    concurrency: int = typer.Option(None, help="Tasks this worker runs at once."),
) -> None:
    """Claim and execute tasks of every run until stopped. SIGTERM (or Ctrl-C) drains: no
    new work, the tasks held finish within BERRYS_WORKER_DRAIN_SECONDS or are handed back;
    a second signal stops at once (the tasks handed back)."""
    settings = load_settings()
    if concurrency:
        settings.worker_concurrency = concurrency
    run_with_services(run_worker, settings)


async def run_worker(services: Services) -> None:
    """What ``berrys worker`` runs with the command's ``Services``; a process that scripts
    its models (tests, benchmarks) builds its own and runs this with them. The first
    SIGTERM (or Ctrl-C) drains the worker, a second stops it at once."""
    settings = services.settings
    # The executor reads the catalogue on each task and the first read loads it (seconds,
    # blocking the event loop): load it before claiming, not while holding leases.
    catalogue.current(settings)
    worker = pipeline.build_worker(
        services.database,
        pipeline.default_executor(
            settings, services.database, models=services.models, tools=services.tools
        ),
        config=pipeline.engine_config(settings),
    )
    draining: list[asyncio.Task[None]] = []

    def _signalled() -> None:
        if draining:
            worker.stop()
            return
        console.print("Draining: no new work; the tasks held finish or are handed back.")
        draining.append(asyncio.create_task(worker.drain(settings.worker_drain_seconds)))

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _signalled)
    console.print(f"Worker {worker.worker_id} is running (Ctrl-C to stop).")
    alert_loop = services.alert_loop()
    if alert_loop is not None:
        alert_loop.start()
    trigger_loop = services.trigger_loop()
    if trigger_loop is not None:
        trigger_loop.start()
    publish_loop = services.publish_loop()
    if publish_loop is not None:
        publish_loop.start()
    try:
        await worker.run()
    finally:
        if alert_loop is not None:
            await alert_loop.stop()
        if trigger_loop is not None:
            await trigger_loop.stop()
        if publish_loop is not None:
            await publish_loop.stop()
    console.print("Worker stopped; its tasks were finished or handed back.")
