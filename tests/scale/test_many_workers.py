"""Four ``berrys worker`` processes share one 500-task run on PostgreSQL; one is killed
(SIGKILL) and another drained (SIGTERM) mid-run. The run completes, every task once, each
recorded step once, and the provider's limit held across the processes (its recorded
peak). The live workers are then the two still running.

PostgreSQL only (``BERRYS_TEST_DATABASE_URL``)."""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from tests.conftest import TEST_DATABASE_URL
from tests.scale.conftest import (
    POSTGRES_ONLY,
    Workers,
    completed,
    finished_count,
    held_by,
    live_workers,
    start_run,
    worker_env,
)
from tests.services.runs.conftest import wait_until

from berrys.core.db import Database
from berrys.services.llm.tables import ProviderLoad
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import StepStatus
from berrys.services.runs.tables import Step, TaskRun

pytestmark = POSTGRES_ONLY
POLL = 0.1  # the processes work in tens of milliseconds: a closer look only costs them CPU
TASKS = 500
LIMIT = 6  # SCRIPTED calls in flight at once, across every process


async def test_four_workers_share_a_run_through_a_kill_and_a_drain(
    database: Database, member, workers: Workers, tmp_path: Path
):
    assert TEST_DATABASE_URL is not None
    env = worker_env(TEST_DATABASE_URL, tmp_path, BERRYS_LLM_PROVIDER_CONCURRENCY=str(LIMIT))
    processes = [workers.start(env) for _ in range(4)]

    async def _all_live() -> list:
        workers.check_running()
        live = await live_workers(database)
        return live if len(live) == 4 else []

    live = await wait_until(_all_live, within=120, every=POLL, message="four live workers")
    ids = {worker.pid: worker.id for worker in live}
    run = await start_run(database, member.email, TASKS, max_concurrency=64)

    await _at_least(database, run.id, 100)
    killed = await _one_holding_tasks(database, processes, ids)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    # What it held as it died: nobody takes these over before their lease expires.
    orphans = await held_by(database, ids[killed.pid])
    assert orphans
    await _at_least(database, run.id, 200)
    # Told to stop while it works: it holds tasks at that moment (finished or handed back).
    rest = [process for process in processes if process is not killed]
    drained = await _one_holding_tasks(database, rest, ids)
    staying = [process for process in rest if process is not drained]
    drained.send_signal(signal.SIGTERM)
    await wait_until(
        lambda: drained.poll() is not None, within=20, every=POLL, message="the drain ended"
    )
    assert drained.returncode == 0, workers.output(drained)[-3000:]
    assert "engine.drained" in workers.output(drained)
    await wait_until(
        lambda: completed(database, run.id), within=60, every=POLL, message="the run completed"
    )

    await _each_task_and_step_once(database, run.id, ids)
    assert orphans <= await _reclaimed_from(database, run.id, ids[killed.pid])
    async with database.transaction(read_only=True) as session:
        (load,) = (await session.execute(select(ProviderLoad))).scalars().all()
    assert (load.key, load.slots) == ("SCRIPTED", LIMIT)
    assert load.peak == LIMIT  # reached (8 tasks each wanted a call) and never exceeded
    assert {w.id for w in await live_workers(database)} == {ids[p.pid] for p in staying}
    for process in staying:
        process.send_signal(signal.SIGTERM)
    for process in staying:
        await wait_until(
            lambda p=process: p.poll() is not None, within=20, every=POLL, message="stopped"
        )
        assert process.returncode == 0


async def _one_holding_tasks(database: Database, processes: list, ids: dict[int, str]) -> Any:
    """One of ``processes`` whose worker holds tasks now (claims need not be even)."""

    async def _find() -> Any:
        for process in processes:
            if await held_by(database, ids[process.pid]):
                return process
        return None

    return await wait_until(_find, within=30, every=POLL, message="a worker holding tasks")


async def _at_least(database: Database, run_id, count: int) -> None:
    async def _done() -> bool:
        return await finished_count(database, run_id) >= count

    await wait_until(_done, within=60, every=POLL, message=f"{count} tasks completed")


async def _each_task_and_step_once(database: Database, run_id, ids: dict[int, str]) -> Counter[str]:
    """Every task completed once; each recorded one model step, once, in its one attempt;
    how many each worker completed."""
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run_id, limit=10_000)
        steps = (
            await session.execute(
                select(Step.task_run_id, Step.attempt, Step.seq, Step.status, func.count())
                .join(TaskRun, TaskRun.id == Step.task_run_id)
                .where(TaskRun.run_id == run_id)
                .group_by(Step.task_run_id, Step.attempt, Step.seq, Step.status)
            )
        ).all()
    completed = Counter(e["task_run_id"] for e in events if e["type"] == "TASK_COMPLETED")
    assert len(completed) == TASKS
    assert set(completed.values()) == {1}
    assert len(steps) == TASKS
    assert {(row.attempt, row.seq, row.status, row[4]) for row in steps} == {
        (1, 0, StepStatus.COMPLETED, 1)
    }
    finishers = Counter(e["payload"]["worker"] for e in events if e["type"] == "TASK_COMPLETED")
    assert set(finishers) <= set(ids.values()), finishers
    return finishers


async def _reclaimed_from(database: Database, run_id, worker_id: str) -> set:
    """The tasks another worker took over from ``worker_id`` once its leases expired."""
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run_id, limit=10_000)
    return {
        uuid.UUID(e["task_run_id"])
        for e in events
        if e["type"] == "TASK_RECLAIMED" and e["payload"]["previous_worker"] == worker_id
    }
