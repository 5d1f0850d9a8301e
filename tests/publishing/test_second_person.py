"""With BERRYS_PUBLISH_SECOND_PERSON, whoever asked for a publication cannot approve it
(403); someone else's answer carries it out."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.publishing.conftest import publish_pass

from berrys.config import Settings
from berrys.wiring import Services


@pytest.fixture
def services_settings(settings: Settings, git_root: Path) -> Settings:
    return settings.model_copy(
        update={"publish_git_roots": [git_root], "publish_second_person": True}
    )


async def test_the_requester_cannot_approve_their_own_publication(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
) -> None:
    await finished_run(project_id, member)
    asked = await client.post(
        f"/api/v1/projects/{project_id}/publications",
        json={"target": "BUNDLE"},
        headers=member.headers,
    )
    assert asked.status_code == 201, asked.text
    respond = f"/api/v1/interactions/{asked.json()['interaction_id']}/respond"
    own = await client.post(respond, json={"approved": True}, headers=member.headers)
    assert own.status_code == 403
    assert own.headers["content-type"].startswith("application/problem+json")
    assert await publish_pass(services) == 0
    other = await client.post(respond, json={"approved": True}, headers=admin.headers)
    assert other.status_code == 200, other.text
    assert await publish_pass(services) == 1
    published = await client.get(
        f"/api/v1/projects/{project_id}/publications/{asked.json()['id']}",
        headers=member.headers,
    )
    assert published.json()["approved_by"] == str(admin.id)
