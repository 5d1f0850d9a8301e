"""Scheduled runs through REST and the firing pass: a due fire starts one run of the current
plan however many processes look at once; missed fires follow SKIP or CATCH_UP; nobody else
reaches a project's schedules. The clock is moved with ``now=``, never waited for."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.services.triggers.conftest import add

from berrys.core.db import Database
from berrys.services.triggers import service as triggers
from berrys.wiring import Services


async def _runs(client: httpx.AsyncClient, actor: Any, project_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/projects/{project_id}/runs", headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _fires(
    client: httpx.AsyncClient, actor: Any, project_id: str, schedule: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/projects/{project_id}/schedules/{schedule['id']}/fires", headers=actor.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_due_schedule_fires_once_across_two_loops(
    client: httpx.AsyncClient, services: Services, member: Any, project_id: str
) -> None:
    schedule = await add(client, member, project_id, "schedules", cron="*/5 * * * *")
    due = datetime.fromisoformat(schedule["next_fire_at"])
    database, models = services.database, services.models

    early = await triggers.fire_due(database, models, now=due - timedelta(seconds=1))
    assert early == 0
    started = await asyncio.gather(
        triggers.fire_due(database, models, now=due + timedelta(seconds=1)),
        triggers.fire_due(database, models, now=due + timedelta(seconds=1)),
    )
    assert sorted(started) == [0, 1]

    runs = await _runs(client, member, project_id)
    fires = await _fires(client, member, project_id, schedule)
    assert [fire["run_id"] for fire in fires] == [runs[0]["id"]]
    assert datetime.fromisoformat(fires[0]["fire_at"]) == due
    after = await client.get(
        f"/api/v1/projects/{project_id}/schedules/{schedule['id']}", headers=member.headers
    )
    assert datetime.fromisoformat(after.json()["next_fire_at"]) == due + timedelta(minutes=5)
    assert await triggers.fire_due(database, models, now=due + timedelta(seconds=2)) == 0


@pytest.mark.parametrize(("missed", "expected"), [("SKIP", 1), ("CATCH_UP", 3)])
async def test_missed_fires_follow_the_schedules_policy(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    project_id: str,
    missed: str,
    expected: int,
) -> None:
    schedule = await add(
        client, member, project_id, "schedules", cron="*/5 * * * *", missed=missed, max_catch_up=3
    )
    due = datetime.fromisoformat(schedule["next_fire_at"])
    an_hour_late = due + timedelta(hours=1, seconds=1)  # 13 fire times were missed

    started = await triggers.fire_due(services.database, services.models, now=an_hour_late)

    assert started == expected
    fire_times = [
        datetime.fromisoformat(f["fire_at"])
        for f in await _fires(client, member, project_id, schedule)
    ]
    latest = due + timedelta(hours=1)
    assert fire_times == [latest - timedelta(minutes=5 * n) for n in range(expected)]
    assert len(await _runs(client, member, project_id)) == expected


async def test_a_fire_without_a_plan_records_why(
    client: httpx.AsyncClient, services: Services, member: Any, database: Database
) -> None:
    created = await client.post("/api/v1/projects", json={"name": "Empty"}, headers=member.headers)
    project_id = created.json()["id"]
    schedule = await add(client, member, project_id, "schedules", cron="0 6 * * *")
    due = datetime.fromisoformat(schedule["next_fire_at"])

    assert await triggers.fire_due(database, services.models, now=due) == 0

    (fire,) = await _fires(client, member, project_id, schedule)
    assert fire["run_id"] is None
    assert "no plan" in fire["error"]


async def test_schedules_are_their_projects_and_changes_are_audited(
    client: httpx.AsyncClient, member: Any, other_member: Any, project_id: str
) -> None:
    bad = await client.post(
        f"/api/v1/projects/{project_id}/schedules",
        json={"cron": "every day"},
        headers=member.headers,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    schedule = await add(client, member, project_id, "schedules", cron="0 6 * * 1-5")
    path = f"/api/v1/projects/{project_id}/schedules/{schedule['id']}"
    for response in (
        await client.get(path, headers=other_member.headers),
        await client.patch(path, json={"enabled": False}, headers=other_member.headers),
        await client.get(f"/api/v1/projects/{project_id}/schedules", headers=other_member.headers),
    ):
        assert response.status_code == 404, response.text

    changed = await client.patch(path, json={"cron": "30 7 * * *"}, headers=member.headers)
    assert changed.status_code == 200, changed.text
    assert datetime.fromisoformat(changed.json()["next_fire_at"]).strftime("%H:%M") == "07:30"
    assert (await client.delete(path, headers=member.headers)).status_code == 204
    audit = await client.get(
        "/api/v1/audit", params={"entity_type": "schedule"}, headers=member.headers
    )
    assert audit.status_code == 200, audit.text
    actions = [(e["entity_type"], e["action"]) for e in reversed(audit.json()["items"])]
    assert actions == [("schedule", "CREATE"), ("schedule", "UPDATE"), ("schedule", "DELETE")]
