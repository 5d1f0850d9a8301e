"""Project lifecycle: every legal and illegal transition, and the history it leaves."""

from __future__ import annotations

import pytest

from berrys.services.projects.contracts import ProjectStatus
from berrys.services.projects.service import TRANSITIONS

# The shortest path from DRAFT to every status, to put a project there through the API.
PATHS: dict[ProjectStatus, list[ProjectStatus]] = {
    ProjectStatus.DRAFT: [],
    ProjectStatus.PLANNING: [ProjectStatus.PLANNING],
    ProjectStatus.IN_PROGRESS: [ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS],
    ProjectStatus.PAUSED: [ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS, ProjectStatus.PAUSED],
    ProjectStatus.REVIEW: [ProjectStatus.PLANNING, ProjectStatus.IN_PROGRESS, ProjectStatus.REVIEW],
    ProjectStatus.COMPLETED: [
        ProjectStatus.PLANNING,
        ProjectStatus.IN_PROGRESS,
        ProjectStatus.COMPLETED,
    ],
    ProjectStatus.CANCELLED: [ProjectStatus.CANCELLED],
    ProjectStatus.ARCHIVED: [ProjectStatus.ARCHIVED],
}
ALL_PAIRS = [(a, b) for a in ProjectStatus for b in ProjectStatus if a != b]


async def _project_in(client, actor, status: ProjectStatus) -> str:
    created = await client.post(
        "/api/v1/projects", json={"name": "Lifecycle"}, headers=actor.headers
    )
    assert created.status_code == 201, created.text
    project_id = created.json()["id"]
    for step in PATHS[status]:
        moved = await client.post(
            f"/api/v1/projects/{project_id}/transitions",
            json={"to_status": step.value},
            headers=actor.headers,
        )
        assert moved.status_code == 200, moved.text
    return project_id


@pytest.mark.parametrize(("source", "target"), ALL_PAIRS, ids=lambda s: s.value)
async def test_every_transition_is_allowed_or_refused_by_the_table(client, member, source, target):
    project_id = await _project_in(client, member, source)
    response = await client.post(
        f"/api/v1/projects/{project_id}/transitions",
        json={"to_status": target.value, "reason": "test"},
        headers=member.headers,
    )
    if target in TRANSITIONS[source]:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target.value
    else:
        assert response.status_code == 409
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["allowed"] == sorted(s.value for s in TRANSITIONS[source])
        assert source.value in problem["detail"]
        current = await client.get(f"/api/v1/projects/{project_id}", headers=member.headers)
        assert current.json()["status"] == source.value


async def test_the_documented_table_is_the_enforced_one():
    s = ProjectStatus
    assert {
        s.DRAFT: {s.PLANNING, s.ARCHIVED, s.CANCELLED},
        s.PLANNING: {s.IN_PROGRESS, s.DRAFT, s.CANCELLED},
        s.IN_PROGRESS: {s.PAUSED, s.REVIEW, s.COMPLETED, s.CANCELLED},
        s.PAUSED: {s.IN_PROGRESS, s.CANCELLED},
        s.REVIEW: {s.IN_PROGRESS, s.COMPLETED},
        s.COMPLETED: {s.ARCHIVED},
        s.CANCELLED: {s.ARCHIVED},
        s.ARCHIVED: set(),
    } == TRANSITIONS


async def test_history_records_every_transition_with_reason_and_actor(client, member):
    project_id = await _project_in(client, member, ProjectStatus.DRAFT)
    await client.post(
        f"/api/v1/projects/{project_id}/transitions",
        json={"to_status": "PLANNING", "reason": "kick-off"},
        headers=member.headers,
    )
    history = (
        await client.get(f"/api/v1/projects/{project_id}/history", headers=member.headers)
    ).json()
    assert history["total"] == 2
    creation, planning = history["items"]
    assert (creation["from_status"], creation["to_status"]) == (None, "DRAFT")
    assert (planning["from_status"], planning["to_status"]) == ("DRAFT", "PLANNING")
    assert planning["reason"] == "kick-off"
    assert planning["transitioned_by"] == str(member.id)


async def test_creation_in_planning_records_its_transition(client, member):
    created = await client.post(
        "/api/v1/projects", json={"name": "Ready", "status": "PLANNING"}, headers=member.headers
    )
    assert created.json()["status"] == "PLANNING"
    history = (
        await client.get(f"/api/v1/projects/{created.json()['id']}/history", headers=member.headers)
    ).json()
    assert [(h["from_status"], h["to_status"]) for h in history["items"]] == [(None, "PLANNING")]


async def test_creation_in_a_later_status_is_refused_with_the_allowed_ones(client, member):
    response = await client.post(
        "/api/v1/projects", json={"name": "Done", "status": "COMPLETED"}, headers=member.headers
    )
    assert response.status_code == 422
    assert response.json()["allowed"] == ["DRAFT", "PLANNING"]
    listed = await client.get("/api/v1/projects", headers=member.headers)
    assert listed.json()["total"] == 0


async def test_stats_name_the_allowed_next_states(client, member):
    project_id = await _project_in(client, member, ProjectStatus.IN_PROGRESS)
    stats = (
        await client.get(f"/api/v1/projects/{project_id}/stats", headers=member.headers)
    ).json()
    assert stats["status"] == "IN_PROGRESS"
    assert stats["transitions"] == 3
    assert stats["allowed_transitions"] == ["CANCELLED", "COMPLETED", "PAUSED", "REVIEW"]
