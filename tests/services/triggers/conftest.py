"""Trigger test helpers: a project of the member's with a one-task plan, its schedules and
webhooks through REST."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
async def project_id(client: httpx.AsyncClient, member: Any) -> str:
    """A project of ``member``'s whose current plan has one task."""
    response = await client.post(
        "/api/v1/projects", json={"name": "Nightly report"}, headers=member.headers
    )
    assert response.status_code == 201, response.text
    project = str(response.json()["id"])
    plan = await client.post(
        f"/api/v1/projects/{project}/plans",
        json={"generate": False, "start_at": "2026-11-30T09:00:00Z"},
        headers=member.headers,
    )
    assert plan.status_code == 201, plan.text
    task = await client.post(
        f"/api/v1/plans/{plan.json()['id']}/tasks",
        json={"name": "Write the report", "estimate_hours": 1},
        headers=member.headers,
    )
    assert task.status_code == 201, task.text
    return project


async def add(
    client: httpx.AsyncClient, actor: Any, project_id: str, kind: str, **body: Any
) -> dict[str, Any]:
    """A schedule or webhook (``kind``) of the project, created through REST."""
    response = await client.post(
        f"/api/v1/projects/{project_id}/{kind}", json=body, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
