"""Workers say they are alive (``GET /api/v1/workers``), and drain: no new work, the tasks
held finish within the grace period or are handed back for another worker at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from tests.services.runs.conftest import (
    FAST,
    create_run,
    get_run,
    tasks,
    wait_for_status,
    wait_until,
)
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskRunStatus
from berrys.services.runs.engine.worker import Worker

ONE_AT_A_TIME = replace(FAST, concurrency=1, continuation_after_seconds=None)


async def _workers(client, actor) -> list[dict]:
    response = await client.get("/api/v1/workers", headers=actor.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return body["items"]


async def test_a_worker_is_listed_while_alive_with_the_tasks_it_holds(
    client, database, project, admin, member, start_worker
):
    run = await create_run(database, project, tasks("A", A={"hold": True}))
    executor = ScriptedExecutor()
    worker = start_worker(executor, worker_id="w-listed")
    await wait_until(lambda: executor.started("A"), message="A started")

    async def _holding() -> list[dict]:
        listed = await _workers(client, admin)
        return listed if listed and listed[0]["tasks_held"] == 1 else []

    (listed,) = await wait_until(_holding, message="the worker listed with its task")
    assert listed["id"] == "w-listed"
    assert listed["concurrency"] == FAST.concurrency
    assert listed["draining"] is False
    forbidden = await client.get("/api/v1/workers", headers=member.headers)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    executor.release("A")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    worker.stop()

    async def _gone() -> bool:
        return not await _workers(client, admin)

    await wait_until(_gone, message="the stopped worker gone from the list")


async def test_draining_finishes_the_tasks_held_and_claims_nothing_more(database, project):
    run = await create_run(database, project, tasks("A", "B", A={"hold": True}))
    executor = ScriptedExecutor()
    worker = Worker(database, executor, hooks=runs.HOOKS, config=ONE_AT_A_TIME)
    running = asyncio.create_task(worker.run())
    await wait_until(lambda: executor.started("A"), message="A started")
    drain = asyncio.create_task(worker.drain(grace_seconds=30))

    async def _draining() -> bool:
        async with database.transaction(read_only=True) as session:
            return [w.draining for w in await runs.workers(session)] == [True]

    await wait_until(_draining, message="the worker listed as draining")
    executor.release("A")
    await asyncio.wait_for(drain, 10)
    await asyncio.wait_for(running, 10)
    current = await get_run(database, run.id)
    states = {task.key: task.status for task in current.task_runs}
    assert states == {"A": TaskRunStatus.COMPLETED, "B": TaskRunStatus.READY}
    assert not executor.started("B")
    async with database.transaction(read_only=True) as session:
        assert await runs.workers(session) == []


async def test_a_task_outlasting_the_grace_is_handed_back_not_left_to_expire(
    database, project, start_worker
):
    run = await create_run(database, project, tasks("A", A={"hold": True}))
    slow = replace(ONE_AT_A_TIME, lease_seconds=3600)  # only a hand-back frees it in time
    first = ScriptedExecutor()
    worker = Worker(database, first, hooks=runs.HOOKS, config=slow, worker_id="leaving")
    running = asyncio.create_task(worker.run())
    await wait_until(lambda: first.started("A"), message="A started")
    await asyncio.wait_for(worker.drain(grace_seconds=0.2), 10)
    await asyncio.wait_for(running, 10)
    (task,) = (await get_run(database, run.id)).task_runs
    assert task.status == TaskRunStatus.RUNNING
    second = ScriptedExecutor()
    start_worker(second, worker_id="taking-over")
    await wait_until(lambda: second.started("A"), message="another worker took A at once")
    second.release("A")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run.id)
    (reclaimed,) = [e for e in events if e["type"] == "TASK_RECLAIMED"]
    assert reclaimed["payload"]["previous_worker"] == "leaving"
