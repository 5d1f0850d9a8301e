"""PostgreSQL restarts while a run is in the middle of its work (``postgres.py`` says how the
restart is modelled). The worker keeps going by itself once the database is back, and the
run ends as if nothing happened: every task COMPLETED in its first attempt, each model call
made once and its step recorded once, the audit chain intact.

PostgreSQL only (``BERRYS_TEST_DATABASE_URL``); the run uses a database of its own."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from tests.conftest import TEST_DATABASE_URL, Actor, create_actor
from tests.faults.postgres import RestartingPostgres, scratch_database
from tests.services.runs.conftest import (
    FAST,
    create_run,
    get_run,
    wait_for_status,
    wait_until,
)

from berrys.app import create_app
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.audit import service as audit
from berrys.services.auth import service as auth
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, StepStatus, TaskRunStatus, TaskSpec
from berrys.services.runs.engine.executor import TaskOutcome
from berrys.services.runs.engine.journal import TaskContext
from berrys.services.runs.engine.worker import Worker
from berrys.services.runs.tables import Step

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="a PostgreSQL restart: set BERRYS_TEST_DATABASE_URL to a PostgreSQL database",
)
TASKS = 12
ANSWERED_AT_ONCE = 4  # the model's first answers; the next ones wait for the restart


@pytest.fixture
async def postgres() -> AsyncIterator[tuple[RestartingPostgres, Database]]:
    assert TEST_DATABASE_URL is not None
    async with scratch_database(TEST_DATABASE_URL) as url:
        server = RestartingPostgres(url)
        await server.start()
        database = Database(server.proxied_url)
        try:
            await migrate.upgrade(database)
            yield server, database
        finally:
            await database.dispose()
            await server.close()


class Model:
    """The scripted model's answers: the first few at once, the rest once released."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        self.waiting = 0
        self.answered_late = 0
        self.release = asyncio.Event()

    async def answer(self, request: Any) -> str:
        title = request.messages[-1].content.splitlines()[0]
        self.asked[title] += 1
        if sum(self.asked.values()) > ANSWERED_AT_ONCE:
            self.waiting += 1
            await self.release.wait()
            self.answered_late += 1
        return f"{title.removeprefix('# Task: ')}: the agreed steps, owners and dates."


async def _started_run(database: Database, count: int, actor: Actor | None = None) -> Any:
    actor = actor or await create_actor(database)
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=actor.email)
        project = await projects.create(
            session, project_in=ProjectCreate(name="through a restart"), user=user
        )
    specs = [TaskSpec(key=f"t{n:02}", name=f"Part {n:02} of the plan") for n in range(count)]
    return await create_run(database, project, specs, max_concurrency=4, actor_id=actor.id)


async def _completed(database: Database, run_id: Any) -> int:
    run = await get_run(database, run_id)
    return sum(task.status == TaskRunStatus.COMPLETED for task in run.task_runs)


async def test_a_run_resumes_by_itself_after_postgres_restarts(
    postgres: tuple[RestartingPostgres, Database], settings: Settings
) -> None:
    server, database = postgres
    model = Model()
    actor = await create_actor(database)
    run = await _started_run(database, TASKS, actor)
    app = create_app(settings.model_copy(update={"database_url": database.url}), database=database)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    services = app.state.services
    with llm.script(services.models, "fake", [model.answer] * TASKS):
        executor = AgentExecutor(
            settings=settings, database=database, models=services.models, tools=services.tools
        )
        worker = Worker(database, executor, hooks=runs.HOOKS, config=FAST)
        running = asyncio.create_task(worker.run())
        try:
            # Mid-run: some tasks done, four with their model call in flight.
            await wait_until(lambda: model.waiting == 4, within=30, message="calls in flight")
            assert await _completed(database, run.id) == ANSWERED_AT_ONCE

            ended = await server.go_down()
            model.release.set()  # the calls answer while the database is away
            await wait_until(lambda: model.answered_late == 4, within=30, message="answers")
            # Down until what follows the answers has met the outage too (each try to
            # record them is a refused connection) and the worker has found it so.
            refused = server.refused
            await wait_until(lambda: server.refused >= refused + 4, within=30, message="retries")
            assert not running.done()
            # Meanwhile the API says what is going on, and when to try again.
            away = await api.get(f"/api/v1/runs/{run.id}", headers=actor.headers)
            assert away.status_code == 503, away.text
            assert "database cannot be reached" in away.json()["detail"]
            assert away.headers["retry-after"] == "5"
            server.come_up()
            back = time.monotonic()

            async def progressed() -> bool:
                return await _completed(database, run.id) > ANSWERED_AT_ONCE

            await wait_until(progressed, within=30, message="a completion after the restart")
            first = time.monotonic() - back
            done = await wait_for_status(database, run.id, RunStatus.COMPLETED, within=60)
            finished = time.monotonic() - back
            back_again = await api.get(f"/api/v1/runs/{run.id}", headers=actor.headers)
            assert back_again.json()["status"] == "COMPLETED"
        finally:
            worker.stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(running, 10)
            await api.aclose()

    assert ended >= 1
    assert all(task.status == TaskRunStatus.COMPLETED for task in done.task_runs)
    assert all(task.attempt == 1 for task in done.task_runs)
    # Every model call made once, and its step recorded once.
    assert sorted(model.asked.values()) == [1] * TASKS, model.asked
    async with database.transaction(read_only=True) as session:
        steps = (await session.execute(select(Step))).scalars().all()
        verified = await audit.verify(session)
    assert len(steps) == TASKS
    assert {(step.attempt, step.seq, step.calls) for step in steps} == {(1, 0, 1)}
    assert {step.status for step in steps} == {StepStatus.COMPLETED}
    assert verified.valid, verified
    print(
        f"postgres restart: backends ended={ended} refused reconnects={server.refused} "
        f"first completion after {first:.2f} s, run completed {finished:.2f} s after the "
        f"database came back; steps={len(steps)} repeated calls=0"
    )


class ReadsBetweenSteps:
    """An executor whose second model step reads the database before it answers (as a
    model call's routing does), held until released: the read meets the outage."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.executions = 0
        self.read_failures = 0
        self.calls: Counter[str] = Counter()
        self.at_gate = asyncio.Event()
        self.gate = asyncio.Event()

    async def execute(self, ctx: TaskContext) -> TaskOutcome:
        self.executions += 1

        async def first() -> str:
            self.calls["first"] += 1
            return "outline"

        async def second() -> str:
            try:
                async with self.database.transaction(read_only=True) as session:
                    await session.execute(text("SELECT 1"))
            except Exception:
                self.read_failures += 1
                raise
            self.calls["second"] += 1
            return "draft"

        outline = await ctx.model({"step": "outline"}, first)
        self.at_gate.set()
        await self.gate.wait()
        draft = await ctx.model({"step": "draft"}, second)
        return TaskOutcome(output={"text": f"{outline}, then {draft}"})


async def test_a_task_that_finds_the_database_away_is_handed_back_not_failed(
    postgres: tuple[RestartingPostgres, Database],
) -> None:
    server, database = postgres
    executor = ReadsBetweenSteps(database)
    run = await _started_run(database, 1)
    worker = Worker(database, executor, hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(executor.at_gate.wait(), 30)
        await server.go_down()
        executor.gate.set()  # the second step's read fails: the database is away
        await wait_until(lambda: executor.read_failures, within=30, message="the read")
        server.come_up()
        done = await wait_for_status(database, run.id, RunStatus.COMPLETED, within=30)
    finally:
        worker.stop()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(running, 10)

    [task] = done.task_runs
    assert task.attempt == 1  # no attempt spent on the outage
    assert task.output["text"] == "outline, then draft"
    assert executor.executions == 2  # taken over after the outage: the outline replayed
    assert executor.calls == Counter({"first": 1, "second": 1})
    async with database.transaction(read_only=True) as session:
        steps = (await session.execute(select(Step).order_by(Step.seq))).scalars().all()
        kinds = [event["type"] for event in await runs.events(session, run_id=run.id)]
    assert [(s.seq, s.attempt, s.calls, s.status) for s in steps] == [
        (0, 1, 1, StepStatus.COMPLETED),
        (1, 1, 1, StepStatus.COMPLETED),
    ]
    assert "TASK_RECLAIMED" in kinds
    assert "TASK_FAILED" not in kinds
    assert "TASK_RETRY_SCHEDULED" not in kinds
