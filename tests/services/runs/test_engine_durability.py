"""Leases, replay of recorded steps, in-flight calls at a crash, divergence, approvals."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, update
from tests.services.runs.conftest import (
    FAST,
    by_key,
    create_run,
    deps,
    get_run,
    tasks,
    wait_for_status,
    wait_until,
)
from tests.services.runs.scripted import ScriptedExecutor

from berrys.services.catalogue.contracts import RiskLevel
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionResponse, InteractionStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, StepStatus, TaskRunStatus
from berrys.services.runs.engine.worker import EngineConfig, Worker
from berrys.services.runs.tables import Step, TaskRun

T = TaskRunStatus


async def _kill(worker: Worker, task: asyncio.Task) -> None:
    """Stop a worker abruptly: its in-flight calls never finish, its leases stay taken."""
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def _steps(database, task_run_id):
    async with database.transaction(read_only=True) as session:
        return (
            (
                await session.execute(
                    select(Step)
                    .where(Step.task_run_id == task_run_id)
                    .order_by(Step.attempt, Step.seq)
                )
            )
            .scalars()
            .all()
        )


async def _pending(database, run_id):
    async with database.transaction(read_only=True) as session:
        items, _ = await interactions.get_all(
            session, limit=50, offset=0, run_id=run_id, status=InteractionStatus.PENDING
        )
        return items


async def _respond(database, interaction_id, **answer):
    async with database.transaction() as session:
        return await runs.respond_interaction(
            session,
            interaction_id=interaction_id,
            response=InteractionResponse(**answer),
            user=None,
        )


async def test_an_expired_lease_is_taken_over_and_the_old_worker_writes_nothing(
    database, project, tmp_path
):
    run = await create_run(database, project, tasks("A", A={"hold": True}))
    first = ScriptedExecutor()
    slow = EngineConfig(lease_seconds=0.3, heartbeat_seconds=3600, poll_seconds=0.05)
    worker1 = Worker(database, first, hooks=runs.HOOKS, config=slow, worker_id="w1")
    task1 = asyncio.create_task(worker1.run())
    await wait_until(lambda: first.started("A"), message="w1 started A")
    second = ScriptedExecutor()
    worker2 = Worker(database, second, hooks=runs.HOOKS, config=FAST, worker_id="w2")
    task2 = asyncio.create_task(worker2.run())
    try:
        try:
            await wait_until(lambda: second.started("A"), message="w2 took A over")
        except AssertionError:
            current = await get_run(database, run.id)
            raise AssertionError(
                f"{[(t.status, t.lease_owner, t.attempt) for t in current.task_runs]} "
                f"{first.order} {second.order}"
            ) from None
        assert second.model_calls["A"] == 0  # replayed w1's recorded model call
        assert first.executions["A"] == 1  # w1 never took its own task over
        first.release("A")
        await wait_until(lambda: ("end", "A") in first.order, message="w1 finished its work")
        second.release("A")
        done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    finally:
        worker1.stop()
        worker2.stop()
        await asyncio.gather(task1, task2, return_exceptions=True)
    assert done.task_runs[0].lease_owner is None
    async with database.transaction(read_only=True) as session:
        events = await runs.events(session, run_id=run.id)
    kinds = [e["type"] for e in events]
    assert kinds.count("TASK_COMPLETED") == 1
    reclaimed = [e for e in events if e["type"] == "TASK_RECLAIMED"]
    assert reclaimed[0]["payload"]["previous_worker"] == "w1"
    steps = await _steps(database, run.task_runs[0].id)
    assert [(s.seq, s.status, s.calls) for s in steps] == [(0, StepStatus.COMPLETED, 1)]


async def _crash_in_tool(database, project, tmp_path, **spec):
    """Start a run whose non-idempotent tool call is in flight, and kill the worker."""
    side_effects = tmp_path / "effects.txt"
    run = await create_run(
        database,
        project,
        tasks("A", "B", A={"tool": True, "tool_hold": True, **spec}),
        deps("A>B"),
    )
    doomed = ScriptedExecutor(side_effects)
    worker = Worker(database, doomed, hooks=runs.HOOKS, config=FAST)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: doomed.tool_calls["A"] == 1, message="tool in flight")
    await _kill(worker, task)
    steps = await _steps(database, by_key(run)["A"].id)
    assert [(s.seq, s.kind.value, s.status) for s in steps] == [
        (0, "MODEL", StepStatus.COMPLETED),
        (1, "TOOL", StepStatus.STARTED),
    ]
    return run, side_effects


async def test_a_non_idempotent_call_in_flight_at_a_crash_asks_a_human_then_runs_once(
    database, project, tmp_path, start_worker
):
    run, side_effects = await _crash_in_tool(database, project, tmp_path)
    survivor = ScriptedExecutor(side_effects)
    survivor.release("tool:A")
    start_worker(survivor)
    waiting = await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    assert by_key(waiting)["A"].status == T.AWAITING_INPUT
    assert survivor.tool_calls["A"] == 0
    assert survivor.model_calls["A"] == 0
    [approval] = await _pending(database, run.id)
    assert approval.detail["subject"] == "TOOL_RERUN"
    assert approval.detail["details"]["tool"] == "append"
    await _respond(database, approval.id, approved=True, comment="go")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert survivor.tool_calls["A"] == 1
    assert side_effects.read_text().splitlines() == ["A:1"]
    steps = await _steps(database, by_key(run)["A"].id)
    assert steps[1].status == StepStatus.COMPLETED
    assert steps[1].resolution == "RERUN"


async def test_an_approved_rerun_in_flight_at_another_crash_asks_again(
    database, project, tmp_path, start_worker
):
    """One approval covers one re-run: never a third call nobody approved."""
    run, side_effects = await _crash_in_tool(database, project, tmp_path)
    doomed = ScriptedExecutor(side_effects)  # the tool is held again: in flight at the kill
    worker = Worker(database, doomed, hooks=runs.HOOKS, config=FAST)
    task = asyncio.create_task(worker.run())
    [first] = await wait_until(lambda: _pending(database, run.id), message="first approval")
    await _respond(database, first.id, approved=True, comment="go")
    await wait_until(lambda: doomed.tool_calls["A"] == 1, message="re-run in flight")
    await _kill(worker, task)
    survivor = ScriptedExecutor(side_effects)
    survivor.release("tool:A")
    start_worker(survivor)
    [second] = await wait_until(lambda: _pending(database, run.id), message="second approval")
    assert second.id != first.id
    assert survivor.tool_calls["A"] == 0
    await _respond(database, second.id, approved=True, comment="again")
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert survivor.tool_calls["A"] == 1
    steps = await _steps(database, by_key(run)["A"].id)
    assert (steps[1].status, steps[1].calls, steps[1].resolution) == (
        StepStatus.COMPLETED,
        3,
        "RERUN",
    )


async def test_rejecting_the_rerun_fails_the_task(database, project, tmp_path, start_worker):
    run, side_effects = await _crash_in_tool(database, project, tmp_path)
    survivor = ScriptedExecutor(side_effects)
    survivor.release("tool:A")
    start_worker(survivor)
    await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    [approval] = await _pending(database, run.id)
    await _respond(database, approval.id, approved=False)
    failed = await wait_for_status(database, run.id, RunStatus.FAILED)
    assert by_key(failed)["A"].status == T.FAILED
    assert by_key(failed)["B"].status == T.PENDING
    assert survivor.tool_calls["A"] == 0
    assert not side_effects.exists()


async def test_rejecting_with_a_skip_policy_skips_the_task_and_goes_on(
    database, project, tmp_path, start_worker
):
    run, _ = await _crash_in_tool(database, project, tmp_path, on_reject="SKIP")
    survivor = ScriptedExecutor()
    survivor.release("tool:A")
    start_worker(survivor)
    await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    [approval] = await _pending(database, run.id)
    await _respond(database, approval.id, approved=False)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert by_key(done)["A"].status == T.SKIPPED
    assert by_key(done)["B"].status == T.COMPLETED


async def test_an_idempotent_call_in_flight_is_simply_reissued(
    database, project, tmp_path, start_worker
):
    run, side_effects = await _crash_in_tool(database, project, tmp_path, idempotent_tool=True)
    survivor = ScriptedExecutor(side_effects)
    survivor.release("tool:A")
    start_worker(survivor)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert survivor.tool_calls["A"] == 1
    steps = await _steps(database, by_key(run)["A"].id)
    assert steps[1].calls == 2
    async with database.transaction(read_only=True) as session:
        kinds = [e["type"] for e in await runs.events(session, run_id=run.id)]
    assert "STEP_REISSUED" in kinds
    assert "TASK_RECLAIMED" in kinds


async def test_a_diverged_history_starts_a_new_attempt(database, project, start_worker):
    run = await create_run(database, project, tasks("A", A={"hold": True}))
    doomed = ScriptedExecutor()
    worker = Worker(database, doomed, hooks=runs.HOOKS, config=FAST)
    task = asyncio.create_task(worker.run())
    await wait_until(lambda: doomed.model_calls["A"] == 1, message="model called")
    await wait_until(
        lambda: _has_steps(database, run.task_runs[0].id), message="model step recorded"
    )
    await _kill(worker, task)
    async with database.transaction() as session:  # the prompt template changed meanwhile
        await session.execute(update(Step).values(request_hash="0" * 64))
    survivor = ScriptedExecutor()
    survivor.release("A")
    start_worker(survivor)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert done.task_runs[0].attempt == 2
    assert survivor.model_calls["A"] == 1
    steps = await _steps(database, run.task_runs[0].id)
    assert [(s.attempt, s.seq) for s in steps] == [(1, 0), (2, 0)]
    async with database.transaction(read_only=True) as session:
        kinds = [e["type"] for e in await runs.events(session, run_id=run.id)]
    assert "TASK_DIVERGED" in kinds


async def _has_steps(database, task_run_id):
    return bool(await _steps(database, task_run_id))


async def test_high_risk_tasks_wait_for_approval(database, project, executor, start_worker):
    specs = tasks("safe", "risky")
    specs[1] = specs[1].model_copy(update={"risk_level": RiskLevel.HIGH})
    run = await create_run(database, project, specs)
    start_worker(executor)
    waiting = await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    assert by_key(waiting)["safe"].status == T.COMPLETED
    assert executor.executions["risky"] == 0
    [approval] = await _pending(database, run.id)
    assert approval.detail["subject"] == "TASK_RISK"
    async with database.transaction(read_only=True) as session:
        status = (
            await session.execute(select(TaskRun.status).where(TaskRun.key == "risky"))
        ).scalar()
    assert status == T.AWAITING_INPUT
    await _respond(database, approval.id, approved=True)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert executor.executions["risky"] == 1


async def test_an_expired_approval_follows_its_escalation_rule(
    database, project, executor, start_worker
):
    specs = tasks("risky", "next")
    specs[0] = specs[0].model_copy(update={"risk_level": RiskLevel.CRITICAL})
    run = await create_run(
        database, project, specs, deps("risky>next"), options={"approval_expiry_seconds": 0.2}
    )
    start_worker(executor)
    failed = await wait_for_status(database, run.id, RunStatus.FAILED)
    assert "expired" in by_key(failed)["risky"].error
    async with database.transaction(read_only=True) as session:
        items, _ = await interactions.get_all(session, limit=5, offset=0, run_id=run.id)
    assert [i.status for i in items] == [InteractionStatus.EXPIRED]
    assert items[0].detail["approved"] is False


async def test_an_expired_approval_can_escalate_to_approve(
    database, project, executor, start_worker
):
    specs = tasks("risky")
    specs[0] = specs[0].model_copy(update={"risk_level": RiskLevel.HIGH})
    run = await create_run(
        database,
        project,
        specs,
        options={"approval_expiry_seconds": 0.1, "approval_escalation": "APPROVE"},
    )
    start_worker(executor)
    await wait_for_status(database, run.id, RunStatus.COMPLETED)


async def test_budget_threshold_asks_before_spending_more(
    database, project, executor, start_worker
):
    run = await create_run(database, project, tasks("A", "B"), deps("A>B"), budget_usd=0.001)
    start_worker(executor)
    await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    [approval] = await _pending(database, run.id)
    assert approval.detail["subject"] == "BUDGET"
    await _respond(database, approval.id, approved=True)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert done.budget_usd == 0.002


async def test_a_response_resumes_the_run_within_a_second(
    database, project, executor, start_worker
):
    import time

    specs = tasks("risky")
    specs[0] = specs[0].model_copy(update={"risk_level": RiskLevel.HIGH})
    run = await create_run(database, project, specs)
    start_worker(executor, config=EngineConfig(poll_seconds=5.0, maintenance_seconds=5.0))
    await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
    [approval] = await _pending(database, run.id)
    clock = time.monotonic()
    await _respond(database, approval.id, approved=True)
    await wait_until(lambda: executor.executions["risky"] == 1, within=1.0, message="resumed")
    assert time.monotonic() - clock < 1.0
    assert (await get_run(database, run.id)).status in (RunStatus.RUNNING, RunStatus.COMPLETED)
