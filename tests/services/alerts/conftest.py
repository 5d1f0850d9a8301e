"""Alert test helpers: a project of the member's, rules through REST, and evaluation passes
at a chosen time (the conditions count minutes: the tests move the clock, never wait)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.services.runs.conftest import create_run, tasks

from berrys.core.db import Database, utcnow
from berrys.services.alerts import service as alerts
from berrys.services.runs.contracts import RunOut

RULES = "/api/v1/alerts/rules"
EPISODES = "/api/v1/alerts/episodes"
INTERVAL = 30.0


@pytest.fixture
async def project_id(client: httpx.AsyncClient, member: Any) -> str:
    response = await client.post(
        "/api/v1/projects", json={"name": "Alerts"}, headers=member.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_rule(
    client: httpx.AsyncClient, actor: Any, condition: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"name": f"{condition['kind'].lower()} rule", "condition": condition, **fields}
    response = await client.post(RULES, json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


class Clock:
    """Evaluation passes at a time that moves forward by whole evaluation intervals."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.now = utcnow()

    async def evaluate(self, *, after: timedelta = timedelta(0)) -> datetime:
        self.now = max(self.now + timedelta(seconds=INTERVAL), utcnow()) + after
        await alerts.evaluate_due(self.database, interval_seconds=INTERVAL, now=self.now)
        return self.now


@pytest.fixture
def clock(database: Database) -> Clock:
    return Clock(database)


async def episodes_of(
    client: httpx.AsyncClient, actor: Any, rule: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(EPISODES, params={"rule_id": rule["id"]}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def states(client: httpx.AsyncClient, actor: Any, rule: dict[str, Any]) -> list[str]:
    """The statuses of the rule's episodes, oldest first."""
    return [episode["status"] for episode in reversed(await episodes_of(client, actor, rule))]


@dataclass
class ProjectRef:
    """What the run helpers of tests/services/runs need of a project."""

    id: uuid.UUID


async def unattended_run(database: Database, project_id: str) -> RunOut:
    """A QUEUED run no worker takes: RUN_STALLED holds once its minutes have passed."""
    return await create_run(database, ProjectRef(uuid.UUID(project_id)), tasks("a"))
