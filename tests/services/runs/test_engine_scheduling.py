"""The engine against a scripted executor: DAG order, SS/FF/SF, no global step barrier."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from tests.services.runs.conftest import (
    FAST,
    by_key,
    create_run,
    deps,
    tasks,
    wait_for_status,
    wait_for_task,
    wait_until,
)

from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunEventType, RunStatus, TaskRunStatus
from berrys.services.runs.tables import TaskRun

T = TaskRunStatus


async def _events(database, run_id):
    async with database.transaction(read_only=True) as session:
        return await runs.events(session, run_id=run_id, limit=10_000)


async def test_diamond_dag_runs_in_dependency_order(database, project, executor, start_worker):
    run = await create_run(
        database, project, tasks("A", "B", "C", "D"), deps("A>B", "A>C", "B>D", "C>D")
    )
    assert run.status == RunStatus.QUEUED
    start_worker(executor)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    order = executor.order
    assert order.index(("start", "B")) > order.index(("end", "A"))
    assert order.index(("start", "C")) > order.index(("end", "A"))
    assert order.index(("start", "D")) > max(order.index(("end", "B")), order.index(("end", "C")))
    tasks_ = by_key(done)
    assert tasks_["D"].output["upstream"] == {"B": "B#0", "C": "C#0"}
    assert all(t.status == T.COMPLETED for t in done.task_runs)
    assert all(t.attempt == 1 for t in done.task_runs)
    assert done.cost_usd == 0.004
    assert done.tokens == 40
    events = await _events(database, run.id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for e in events]
    assert kinds.count("TASK_STARTED") == 4
    assert kinds.count("TASK_COMPLETED") == 4
    assert kinds.count("TASK_READY") == 4
    statuses = [e["payload"]["to"] for e in events if e["type"] == "RUN_STATUS"]
    assert statuses == ["RUNNING", "COMPLETED"]
    assert executor.model_calls == {"A": 1, "B": 1, "C": 1, "D": 1}


async def test_no_global_step_barrier(database, project, executor, start_worker):
    """A slow task holds back only its own successors."""
    run = await create_run(
        database,
        project,
        tasks("slow", "after_slow", "x1", "x2", "x3", slow={"hold": True}),
        deps("slow>after_slow", "x1>x2", "x2>x3"),
    )
    start_worker(executor)
    await wait_for_task(database, run.id, "x3", T.COMPLETED)
    current = by_key(await runs_get(database, run.id))
    assert current["slow"].status == T.RUNNING
    assert current["after_slow"].status == T.PENDING
    executor.release("slow")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)


async def runs_get(database, run_id):
    async with database.transaction(read_only=True) as session:
        return await runs.get(session, run_id=run_id)


async def test_start_to_start_lets_the_successor_start_while_the_predecessor_runs(
    database, project, executor, start_worker
):
    run = await create_run(database, project, tasks("A", "B", A={"hold": True}), deps("A>B:SS"))
    start_worker(executor)
    await wait_for_task(database, run.id, "B", T.COMPLETED)
    assert by_key(await runs_get(database, run.id))["A"].status == T.RUNNING
    executor.release("A")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)


async def test_finish_to_finish_holds_completion_until_the_predecessor_completes(
    database, project, executor, start_worker
):
    run = await create_run(database, project, tasks("A", "B", A={"hold": True}), deps("A>B:FF"))
    start_worker(executor)
    await wait_until(lambda: ("end", "B") in executor.order, message="B's work done")

    async def b_output_ready():
        b = by_key(await runs_get(database, run.id))["B"]
        return b.status == T.RUNNING and b.output is not None and b.lease_owner is None

    await wait_until(b_output_ready, message="B output ready")
    executor.release("A")
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    tasks_ = by_key(done)
    assert tasks_["B"].finished_at >= tasks_["A"].finished_at
    kinds = [(e["type"], e["task_run_id"]) for e in await _events(database, run.id)]
    b_id = str(tasks_["B"].id)
    a_id = str(tasks_["A"].id)
    assert kinds.index(("TASK_OUTPUT_READY", b_id)) < kinds.index(("TASK_COMPLETED", a_id))
    assert kinds.index(("TASK_COMPLETED", a_id)) < kinds.index(("TASK_COMPLETED", b_id))


async def test_start_to_finish_holds_completion_until_the_predecessor_starts(
    database, project, executor, start_worker
):
    run = await create_run(
        database,
        project,
        tasks("gate", "A", "B", gate={"hold": True}),
        deps("gate>A", "A>B:SF"),
    )
    start_worker(executor)
    await wait_until(lambda: ("end", "B") in executor.order, message="B's work done")
    assert by_key(await runs_get(database, run.id))["B"].status == T.RUNNING
    assert not executor.started("A")
    executor.release("gate")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)


async def test_failures_are_retried_with_backoff_then_fail_the_run(
    database, project, executor, start_worker
):
    run = await create_run(
        database,
        project,
        [
            *tasks(
                "flaky", "broken", "after", flaky={"fail_attempts": 2}, broken={"fail_attempts": 9}
            ),
        ],
        deps("broken>after"),
    )
    start_worker(executor)
    failed = await wait_for_status(database, run.id, RunStatus.FAILED)
    tasks_ = by_key(failed)
    assert tasks_["flaky"].status == T.COMPLETED
    assert tasks_["flaky"].attempt == 3
    assert tasks_["broken"].status == T.FAILED
    assert tasks_["broken"].failures == 3
    assert "scripted failure" in tasks_["broken"].error
    assert tasks_["after"].status == T.PENDING
    kinds = [e["type"] for e in await _events(database, run.id)]
    assert kinds.count("TASK_RETRY_SCHEDULED") == 4
    assert kinds.count("TASK_FAILED") == 1

    # Retrying the failed task (it now succeeds: attempt 4 > fail_attempts? no: raise it)
    async with database.transaction() as session:
        await session.execute(
            TaskRun.__table__.update()
            .where(TaskRun.id == tasks_["broken"].id)
            .values(spec={"fail_attempts": 3})
        )
        await runs.retry_task(session, run_id=run.id, task_run_id=tasks_["broken"].id, user=None)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert by_key(done)["broken"].attempt == 4


async def test_permanent_errors_are_not_retried_and_transient_calls_are(
    database, project, executor, start_worker
):
    run = await create_run(
        database, project, tasks("bad", "wobbly", bad={"permanent": True}, wobbly={"transient": 2})
    )
    start_worker(executor)
    failed = await wait_for_status(database, run.id, RunStatus.FAILED)
    tasks_ = by_key(failed)
    assert tasks_["bad"].failures == 1
    assert tasks_["bad"].attempt == 1
    assert tasks_["wobbly"].status == T.COMPLETED
    assert tasks_["wobbly"].attempt == 1
    assert executor.model_calls["wobbly"] == 1


async def test_per_task_timeout_fails_the_attempt(database, project, executor, start_worker):
    spec = tasks("stuck", stuck={"hold": True})[0].model_copy(
        update={"timeout_seconds": 0.2, "max_attempts": 2}
    )
    run = await create_run(database, project, [spec])
    start_worker(executor)
    failed = await wait_for_status(database, run.id, RunStatus.FAILED)
    task = failed.task_runs[0]
    assert task.failures == 2
    assert "timed out" in task.error


async def test_run_and_provider_concurrency_limits(database, project, executor, start_worker):
    keys = [f"t{i}" for i in range(6)]
    run = await create_run(
        database,
        project,
        tasks(*keys, **{key: {"hold": True} for key in keys}),
        max_concurrency=2,
    )
    start_worker(executor)
    await wait_until(lambda: len(executor.executions) == 2, message="two started")

    async def two_running() -> bool:
        found = (await runs_get(database, run.id)).task_runs
        return len([t for t in found if t.status == T.RUNNING]) == 2

    # A claimed task starts while its claim commits: RUNNING shows once it has.
    await wait_until(two_running, message="two claimed")
    assert len(executor.executions) == 2
    for key in keys:
        executor.release(key)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert sum(executor.executions.values()) == 6


async def test_scarce_slots_go_to_the_longest_remaining_critical_path(
    database, project, executor, start_worker
):
    # "short" comes first in the plan, but "long1" heads a chain of three.
    run = await create_run(
        database,
        project,
        tasks("short", "long1", "long2", "long3"),
        deps("long1>long2", "long2>long3"),
        max_concurrency=1,
    )
    start_worker(executor)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    starts = [key for kind, key in executor.order if kind == "start"]
    assert starts[0] == "long1"
    async with database.transaction(read_only=True) as session:
        rows = await session.execute(
            select(TaskRun.key, TaskRun.critical_path).where(TaskRun.run_id == run.id)
        )
        assert dict(rows.all()) == {"short": 1.0, "long1": 3.0, "long2": 2.0, "long3": 1.0}


async def test_events_are_one_per_state_change_and_ordered(
    database, project, executor, start_worker
):
    run = await create_run(database, project, tasks("A", "B"), deps("A>B"))
    start_worker(executor)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    events = await _events(database, run.id)
    b = [
        e["type"]
        for e in events
        if e["task_run_id"] == str(by_key(await runs_get(database, run.id))["B"].id)
    ]
    assert b == ["TASK_READY", "TASK_STARTED", "TASK_COMPLETED"]
    assert events[0]["type"] == RunEventType.RUN_CREATED.value


async def test_a_waiting_worker_is_woken_by_a_new_run_once_it_is_committed(
    database, project, executor, start_worker
):
    """No poll here: the wake comes after the run's commit, so the claim can see it."""
    worker = start_worker(executor, config=replace(FAST, poll_seconds=60.0))
    await wait_until(worker.ready.is_set, message="the worker warm and waiting")
    run = await create_run(database, project, tasks("A"))
    await wait_for_status(database, run.id, RunStatus.COMPLETED, within=5.0)
