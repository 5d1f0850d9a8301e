"""``berrys workers``: the live workers of the run engine, and each provider's calls in flight
across every process (an ADMIN's view, as ``GET /api/v1/workers``)."""

from __future__ import annotations

import json

from rich.table import Table

from berrys.cli.common import (
    AS_USER,
    JSON_OPTION,
    acting_user,
    console,
    load_settings,
    operator_email,
    run_async,
)
from berrys.core.db import Database, utcnow
from berrys.services.auth import service as auth
from berrys.services.llm import service as llm
from berrys.services.llm.contracts import ProviderLoadOut
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import WorkerOut


def workers_command(as_user: str | None = AS_USER, as_json: bool = JSON_OPTION) -> None:
    """Live workers (id, host, pid, started, last heartbeat, tasks held) and provider load."""
    settings = load_settings()

    async def _read(database: Database) -> tuple[list[WorkerOut], list[ProviderLoadOut]]:
        auth.require_admin(await acting_user(database, operator_email(settings, as_user)))
        async with database.transaction(read_only=True) as session:
            live = await runs.workers(session)
            loads = [] if database.is_sqlite else await llm.provider_loads(session)
        return live, loads

    live, loads = run_async(_read, settings)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    "workers": [item.model_dump(mode="json") for item in live],
                    "providers": [item.model_dump(mode="json") for item in loads],
                }
            )
        )
        return
    console.print(_workers_table(live))
    if loads:
        console.print(_loads_table(loads))


def _workers_table(live: list[WorkerOut]) -> Table:
    now = utcnow()
    table = Table(title=f"Workers ({len(live)} live)")
    for column in ("id", "host", "pid", "started", "last heartbeat", "tasks held", "state"):
        table.add_column(column)
    for worker in live:
        table.add_row(
            worker.id,
            worker.host,
            str(worker.pid),
            str(worker.started_at)[:19].replace("T", " "),
            f"{(now - worker.heartbeat_at).total_seconds():.1f} s ago",
            f"{worker.tasks_held}/{worker.concurrency}",
            "draining" if worker.draining else "working",
        )
    return table


def _loads_table(loads: list[ProviderLoadOut]) -> Table:
    table = Table(title="Model calls in flight, across processes")
    for column in ("provider", "in flight", "limit", "peak"):
        table.add_column(column)
    for load in loads:
        table.add_row(load.key, str(load.in_flight), str(load.slots), str(load.peak))
    return table
