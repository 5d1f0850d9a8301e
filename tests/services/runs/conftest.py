from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from tests.services.runs.scripted import ScriptedExecutor

from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import (
    DependencySpec,
    RunOut,
    RunStatus,
    TaskRunStatus,
    TaskSpec,
)
from berrys.services.runs.engine.worker import EngineConfig, Worker

FAST = EngineConfig(
    lease_seconds=5.0,
    heartbeat_seconds=0.5,
    poll_seconds=0.05,
    retry_base_seconds=0.02,
    retry_max_seconds=0.1,
    maintenance_seconds=0.1,
)
FAST.step_policy.base_delay = 0.01


@pytest.fixture
async def project(database: Database, member) -> Any:  # type: ignore[no-untyped-def]
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=member.email)
        return await projects.create(
            session, project_in=ProjectCreate(name="engine test"), user=user
        )


@pytest.fixture
def executor(tmp_path) -> ScriptedExecutor:  # type: ignore[no-untyped-def]
    return ScriptedExecutor(tmp_path / "side_effects.txt")


@pytest.fixture
async def start_worker(database: Database) -> AsyncIterator[Callable[..., Worker]]:
    started: list[tuple[Worker, asyncio.Task[None]]] = []

    def _start(executor: Any, **kwargs: Any) -> Worker:
        kwargs.setdefault("config", FAST)
        worker = Worker(database, executor, hooks=runs.HOOKS, **kwargs)
        started.append((worker, asyncio.create_task(worker.run())))
        return worker

    yield _start
    for worker, _ in started:
        worker.stop()
    for _, task in started:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, 10)


def tasks(*keys: str, **specs: dict[str, Any]) -> list[TaskSpec]:
    return [TaskSpec(key=key, name=key, spec=specs.get(key, {})) for key in keys]


def deps(*edges: str) -> list[DependencySpec]:
    """ "A>B" (FS), "A>B:SS" ..."""
    found = []
    for edge in edges:
        pair, _, kind = edge.partition(":")
        source, target = pair.split(">")
        found.append(DependencySpec(from_key=source, to_key=target, dependency_type=kind or "FS"))
    return found


async def create_run(
    database: Database,
    project: Any,
    task_specs: Iterable[TaskSpec],
    dependencies: Iterable[DependencySpec] = (),
    **kwargs: Any,
) -> RunOut:
    async with database.transaction() as session:
        return await runs.create(
            session,
            project_id=project.id,
            tasks=list(task_specs),
            dependencies=list(dependencies),
            **kwargs,
        )


async def get_run(database: Database, run_id: uuid.UUID) -> RunOut:
    async with database.transaction(read_only=True) as session:
        return await runs.get(session, run_id=run_id)


async def wait_until(
    condition: Callable[[], Any],
    *,
    within: float = 15.0,
    message: str = "condition",
    every: float = 0.01,
) -> Any:
    """Poll ``condition`` (sync or async) every ``every`` seconds until truthy; fail after
    ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(every)


async def wait_for_status(
    database: Database,
    run_id: uuid.UUID,
    *statuses: RunStatus,
    within: float = 15.0,
    every: float = 0.01,
) -> RunOut:
    async def _check() -> RunOut | None:
        run = await get_run(database, run_id)
        return run if run.status in statuses else None

    return await wait_until(_check, within=within, message=f"run in {statuses}", every=every)


async def wait_for_task(
    database: Database, run_id: uuid.UUID, key: str, *statuses: TaskRunStatus, within=15.0
) -> Any:
    async def _check() -> Any:
        run = await get_run(database, run_id)
        task = next(t for t in run.task_runs if t.key == key)
        return task if task.status in statuses else None

    return await wait_until(_check, within=within, message=f"task {key} in {statuses}")


def by_key(run: RunOut) -> dict[str, Any]:
    return {task.key: task for task in run.task_runs}
