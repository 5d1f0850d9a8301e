"""A ``berrys worker`` cut off from PostgreSQL for longer than its lease: another worker
takes its tasks over, and when the network comes back the first writes nothing for the
tasks it no longer holds (its late completions are refused by the lease check), then goes
on working. PostgreSQL only (``BERRYS_TEST_DATABASE_URL``)."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.conftest import TEST_DATABASE_URL
from tests.faults.postgres import RestartingPostgres
from tests.scale.conftest import (
    POSTGRES_ONLY,
    Workers,
    completed,
    held_by,
    live_workers,
    start_run,
    worker_env,
)
from tests.services.runs.conftest import wait_until

from berrys.core.db import Database
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import TaskRunStatus
from berrys.services.runs.tables import Step, TaskRun

pytestmark = POSTGRES_ONLY
POLL = 0.1  # the processes work in tens of milliseconds: a closer look only costs them CPU
TASKS = 40
LEASE = 2.0


@pytest.fixture
async def network() -> AsyncIterator[RestartingPostgres]:
    assert TEST_DATABASE_URL is not None
    proxy = RestartingPostgres(TEST_DATABASE_URL)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def test_a_worker_cut_off_past_its_lease_writes_nothing_for_tasks_taken_over(
    database: Database, member, network: RestartingPostgres, workers: Workers, tmp_path: Path
):
    assert TEST_DATABASE_URL is not None
    # Slow answers: the cut-off worker's calls finish while it is away, so it comes back
    # with completions to write for tasks that are no longer its.
    slow = {"BERRYS_LLM_SCRIPTED_LATENCY_MS": "[1500, 2500]", "BERRYS_WORKER_CONCURRENCY": "4"}
    cut_off = workers.start(worker_env(network.proxied_url, tmp_path / "a", **slow))

    async def _registered() -> list:
        workers.check_running()
        return await live_workers(database)

    (first,) = await wait_until(_registered, within=60, every=POLL, message="a worker")
    run = await start_run(database, member.email, TASKS, max_concurrency=TASKS)

    async def _four_held() -> set:
        held = await held_by(database, first.id)
        return held if len(held) == 4 else set()

    held = await wait_until(
        _four_held, within=30, every=POLL, message="the worker holding four tasks"
    )
    network.partition()
    taker = workers.start(worker_env(TEST_DATABASE_URL, tmp_path / "b"))

    async def _all_done_elsewhere() -> bool:
        async with database.transaction(read_only=True) as session:
            statuses = await session.scalars(select(TaskRun.status).where(TaskRun.id.in_(held)))
            return set(statuses) == {TaskRunStatus.COMPLETED}

    await wait_until(
        _all_done_elsewhere, within=60, every=POLL, message="its tasks completed by another"
    )
    network.come_up()

    async def _back() -> bool:
        return first.id in {w.id for w in await live_workers(database)}

    await wait_until(
        _back, within=30, every=POLL, message="the cut-off worker back (its heartbeat)"
    )
    await wait_until(
        lambda: completed(database, run.id), within=60, every=POLL, message="the run completed"
    )
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run.id, limit=10_000)
        steps = Counter(
            await session.scalars(
                select(Step.task_run_id)
                .join(TaskRun, TaskRun.id == Step.task_run_id)
                .where(TaskRun.run_id == run.id)
            )
        )
    completions = [e for e in events if e["type"] == "TASK_COMPLETED"]
    assert Counter(e["task_run_id"] for e in completions) == Counter(
        {str(task_id): 1 for task_id in await _all_tasks(database, run.id)}
    )
    taken_over = {
        e["task_run_id"]
        for e in events
        if e["type"] == "TASK_RECLAIMED" and e["payload"]["previous_worker"] == first.id
    }
    assert len(taken_over) >= 3  # of the four it held when cut off (one may have finished)
    for event in completions:
        if event["task_run_id"] in taken_over:
            assert event["payload"]["worker"] != first.id, "a stale worker's write went through"
    assert set(steps.values()) == {1}  # one model step per task, recorded once
    log = workers.output(cut_off)
    assert "engine.lease_lost" in log  # it learned on its return that they were gone
    cut_off.send_signal(signal.SIGTERM)
    taker.send_signal(signal.SIGTERM)
    for process in (cut_off, taker):
        await wait_until(
            lambda p=process: p.poll() is not None, within=30, every=POLL, message="stopped"
        )
        assert process.returncode == 0


async def _all_tasks(database: Database, run_id) -> list:
    async with database.transaction(read_only=True) as session:
        return list(await session.scalars(select(TaskRun.id).where(TaskRun.run_id == run_id)))
