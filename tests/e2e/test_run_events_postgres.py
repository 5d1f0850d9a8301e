"""A run's events over SSE on PostgreSQL: a stream wakes on the notification its commit sends
(not on the slow fallback poll), the listener comes back when its connection is cut and
nothing is lost meanwhile, and two ``berrys serve`` processes on one database (replicas)
each stream every event of a run in order, a client resuming on the other replica with
``Last-Event-ID``. PostgreSQL only (``BERRYS_TEST_DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from tests.conftest import TEST_DATABASE_URL, Actor, create_actor
from tests.e2e.processes import berrys_env, free_port, serving_together
from tests.e2e.sse import Stream, follow
from tests.faults.postgres import scratch_database
from tests.services.runs.conftest import FAST, create_run, wait_until
from tests.services.runs.scripted import ScriptedExecutor

from berrys.app import create_app
from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.auth import service as auth
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import DependencySpec, RunEventType, RunOut, TaskSpec

pytestmark = pytest.mark.skipif(
    not (TEST_DATABASE_URL or "").startswith("postgresql"),
    reason="LISTEN/NOTIFY: set BERRYS_TEST_DATABASE_URL to a PostgreSQL database",
)


async def _project_run(
    database: Database, actor: Actor, specs: list[TaskSpec], **kwargs: Any
) -> RunOut:
    async with database.transaction() as session:
        user = await auth.get_by_email(session, email=actor.email)
        project = await projects.create(session, project_in=ProjectCreate(name="sse"), user=user)
    return await create_run(database, project, specs, **kwargs)


async def _outbox_seqs(database: Database, run_id: uuid.UUID) -> list[int]:
    async with database.transaction(read_only=True) as session:
        events = await runs.read_events(session, run_id=run_id, limit=100_000)
    return [event["seq"] for event in events]


async def _stage(database: Database, run_id: uuid.UUID, stage: int) -> float:
    """Commit one event from this process (as a worker would); when the commit returned."""
    async with database.transaction() as session:
        await runs.add_events(
            session, run_id=run_id, events=[(RunEventType.WORKFLOW_STAGE, {"stage": stage})]
        )
    return time.monotonic()


@pytest.fixture
async def live(settings: Settings, database: Database) -> AsyncIterator[tuple[str, Any]]:
    """A real server (uvicorn, its lifespan: the listener) on the test database; no worker:
    the test writes the runs' events."""
    app = create_app(settings.model_copy(update={"worker_embedded": False}), database=database)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, message="server started")
    listener = app.state.services.run_events
    await wait_until(lambda: listener.listening, message="listening")
    try:
        yield f"http://127.0.0.1:{server.config.port}", listener
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def test_a_stream_wakes_when_an_event_commits(live, database, member) -> None:
    url, listener = live
    run = await _project_run(database, member, [TaskSpec(key="a", name="a")])
    received = Stream()
    async with httpx.AsyncClient(base_url=url) as http:
        streaming = asyncio.create_task(follow(http, run.id, member.headers, received))
        outbox = await _outbox_seqs(database, run.id)
        await wait_until(lambda: received.seqs == outbox, message="the run's first events")
        latencies = []
        for stage in range(20):
            committed = await _stage(database, run.id, stage)
            expected = len(outbox) + stage + 1
            await wait_until(lambda n=expected: len(received.events) == n, message="the event")
            latencies.append(received.arrived[-1] - committed)
        streaming.cancel()
    assert received.seqs == await _outbox_seqs(database, run.id)
    # Woken by the notification: the fallback poll alone would take ~1 s on average.
    assert listener.poll_seconds == listener.fallback_seconds
    assert statistics.median(latencies) < 0.25, latencies
    assert max(latencies) < listener.fallback_seconds, latencies


async def test_the_listener_reconnects_and_a_stream_loses_nothing(live, database, member) -> None:
    url, listener = live
    run = await _project_run(database, member, [TaskSpec(key="a", name="a")])
    received = Stream()
    async with httpx.AsyncClient(base_url=url) as http:
        streaming = asyncio.create_task(follow(http, run.id, member.headers, received))
        await wait_until(lambda: received.events, message="the run's first events")
        async with database.transaction() as session:
            ended = await session.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'berrys-run-events' AND datname = current_database()"
                )
            )
        # This server's listener (and any an earlier test's server has not finished closing).
        assert ended >= 1
        for stage in range(3):  # while the listener is away or coming back
            await _stage(database, run.id, stage)
        await wait_until(lambda: listener.connections == 2, message="listening again")
        for stage in range(3, 6):
            await _stage(database, run.id, stage)
        outbox = await _outbox_seqs(database, run.id)
        await wait_until(lambda: received.seqs == outbox, within=10, message="every event")
        streaming.cancel()
    assert received.seqs == list(range(1, len(outbox) + 1))


@pytest.fixture
async def own_database() -> AsyncIterator[tuple[str, Database]]:
    """A migrated database of the test's own, for server processes of their own."""
    assert TEST_DATABASE_URL is not None
    async with scratch_database(TEST_DATABASE_URL) as url:
        database = Database(url)
        try:
            await migrate.upgrade(database)
            yield url, database
        finally:
            await database.dispose()


async def _listeners(database: Database) -> int:
    async with database.transaction(read_only=True) as session:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'berrys-run-events' AND datname = current_database()"
            )
        )
    return int(count or 0)


async def test_two_replicas_stream_every_event_of_a_run(
    own_database, settings: Settings, tmp_path: Path
) -> None:
    url, database = own_database
    actor = await create_actor(database)
    chain = [TaskSpec(key=f"t{n}", name=f"t{n}", spec={"hold": True}) for n in range(4)]
    links = [DependencySpec(from_key=f"t{n}", to_key=f"t{n + 1}") for n in range(3)]
    run = await _project_run(database, actor, chain, dependencies=links)
    env = {
        "BERRYS_DATABASE_URL": url,
        "BERRYS_SECRET_KEY": settings.resolved_secret_key,
        "BERRYS_WORKER_EMBEDDED": "false",  # the run is the worker's below
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
    }
    replicas = [tmp_path / "one", tmp_path / "two"]
    for data_dir in replicas:
        data_dir.mkdir()
    # Two servers' start-up (imports) on a loaded machine can take a minute or more.
    together = serving_together(
        replicas, env_of=lambda data_dir: berrys_env(data_dir, **env), healthy_within=180
    )
    with together as up:

        async def listening_on_each() -> bool:
            return await _listeners(database) == len(up)

        await wait_until(listening_on_each, message="a listener on each replica")
        await _stream_on_both(database, run, actor, [server.url for server in up])


async def _stream_on_both(database: Database, run: RunOut, actor: Actor, urls: list[str]) -> None:
    """Clients on each replica follow the run; one hangs up midway and resumes on the other
    replica; the worker (this process) runs the tasks one by one as the test releases them."""
    run_id, keys = run.id, {str(task.id): task.key for task in run.task_runs}
    executor = ScriptedExecutor()
    worker = runs.Worker(database, executor, hooks=runs.HOOKS, config=FAST)
    working = asyncio.create_task(worker.run())
    one, two = httpx.AsyncClient(base_url=urls[0]), httpx.AsyncClient(base_url=urls[1])
    on_one, on_two, moving = Stream(), Stream(), Stream()
    try:
        following = [
            asyncio.create_task(follow(one, run_id, actor.headers, on_one)),
            asyncio.create_task(follow(two, run_id, actor.headers, on_two)),
        ]
        # The moving client hangs up on replica one once the first task has started.
        await follow(one, run_id, actor.headers, moving, stop_after=4)
        hung_up_at = len(moving.events)
        for key in ("t0", "t1", "t2", "t3"):
            await wait_until(
                lambda key=key: executor.started(key), within=30, message=f"{key} started"
            )
            await _both_saw(on_one, on_two, "TASK_STARTED", keys, key)
            executor.release(key)
            await _both_saw(on_one, on_two, "TASK_COMPLETED", keys, key)
        await follow(two, run_id, actor.headers, moving, last_event_id=moving.last_id)
        await asyncio.wait_for(asyncio.gather(*following), 60)
    finally:
        worker.stop()
        await asyncio.wait_for(working, 30)
        await one.aclose()
        await two.aclose()
    outbox = await _outbox_seqs(database, run_id)
    assert outbox == list(range(1, len(outbox) + 1))
    assert on_one.seqs == on_two.seqs == moving.seqs == outbox
    assert on_one.events == on_two.events == moving.events
    assert on_one.end == on_two.end == moving.end == {"status": "COMPLETED", "seq": outbox[-1]}
    assert 0 < hung_up_at < len(outbox)


async def _both_saw(
    first: Stream, second: Stream, kind: str, keys: dict[str, str], key: str
) -> None:
    """Both clients received the live event ``kind`` of task ``key`` (before the test goes on)."""

    def seen(stream: Stream) -> bool:
        return any(
            event["type"] == kind and keys.get(event["task_run_id"]) == key
            for event in stream.events
        )

    await wait_until(
        lambda: seen(first) and seen(second), within=30, message=f"{kind} {key} on both"
    )
