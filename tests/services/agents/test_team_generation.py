"""Team generation from a description, offline (the catalogue): the response's shape,
persistence, regeneration, the audit trail and bad input. How well the catalogue staffs
projects is measured in benchmarks/understanding.py and tests/services/catalogue."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

FIXTURES = json.loads((Path(__file__).parent / "generation_fixtures.json").read_text())


def _types(team):
    return {agent["agent_type"] for agent in team}


async def _generate(client, actor, project_id, **body):
    return await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json=body, headers=actor.headers
    )


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["key"] for f in FIXTURES])
async def test_generation_over_rest(fixture, client, member, project):
    response = await _generate(
        client, member, project["id"], dry_run=True, description=fixture["description"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    types = _types(body["team"])
    wanted = set(fixture["expected"])
    assert types & wanted
    assert ("DEVELOPER" in types) <= ("DEVELOPER" in wanted)  # no developer without software
    assert body["project_types"]
    assert body["sources"]["requirements"]["provider"] == "RULES"
    assert {r["source"] for r in body["requirements"]} == {"stated", "implied"}
    for requirement in body["requirements"]:
        assert 0 < requirement["confidence"] <= 0.9
        assert requirement["category"] in {
            "FUNCTIONAL",
            "NON_FUNCTIONAL",
            "DOMAIN_SPECIFIC",
            "TECHNICAL",
            "INTEGRATION",
            "COLLABORATION",
        }
    names = {agent["name"] for agent in body["team"]}
    assert len(names) == len(body["team"])
    for edge in body["collaboration"]:
        assert edge["from_agent"] in names
        assert edge["to_agent"] in names
    for agent in body["team"]:
        assert agent["id"] is None
        assert agent["skills"]
        assert agent["role"]
        assert agent["model_preference"]
        if agent["agent_type"] != "COORDINATOR":
            assert agent["requirement_ids"], agent["name"]
    if "COORDINATOR" in types:
        coordinator = next(a for a in body["team"] if a["agent_type"] == "COORDINATOR")
        delegated = {
            e["to_agent"]
            for e in body["collaboration"]
            if e["from_agent"] == coordinator["name"] and e["interaction"] == "DELEGATES"
        }
        assert delegated == names - {coordinator["name"]}


async def test_dry_run_persists_nothing(client, member, project):
    response = await _generate(client, member, project["id"], dry_run=True)
    assert response.status_code == 200
    listed = await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    assert listed.json()["total"] == 0


async def test_generation_persists_team_graph_and_audit(client, member, project):
    response = await _generate(client, member, project["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert _types(body["team"]) >= {"COORDINATOR", "DEVELOPER", "DESIGNER", "AUDITOR"}
    listed = (
        await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    ).json()
    assert listed["total"] == len(body["team"])
    by_id = {agent["id"]: agent for agent in listed["items"]}
    for proposed in body["team"]:
        stored = by_id[proposed["id"]]
        assert stored["generated"] is True
        assert stored["state"] == "CREATED"
        assert stored["specialisation"]["skills"] == proposed["skills"]
        expected_texts = [body["requirements"][n - 1]["text"] for n in proposed["requirement_ids"]]
        assert stored["requirements"] == expected_texts

    graph = (
        await client.get(
            f"/api/v1/projects/{project['id']}/agents/collaboration", headers=member.headers
        )
    ).json()
    assert len(graph) == len(body["collaboration"])
    assert {e["interaction"] for e in graph} >= {"DELEGATES", "HANDS_OFF", "REVIEWS", "REPORTS_TO"}

    audit = (
        await client.get(
            "/api/v1/audit",
            params={"entity_type": "agent_team", "entity_id": project["id"]},
            headers=member.headers,
        )
    ).json()
    assert audit["total"] == 1
    record = audit["items"][0]
    assert record["action"] == "GENERATE"
    produced = {a["name"]: a["requirement_ids"] for a in record["after"]["agents"]}
    assert produced == {a["name"]: a["requirement_ids"] for a in body["team"]}
    assert len(record["after"]["requirements"]) == len(body["requirements"])

    stats = await client.get(f"/api/v1/projects/{project['id']}/stats", headers=member.headers)
    assert stats.json()["agents"] == len(body["team"])


async def test_regeneration_keeps_agents_that_started(client, member, project, new_agent):
    first = (await _generate(client, member, project["id"])).json()
    developer = next(a for a in first["team"] if a["agent_type"] == "DEVELOPER")
    await client.post(
        f"/api/v1/agents/{developer['id']}/transitions",
        json={"to_state": "INITIALIZING"},
        headers=member.headers,
    )
    manual = await new_agent(name="Hand-made", agent_type="CUSTOM")

    second = await _generate(client, member, project["id"])
    assert second.status_code == 201
    body = second.json()
    assert body["kept"] == 1
    assert body["replaced"] == len(first["team"]) - 1
    kept = next(a for a in body["team"] if a["agent_type"] == "DEVELOPER")
    assert kept["id"] == developer["id"]
    assert kept["kept"] is True
    old_ids = {a["id"] for a in first["team"]} - {developer["id"]}
    assert not old_ids & {a["id"] for a in body["team"]}

    listed = (
        await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    ).json()
    ids = {agent["id"] for agent in listed["items"]}
    assert ids == {a["id"] for a in body["team"]} | {manual["id"]}
    for old in old_ids:
        gone = await client.get(f"/api/v1/agents/{old}", headers=member.headers)
        assert gone.status_code == 404
    graph = (
        await client.get(
            f"/api/v1/projects/{project['id']}/agents/collaboration", headers=member.headers
        )
    ).json()
    assert developer["id"] in {e["to_agent_id"] for e in graph}


async def test_a_single_need_gets_a_single_agent(client, member, project):
    body = (
        await _generate(
            client, member, project["id"], description="Write a short blog post about our launch."
        )
    ).json()
    types = [a["agent_type"] for a in body["team"]]
    assert "ASSISTANT" in types
    assert set(types) <= {"ASSISTANT", "AUDITOR", "RESEARCHER"}  # a writer, maybe an editor


async def test_a_description_without_signals_gets_one_generalist_with_low_confidence(
    client, member, project
):
    body = (await _generate(client, member, project["id"], description="Help us, please.")).json()
    assert [a["agent_type"] for a in body["team"]] == ["ASSISTANT"]
    assert all(r["confidence"] <= 0.5 for r in body["requirements"])


@pytest.mark.parametrize(
    "body",
    [
        {"description": ""},
        {"description": "   "},
        {"description": "x" * 10_001},
        {"dry_run": "maybe"},
        {"unknown": True},
    ],
)
async def test_bad_generation_input_is_422(client, member, project, body):
    response = await _generate(client, member, project["id"], **body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_project_without_a_usable_description_is_422(client, member):
    for description in ("", "y " * 6000):
        project = (
            await client.post(
                "/api/v1/projects",
                json={"name": "Vague", "description": description},
                headers=member.headers,
            )
        ).json()
        response = await _generate(client, member, project["id"], dry_run=True)
        assert response.status_code == 422, response.text
        assert "description" in response.json()["detail"]


async def test_someone_elses_project_cannot_be_generated_for(client, other_member, project):
    response = await _generate(client, other_member, project["id"], dry_run=True)
    assert response.status_code == 404


async def test_concurrent_generations_leave_exactly_one_team(client, member, project):
    first, second = await asyncio.gather(
        _generate(client, member, project["id"]), _generate(client, member, project["id"])
    )
    assert first.status_code == second.status_code == 201
    size = len(first.json()["team"])
    assert sorted([first.json()["replaced"], second.json()["replaced"]]) == [0, size]
    listed = (
        await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    ).json()
    assert listed["total"] == size
    graph = (
        await client.get(
            f"/api/v1/projects/{project['id']}/agents/collaboration", headers=member.headers
        )
    ).json()
    assert len(graph) == len(first.json()["collaboration"])
