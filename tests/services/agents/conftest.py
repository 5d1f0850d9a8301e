"""Helpers for the Agent Orchestrator's tests: a project of ``member`` and agents in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

FIXTURES = json.loads((Path(__file__).parent / "generation_fixtures.json").read_text())


@pytest.fixture
async def project(client, member) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/projects",
        json={"name": "Bakery shop", "description": FIXTURES[0]["description"]},
        headers=member.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def new_agent(client, member, project):  # type: ignore[no-untyped-def]
    async def _new(**fields: Any) -> dict[str, Any]:
        body = {"name": "Dev", "agent_type": "DEVELOPER", **fields}
        response = await client.post(
            f"/api/v1/projects/{project['id']}/agents", json=body, headers=member.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    return _new
