"""Each kind of alert rule through REST and the evaluator: it fires once, stays open
without a second episode while its condition holds, and resolves when it clears."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from tests.services.alerts.conftest import (
    Clock,
    ProjectRef,
    add_rule,
    episodes_of,
    states,
    unattended_run,
)
from tests.services.runs.conftest import (
    FAST,
    create_run,
    get_run,
    tasks,
    wait_for_status,
    wait_for_task,
    wait_until,
)
from tests.services.runs.scripted import ScriptedExecutor

from berrys.app import create_app
from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.alerts import service as alerts
from berrys.services.alerts.tables import AlertRule
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import HumanInteractionType
from berrys.services.llm import service as llm
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import RunStatus, TaskRunStatus
from berrys.wiring import Services

FIRING, RESOLVED = "FIRING", "RESOLVED"


async def _run_to_end(database: Database, project_id: str, specs: list[Any]) -> None:
    """Run tasks with a real worker until the run has ended."""
    run = await create_run(database, ProjectRef(uuid.UUID(project_id)), specs)
    worker = runs.Worker(database, ScriptedExecutor(), hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await wait_for_status(database, run.id, RunStatus.FAILED, RunStatus.COMPLETED)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)


async def test_task_failure_rate_fires_once_and_resolves_when_the_window_passes(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    condition = {
        "kind": "TASK_FAILURE_RATE",
        "threshold_percent": 30,
        "window_minutes": 60,
        "min_tasks": 3,
    }
    rule = await add_rule(client, member, condition, project_id=project_id)
    specs = tasks("a", "b", "c", a={"permanent": True})
    await _run_to_end(database, project_id, specs)

    await clock.evaluate()
    await clock.evaluate()
    assert await states(client, member, rule) == [FIRING]
    [episode] = await episodes_of(client, member, rule)
    assert episode["details"]["failed"] == 1
    assert episode["details"]["finished"] == 3
    assert "1 of 3 tasks failed" in episode["summary"]

    await clock.evaluate(after=timedelta(minutes=61))
    assert await states(client, member, rule) == [RESOLVED]


async def test_budget_spent_fires_and_resolves_when_the_limit_is_raised(
    client: httpx.AsyncClient,
    member: Any,
    project_id: str,
    clock: Clock,
    models: llm.Runtime,
) -> None:
    rule = await add_rule(
        client, member, {"kind": "BUDGET_SPENT", "threshold_percent": 80}, project_id=project_id
    )
    costly = {"usage": {"prompt_tokens": 1000, "completion_tokens": 0}, "content": "pricey"}
    with llm.script(models, "costly", [costly], input_price_per_million=2.0):
        chat = {"messages": [{"role": "user", "content": "hello"}], "project_id": project_id}
        spent = await client.post("/api/v1/models/chat", json=chat, headers=member.headers)
        assert spent.status_code == 200, spent.text  # $0.002
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 0.0024}
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    ).is_success

    await clock.evaluate()
    await clock.evaluate()
    assert await states(client, member, rule) == [FIRING]
    [episode] = await episodes_of(client, member, rule)
    assert episode["details"]["budgets"][0]["spent_percent"] == pytest.approx(83.33, abs=0.01)

    budget["limit_usd"] = 1.0
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    ).is_success
    await clock.evaluate()
    assert await states(client, member, rule) == [RESOLVED]


async def test_stalled_run_fires_once_and_resolves_when_the_run_ends(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client, member, {"kind": "RUN_STALLED", "idle_minutes": 10}, project_id=project_id
    )
    run = await unattended_run(database, project_id)
    await clock.evaluate()
    assert await states(client, member, rule) == []

    await clock.evaluate(after=timedelta(minutes=10))
    await clock.evaluate()
    assert await states(client, member, rule) == [FIRING]
    [episode] = await episodes_of(client, member, rule)
    assert episode["details"]["runs"][0]["run_id"] == str(run.id)

    cancelled = await client.post(f"/api/v1/runs/{run.id}/cancel", headers=member.headers)
    assert cancelled.status_code == 200, cancelled.text
    await clock.evaluate()
    assert await states(client, member, rule) == [RESOLVED]


async def test_waiting_approval_fires_once_and_resolves_when_answered(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client, member, {"kind": "APPROVAL_WAITING", "waiting_minutes": 60}, project_id=project_id
    )
    async with database.transaction() as session:
        approval = await interactions.create(
            session,
            type=HumanInteractionType.APPROVAL,
            project_id=uuid.UUID(project_id),
            title="Send the newsletter",
            details={"subject": "TOOL_CALL"},
        )
    await clock.evaluate(after=timedelta(minutes=30))
    assert await states(client, member, rule) == []
    await clock.evaluate(after=timedelta(minutes=31))
    await clock.evaluate()
    assert await states(client, member, rule) == [FIRING]

    answered = await client.post(
        f"/api/v1/interactions/{approval.id}/respond",
        json={"approved": True},
        headers=member.headers,
    )
    assert answered.status_code == 200, answered.text
    await clock.evaluate()
    assert await states(client, member, rule) == [RESOLVED]


async def test_silent_worker_fires_once_and_resolves_when_its_task_ends(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client, member, {"kind": "WORKER_SILENT", "grace_minutes": 2}, project_id=project_id
    )
    executor = ScriptedExecutor()
    run = await create_run(
        database, ProjectRef(uuid.UUID(project_id)), tasks("a", a={"hold": True})
    )
    worker = runs.Worker(database, executor, hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await wait_for_task(database, run.id, "a", TaskRunStatus.RUNNING)
        await clock.evaluate()
        assert await states(client, member, rule) == []
        # Three minutes on, the lease (5 s, renewed by heartbeats) is two minutes past due.
        await clock.evaluate(after=timedelta(minutes=3))
        await clock.evaluate()
        assert await states(client, member, rule) == [FIRING]
        [episode] = await episodes_of(client, member, rule)
        assert episode["details"]["workers"] == [worker.worker_id]

        executor.release("a")
        await wait_for_status(database, run.id, RunStatus.COMPLETED)
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    await clock.evaluate()
    assert await states(client, member, rule) == [RESOLVED]
    assert (await get_run(database, run.id)).status == RunStatus.COMPLETED


async def test_a_worker_without_heartbeats_fires_once_and_resolves_when_it_leaves(
    client: httpx.AsyncClient, database: Database, admin: Any, clock: Clock
) -> None:
    """The worker is what goes silent, holding tasks or not: an idle one counts too."""
    rule = await add_rule(client, admin, {"kind": "WORKER_SILENT", "grace_minutes": 2})
    worker = runs.Worker(database, ScriptedExecutor(), hooks=runs.HOOKS, config=FAST)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.ready.wait(), 10)
        await clock.evaluate()
        assert await states(client, admin, rule) == []
        # Evaluated three minutes on, its last heartbeat (now) is a minute past the grace.
        await clock.evaluate(after=timedelta(minutes=3))
        await clock.evaluate(after=timedelta(minutes=1))
        assert await states(client, admin, rule) == [FIRING]  # one episode, still open
        [episode] = await episodes_of(client, admin, rule)
        assert episode["details"]["workers"] == [worker.worker_id]
        assert episode["details"]["tasks_held"] == 0
    finally:
        worker.stop()
        await asyncio.wait_for(running, 10)
    await clock.evaluate()  # it left: registered no more
    assert await states(client, admin, rule) == [RESOLVED]


async def test_a_disabled_rule_is_not_evaluated(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client,
        member,
        {"kind": "RUN_STALLED", "idle_minutes": 1},
        project_id=project_id,
        enabled=False,
    )
    await unattended_run(database, project_id)
    await clock.evaluate(after=timedelta(minutes=5))
    assert await states(client, member, rule) == []


async def test_loops_in_two_processes_open_one_episode_and_metrics_show_it(
    client: httpx.AsyncClient, services: Services, member: Any, admin: Any, project_id: str
) -> None:
    """Two evaluator loops on one database (as two processes run them): one episode."""
    rule = await add_rule(
        client, member, {"kind": "BUDGET_SPENT", "threshold_percent": 50}, project_id=project_id
    )
    costly = {"usage": {"prompt_tokens": 1000, "completion_tokens": 0}, "content": "pricey"}
    with llm.script(services.models, "costly", [costly], input_price_per_million=2.0):
        chat = {"messages": [{"role": "user", "content": "hello"}], "project_id": project_id}
        assert (
            await client.post("/api/v1/models/chat", json=chat, headers=member.headers)
        ).is_success
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 0.002}
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    ).is_success

    settings = services.settings.model_copy(update={"alerts_evaluation_seconds": 1.0})
    loops = [
        alerts.AlertLoop(services.database, services.models.secrets, settings).start()
        for _ in range(2)
    ]
    try:
        await wait_until(
            lambda: _firing(client, member, rule), within=15, message="the episode fired"
        )

        # Both loops evaluate the rule again, each at least once more.
        async def evaluated_again() -> bool:
            fresh = (
                await client.get(f"/api/v1/alerts/rules/{rule['id']}", headers=member.headers)
            ).json()
            return bool(fresh["last_evaluated_at"] and fresh["last_evaluated_at"] > first_seen)

        first_seen = (
            await client.get(f"/api/v1/alerts/rules/{rule['id']}", headers=member.headers)
        ).json()["last_evaluated_at"]
        await wait_until(evaluated_again, within=15, message="another evaluation")
    finally:
        for loop in loops:
            await loop.stop()
    assert await states(client, member, rule) == [FIRING]

    metrics = (await client.get("/metrics")).text
    assert 'berrys_alerts_firing{kind="BUDGET_SPENT"} 1.0' in metrics
    assert 'berrys_alerts_firing{kind="RUN_STALLED"} 0.0' in metrics


async def _firing(client: httpx.AsyncClient, actor: Any, rule: dict[str, Any]) -> bool:
    return await states(client, actor, rule) == [FIRING]


async def test_a_rule_changed_to_another_kind_ends_the_old_episode(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    rule = await add_rule(
        client, member, {"kind": "RUN_STALLED", "idle_minutes": 5}, project_id=project_id
    )
    await unattended_run(database, project_id)
    await clock.evaluate(after=timedelta(minutes=6))
    assert await states(client, member, rule) == [FIRING]
    changed = await client.patch(
        f"/api/v1/alerts/rules/{rule['id']}",
        json={"condition": {"kind": "WORKER_SILENT", "grace_minutes": 1}},
        headers=member.headers,
    )
    assert changed.status_code == 200, changed.text
    await clock.evaluate()
    assert await states(client, member, rule) == [RESOLVED]


async def test_the_served_app_runs_the_evaluator_in_its_lifespan(
    client: httpx.AsyncClient,
    settings: Settings,
    models: llm.Runtime,
    member: Any,
    project_id: str,
) -> None:
    """``berrys serve``'s app (its lifespan, its own Database) evaluates rules by itself."""
    rule = await add_rule(
        client, member, {"kind": "BUDGET_SPENT", "threshold_percent": 50}, project_id=project_id
    )
    costly = {"usage": {"prompt_tokens": 1000, "completion_tokens": 0}, "content": "pricey"}
    with llm.script(models, "costly", [costly], input_price_per_million=2.0):
        chat = {"messages": [{"role": "user", "content": "hello"}], "project_id": project_id}
        assert (
            await client.post("/api/v1/models/chat", json=chat, headers=member.headers)
        ).is_success
    budget = {"scope": "PROJECT", "project_id": project_id, "limit_usd": 0.002}
    assert (
        await client.put("/api/v1/models/budgets", json=budget, headers=member.headers)
    ).is_success

    served_settings = settings.model_copy(
        update={
            "worker_embedded": False,
            "embedding_model": "hashing",
            "alerts_evaluation_seconds": 1.0,
            "loop_lag_interval_seconds": 0,
        }
    )
    served = create_app(served_settings, database=Database(settings.resolved_database_url))
    async with served.router.lifespan_context(served):
        await wait_until(
            lambda: _firing(client, member, rule), within=15, message="the served app's evaluation"
        )


async def test_a_rule_that_cannot_be_evaluated_does_not_stop_the_others(
    client: httpx.AsyncClient, database: Database, member: Any, project_id: str, clock: Clock
) -> None:
    broken = await add_rule(
        client, member, {"kind": "RUN_STALLED", "idle_minutes": 5}, project_id=project_id
    )
    async with database.transaction() as session:  # as an older version might have stored
        await session.execute(
            update(AlertRule)
            .where(AlertRule.id == uuid.UUID(broken["id"]))
            .values(params={"idle_minutes": "soon"})
        )
    rule = await add_rule(
        client, member, {"kind": "RUN_STALLED", "idle_minutes": 5}, project_id=project_id
    )
    await unattended_run(database, project_id)
    await clock.evaluate(after=timedelta(minutes=6))
    assert await states(client, member, rule) == [FIRING]
    assert await states(client, member, broken) == []
    await clock.evaluate()
    assert await states(client, member, rule) == [FIRING]
