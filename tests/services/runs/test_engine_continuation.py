"""Tasks that start before their claim commits: a successor started the moment its
predecessor succeeds (a continuation), and what a batch claims started while it commits.
Either may call models early, but records nothing and calls no tool before its claim has
committed, and a claim that fails leaves no trace."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from tests.services.runs.conftest import (
    by_key,
    create_run,
    deps,
    get_run,
    tasks,
    wait_for_status,
    wait_for_task,
    wait_until,
)

from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskRunStatus
from berrys.services.runs.engine.commit import COMPLETIONS, GroupCommitter
from berrys.services.runs.engine.worker import Worker
from berrys.services.runs.tables import Step

T = TaskRunStatus


class HeldCommits:
    """Holds the group transaction that completes one of ``task_ids`` (before it begins)
    until :meth:`release`; ``log`` notes each such batch once it has committed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.task_ids: set[uuid.UUID] = set()
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()
        self.log: list[tuple[str, Any]] = []
        original = GroupCommitter._transaction

        async def _transaction(committer: GroupCommitter, writes: list, **kwargs: Any) -> Any:
            held = [
                w.task_id for w in writes if w.stage == COMPLETIONS and w.task_id in self.task_ids
            ]
            if held:
                self.holding.set()
                await self.gate.wait()
            result = await original(committer, writes, **kwargs)
            for task_id in held:
                self.log.append(("committed", task_id))
            return result

        monkeypatch.setattr(GroupCommitter, "_transaction", _transaction)

    def release(self) -> None:
        self.gate.set()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCommits]:
    commits = HeldCommits(monkeypatch)
    yield commits
    commits.release()  # a failed test must not leave the worker's writer waiting


async def _events(database, run_id) -> list[dict[str, Any]]:
    async with database.transaction(read_only=True) as session:
        return await runs.events(session, run_id=run_id, limit=10_000)


async def _steps(database, task_run_id) -> list[Any]:
    async with database.transaction(read_only=True) as session:
        return list(
            (await session.execute(select(Step).where(Step.task_run_id == task_run_id))).scalars()
        )


def _of(events: list[dict[str, Any]], task_run_id: uuid.UUID) -> list[str]:
    return [e["type"] for e in events if e["task_run_id"] == str(task_run_id)]


async def _chain(database, project, **b_spec: Any) -> tuple[Any, Any, Any]:
    """A (held until released) > B."""
    run = await create_run(
        database, project, tasks("A", "B", A={"hold": True}, B=b_spec), deps("A>B")
    )
    found = by_key(run)
    return run, found["A"], found["B"]


async def _hand_over(worker: Worker, executor, held: HeldCommits, a: Any) -> None:
    """Let A finish once its successor is read, with A's completion held."""
    held.task_ids.add(a.id)
    await wait_until(lambda: worker.prepared(a.id), message="A's successor read")
    executor.release("A")
    await asyncio.wait_for(held.holding.wait(), 10)


async def test_a_successor_starts_before_its_predecessor_completes_and_records_nothing_first(
    database, project, executor, start_worker, held
):
    run, a, b = await _chain(database, project)
    worker = start_worker(executor)
    await wait_for_task(database, run.id, "A", T.RUNNING)
    await _hand_over(worker, executor, held, a)
    # B's model call ran while A's completion (and with it B's claim) has not committed.
    await wait_until(lambda: executor.model_calls["B"] == 1, message="B's model call")
    now = by_key(await get_run(database, run.id))
    assert now["A"].status == T.RUNNING
    assert now["B"].status == T.PENDING
    assert now["B"].lease_owner is None
    assert await _steps(database, b.id) == []
    assert _of(await _events(database, run.id), b.id) == []
    assert ("end", "B") not in executor.order  # its step record waits for the claim

    held.release()
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert all(task.status == T.COMPLETED for task in done.task_runs)
    assert by_key(done)["B"].output["upstream"] == {"A": "A#0"}
    assert executor.executions["B"] == 1
    assert executor.model_calls["B"] == 1
    steps = await _steps(database, b.id)
    assert [(s.seq, s.attempt, s.status.value, s.calls) for s in steps] == [(0, 1, "COMPLETED", 1)]
    events = await _events(database, run.id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert _of(events, b.id) == ["TASK_READY", "TASK_STARTED", "TASK_COMPLETED"]
    order = [(e["type"], e["task_run_id"]) for e in events]
    assert order.index(("TASK_COMPLETED", str(a.id))) < order.index(("TASK_READY", str(b.id)))


async def test_a_continuation_of_a_paused_run_records_nothing_and_runs_after_resume(
    database, project, executor, start_worker, held
):
    run, a, b = await _chain(database, project)
    worker = start_worker(executor)
    await wait_for_task(database, run.id, "A", T.RUNNING)
    await _hand_over(worker, executor, held, a)
    await wait_until(lambda: executor.started("B"), message="B started early")
    async with database.transaction() as session:
        await runs.pause(session, run_id=run.id, user=None)
    held.release()
    # A completes; B is READY but not claimed (the run is paused), its early start undone.
    await wait_for_task(database, run.id, "B", T.READY)
    assert by_key(await get_run(database, run.id))["A"].status == T.COMPLETED
    assert await _steps(database, b.id) == []
    assert _of(await _events(database, run.id), b.id) == ["TASK_READY"]
    assert ("end", "B") not in executor.order

    async with database.transaction() as session:
        await runs.resume(session, run_id=run.id, user=None)
    done = await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert by_key(done)["B"].attempt == 1
    # The discarded model call is cost; the recorded history is the second execution's.
    assert executor.executions["B"] == 2
    assert executor.model_calls["B"] == 2
    assert [(s.seq, s.attempt, s.calls) for s in await _steps(database, b.id)] == [(0, 1, 1)]
    events = await _events(database, run.id)
    assert _of(events, b.id) == ["TASK_READY", "TASK_STARTED", "TASK_COMPLETED"]


async def test_a_continuation_of_a_cancelled_run_records_nothing(
    database, project, executor, start_worker, held
):
    run, a, b = await _chain(database, project, tool=True)
    worker = start_worker(executor)
    await wait_for_task(database, run.id, "A", T.RUNNING)
    await _hand_over(worker, executor, held, a)
    await wait_until(lambda: executor.started("B"), message="B started early")
    async with database.transaction() as session:
        await runs.cancel(session, run_id=run.id, user=None)
    held.release()
    done = await wait_for_status(database, run.id, RunStatus.CANCELLED)
    await wait_until(lambda: not worker._speculative, message="B's early start undone")
    assert by_key(done)["B"].status == T.CANCELLED
    assert await _steps(database, b.id) == []
    assert _of(await _events(database, run.id), b.id) == ["TASK_CANCELLED"]
    assert executor.tool_calls["B"] == 0
    assert ("end", "B") not in executor.order


async def test_a_continued_task_calls_no_tool_before_its_claim_commits(
    database, project, executor, start_worker, held, tmp_path
):
    run, a, b = await _chain(database, project, models=0, tool=True)
    worker = start_worker(executor)
    await wait_for_task(database, run.id, "A", T.RUNNING)
    await _hand_over(worker, executor, held, a)
    # B's first step is the tool: B waits at it for its claim, A's completion held.
    await wait_until(lambda: ("tool_step", "B") in executor.order, message="B at its tool")
    assert executor.tool_calls["B"] == 0
    assert not (tmp_path / "side_effects.txt").exists()
    assert await _steps(database, b.id) == []

    held.release()
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert executor.tool_calls["B"] == 1
    assert (tmp_path / "side_effects.txt").read_text().splitlines() == ["B:1"]
    assert held.log[0] == ("committed", a.id)


async def test_a_claimed_task_calls_no_tool_before_its_claim_commits(
    database, project, executor, start_worker, monkeypatch, tmp_path
):
    """What a batch claims starts while the batch commits: held after its claim, the task
    has started but not called its tool, and nothing of it is recorded."""
    gate = asyncio.Event()
    original = Worker._claim

    async def _claim(worker: Worker, *args: Any) -> Any:
        claimed = await original(worker, *args)
        if claimed:
            await gate.wait()  # inside the batch's transaction, before its commit
        return claimed

    monkeypatch.setattr(Worker, "_claim", _claim)
    run = await create_run(database, project, tasks("A", A={"tool": True, "models": 0}))
    start_worker(executor)
    try:
        await wait_until(lambda: ("tool_step", "A") in executor.order, message="A at its tool")
        assert executor.tool_calls["A"] == 0
        current = by_key(await get_run(database, run.id))["A"]
        assert current.status == T.READY
        assert await _steps(database, current.id) == []
    finally:
        gate.set()
    await wait_for_status(database, run.id, RunStatus.COMPLETED)
    assert executor.tool_calls["A"] == 1
    assert executor.executions["A"] == 1
    assert (tmp_path / "side_effects.txt").read_text().splitlines() == ["A:1"]
