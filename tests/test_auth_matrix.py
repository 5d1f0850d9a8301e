"""Access rules enumerated from the app's own routes, so routes added later are covered."""

from __future__ import annotations

import re
import uuid

PUBLIC = {("POST", "/api/v1/auth/login")}


def _api_routes(app):
    """Every (method, path) the OpenAPI document publishes under /api/v1."""
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            for method in operations:
                yield method.upper(), path


def _fill(path: str, **known: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: known.get(m.group(1), str(uuid.uuid4())), path)


async def test_every_api_route_but_login_needs_a_token(app, client):
    checked = 0
    for method, path in _api_routes(app):
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer brs_not-a-real-token"}):
            response = await client.request(method, _fill(path), json={}, headers=headers)
            assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
            assert response.headers["content-type"] == "application/problem+json"
        checked += 1
    assert checked >= 10


async def test_someone_elses_project_is_not_found_on_every_project_path(
    app, client, member, other_member
):
    project = (
        await client.post("/api/v1/projects", json={"name": "Private"}, headers=member.headers)
    ).json()
    checked = 0
    for method, path in _api_routes(app):
        if "{project_id}" not in path:
            continue
        url = _fill(path, project_id=project["id"])
        response = await client.request(method, url, json={}, headers=other_member.headers)
        assert response.status_code == 404, f"{method} {path} answered {response.status_code}"
        checked += 1
    assert checked >= 6
    still_there = await client.get(f"/api/v1/projects/{project['id']}", headers=member.headers)
    assert still_there.json()["name"] == "Private"
