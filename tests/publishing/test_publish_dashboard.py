"""The dashboard's Publish action on the project page: offered once a run is reviewed, a
refused form said on the page, the publication listed while it waits for its approval, then
its bundle downloaded from the page; someone else's project is 404."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from typing import Any

import httpx
from tests.e2e.test_dashboard_http import _login
from tests.publishing.conftest import publish_pass

from berrys.wiring import Services


async def test_publish_from_the_project_page(
    client: httpx.AsyncClient,
    services: Services,
    member: Any,
    admin: Any,
    project_id: uuid.UUID,
    finished_run: Any,
) -> None:
    csrf = await _login(client, member)
    page = await client.get(f"/projects/{project_id}")
    assert "Publishing opens once a run has COMPLETED" in page.text
    assert f'action="/projects/{project_id}/publications"' not in page.text

    await finished_run(project_id, member)
    page = await client.get(f"/projects/{project_id}")
    assert f'action="/projects/{project_id}/publications"' in page.text
    refused = await client.post(
        f"/projects/{project_id}/publications",
        data={"csrf_token": csrf, "target": "GIT", "repository": "/etc"},
    )
    assert refused.status_code == 422
    assert "BERRYS_PUBLISH_GIT_ROOTS" in refused.text
    asked = await client.post(
        f"/projects/{project_id}/publications",
        data={"csrf_token": csrf, "target": "BUNDLE", "note": "for the website"},
    )
    assert asked.status_code == 303, asked.text
    page = await client.get(f"/projects/{project_id}")
    assert "PENDING_APPROVAL" in page.text
    (publication,) = (
        await client.get(f"/api/v1/projects/{project_id}/publications", headers=member.headers)
    ).json()["items"]
    answered = await client.post(
        f"/api/v1/interactions/{publication['interaction_id']}/respond",
        json={"approved": True},
        headers=admin.headers,
    )
    assert answered.status_code == 200
    assert await publish_pass(services) == 1

    page = await client.get(f"/projects/{project_id}")
    link = re.search(r'href="(/projects/[^"]+/bundle)"', page.text)
    assert link is not None
    download = await client.get(link.group(1))
    assert download.status_code == 200
    assert "index.html" in zipfile.ZipFile(io.BytesIO(download.content)).namelist()


async def test_someone_elses_project_cannot_be_published_from_the_dashboard(
    client: httpx.AsyncClient, other_member: Any, project_id: uuid.UUID
) -> None:
    csrf = await _login(client, other_member)
    response = await client.post(
        f"/projects/{project_id}/publications", data={"csrf_token": csrf, "target": "BUNDLE"}
    )
    assert response.status_code == 404
    bundle = await client.get(f"/projects/{project_id}/publications/{uuid.uuid4()}/bundle")
    assert bundle.status_code == 404
