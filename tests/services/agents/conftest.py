"""Helpers for the Agent Orchestrator's tests: a project of ``member`` and agents in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from berrys.services.llm import service as llm
from berrys.services.llm.providers import scripted

FIXTURES = json.loads((Path(__file__).parent / "generation_fixtures.json").read_text())


@pytest.fixture(autouse=True)
def _router_without_local_model(settings):
    """RULES and scripted models only: no bundled llama.cpp model, no script or cooldown
    carried from one test to the next (as tests/services/llm/conftest.py does)."""
    offline = settings.model_copy(update={"local_model_enabled": False})
    scripted.reset()
    llm.configure(offline)
    yield
    scripted.reset()
    llm.configure(offline)


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
