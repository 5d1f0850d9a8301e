"""Team generation through the model router with the SCRIPTED provider replaying realistic
model answers: a usable team is kept exactly; an answer that fails validation falls back to
the catalogue, and the response says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from berrys.services.catalogue import service as catalogue
from berrys.services.llm import service as llm

HERE = Path(__file__).parent
FIXTURES = json.loads((HERE / "generation_fixtures.json").read_text())
ANSWERS = json.loads((HERE / "scripted_answers.json").read_text())


async def _generate(client, actor, project_id, **body):
    return await client.post(
        f"/api/v1/projects/{project_id}/agents/generate", json=body, headers=actor.headers
    )


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["key"] for f in FIXTURES])
async def test_scripted_model_answers_give_exactly_the_expected_team(
    fixture, client, member, project, models
):
    answer = ANSWERS[fixture["key"]]
    with llm.script(
        models, "team-model", [json.dumps(answer["requirements"]), json.dumps(answer["team"])]
    ) as model:
        response = await _generate(
            client, member, project["id"], dry_run=True, description=fixture["description"]
        )
        assert model.remaining == 0
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(a["agent_type"] for a in body["team"]) == sorted(fixture["expected"])
    assert [a["name"] for a in body["team"]] == [a["name"] for a in answer["team"]["agents"]]
    assert body["notes"] == []
    assert len(body["collaboration"]) == len(answer["team"]["collaboration"])
    for step in ("requirements", "team"):
        source = body["sources"][step]
        assert (source["provider"], source["model"]) == ("SCRIPTED", "team-model")
        assert source["from_rules"] is False
        assert source["fallback"] is False
    texts = [r["text"] for r in body["requirements"]]
    assert texts == [r["text"] for r in answer["requirements"]["requirements"]]
    # the model was asked with our instructions, the description and the numbered requirements
    first, second = model.requests
    assert fixture["description"] in first.messages[-1].content
    assert '"id": 1' in second.messages[-1].content


async def test_a_persisted_scripted_team_records_the_model_in_the_audit(
    client, member, project, models
):
    answer = ANSWERS["web_shop"]
    with llm.script(
        models, "team-model", [json.dumps(answer["requirements"]), json.dumps(answer["team"])]
    ):
        response = await _generate(client, member, project["id"])
    assert response.status_code == 201, response.text
    audit = (
        await client.get(
            "/api/v1/audit",
            params={"entity_type": "agent_team", "entity_id": project["id"]},
            headers=member.headers,
        )
    ).json()
    sources = audit["items"][0]["after"]["sources"]
    assert sources["team"]["provider"] == "SCRIPTED"
    agents = (
        await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    ).json()
    auditor = next(a for a in agents["items"] if a["agent_type"] == "AUDITOR")
    assert auditor["name"] == "Payments Auditor"
    assert auditor["requirements"] == [
        "Card payments are PCI DSS compliant",
        "Customer data is protected",
    ]


async def test_an_answer_that_fails_validation_falls_back_to_the_rules(
    models, client, member, project
):
    description = FIXTURES[1]["description"]
    invalid = [
        "Sure! Here is your team: a developer and a tester.",
        json.dumps({"requirements": [{"text": "x", "category": "UI", "priority": "HIGH"}]}),
        json.dumps({"requirements": "none"}),
    ]
    not_a_team = [
        json.dumps({"agents": []}),
        json.dumps({"agents": [{"name": "A", "agent_type": "WIZARD", "role": "r"}]}),
        "{",
    ]
    with llm.script(models, "flaky-model", invalid + not_a_team) as model:
        response = await _generate(
            client, member, project["id"], dry_run=True, description=description
        )
        assert model.remaining == 0
    assert response.status_code == 200, response.text
    body = response.json()
    for step in ("requirements", "team"):
        source = body["sources"][step]
        assert source["provider"] == "RULES"
        assert source["from_rules"] is True
        assert source["fallback"] is True
    by_catalogue = catalogue.team_draft(await catalogue.understand(models, description))
    assert [a["name"] for a in body["team"]] == [a.name for a in by_catalogue.agents]


async def test_a_team_answer_that_breaks_the_invariants_is_repaired_and_noted(
    client, member, project, models
):
    answer = ANSWERS["web_shop"]
    agents = [a for a in answer["team"]["agents"] if a["agent_type"] != "COORDINATOR"]
    twin = {**agents[0], "requirement_ids": [99]}
    team = {
        "agents": [*agents, twin],
        "collaboration": [{"from_agent": "Nobody", "to_agent": agents[0]["name"],
                           "interaction": "DELEGATES", "description": "x"}],
    }  # fmt: skip
    with llm.script(models, "team-model", [json.dumps(answer["requirements"]), json.dumps(team)]):
        response = await _generate(client, member, project["id"], dry_run=True)
    body = response.json()
    assert body["sources"]["team"]["provider"] == "SCRIPTED"
    assert body["team"][0]["agent_type"] == "COORDINATOR"
    assert any("COORDINATOR" in note for note in body["notes"])
    assert any("renamed a second" in note for note in body["notes"])
    assert any("unknown agent" in note for note in body["notes"])
    assert all(99 not in a["requirement_ids"] for a in body["team"])
    names = {a["name"] for a in body["team"]}
    assert len(names) == len(body["team"])
    assert body["collaboration"]


async def test_regeneration_keeps_a_started_agent_the_model_names_differently(
    client, member, project, models
):
    first = (await _generate(client, member, project["id"])).json()  # the catalogue's names
    developer = next(a for a in first["team"] if a["agent_type"] == "DEVELOPER")
    await client.post(
        f"/api/v1/agents/{developer['id']}/transitions",
        json={"to_state": "INITIALIZING"},
        headers=member.headers,
    )
    answer = ANSWERS["web_shop"]  # the model calls its developer "Commerce Engineer"
    with llm.script(
        models, "team-model", [json.dumps(answer["requirements"]), json.dumps(answer["team"])]
    ):
        second = (await _generate(client, member, project["id"])).json()
    assert second["kept"] == 1
    kept = next(a for a in second["team"] if a["agent_type"] == "DEVELOPER")
    assert (kept["id"], kept["name"], kept["kept"]) == (developer["id"], developer["name"], True)
    assert ("Shop Lead", developer["name"]) in {
        (e["from_agent"], e["to_agent"]) for e in second["collaboration"]
    }
    assert "Commerce Engineer" not in json.dumps(second["collaboration"])
    listed = (
        await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    ).json()
    assert listed["total"] == 4
    graph = (
        await client.get(
            f"/api/v1/projects/{project['id']}/agents/collaboration", headers=member.headers
        )
    ).json()
    assert len(graph) == len(second["collaboration"])
    assert developer["id"] in {e["from_agent_id"] for e in graph} | {
        e["to_agent_id"] for e in graph
    }
