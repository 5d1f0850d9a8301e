"""GET /api/v1/search/similar over REST: ranking, visibility, bad input."""

from __future__ import annotations

import pytest

from berrys.services.llm import _scoring

URL = "/api/v1/search/similar"

PROJECTS = [
    ("Bakery website", "A website for my bakery with online orders for bread and cakes."),
    ("Running club app", "A mobile app for our running club: training plans and race results."),
    ("Tax report", "Prepare the yearly tax declaration and collect receipts for the accountant."),
    ("Garden irrigation", "Automate watering of the vegetable garden with soil moisture sensors."),
    ("Podcast launch", "Record, edit and publish the first ten episodes of a history podcast."),
]


async def _create(client, actor, name: str, description: str) -> str:
    response = await client.post(
        "/api/v1/projects", json={"name": name, "description": description}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _search(client, actor, **params):
    response = await client.get(URL, params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_relevant_projects_rank_first(client, member):
    ids = {name: await _create(client, member, name, text) for name, text in PROJECTS}
    for query, expected in [
        ("bread shop online ordering", "Bakery website"),
        ("jogging training schedule", "Running club app"),
        ("sensors for watering plants", "Garden irrigation"),
        ("audio show episodes", "Podcast launch"),
    ]:
        result = await _search(client, member, q=query, kind="PROJECT")
        top = result["items"][0]
        assert top["name"] == expected, (query, result["items"])
        assert top["id"] == ids[expected] == top["project_id"]
        assert result["model"]
        assert result["pending"] == 0
        scores = [hit["score"] for hit in result["items"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert top["reasons"], top


async def test_another_users_items_never_appear(client, member, other_member, admin, viewer):
    mine = await _create(client, member, "Bakery website", PROJECTS[0][1])
    theirs = await _create(client, other_member, "Bakery app", "Online orders for a bakery.")
    plan = await client.post(
        f"/api/v1/projects/{theirs}/plans", json={"generate": False}, headers=other_member.headers
    )
    assert plan.status_code == 201, plan.text
    task = await client.post(
        f"/api/v1/plans/{plan.json()['id']}/tasks",
        json={"name": "Bakery order form", "estimate_hours": 4},
        headers=other_member.headers,
    )
    assert task.status_code == 201, task.text
    template = await client.post(
        "/api/v1/agent-templates",
        json={"name": "Bakery marketer", "description": "Sells bread.", "agent_type": "SPECIALIST"},
        headers=other_member.headers,
    )
    assert template.status_code == 201, template.text
    hidden = {theirs, task.json()["id"], template.json()["id"]}

    for actor in (member, viewer):
        found = await _search(client, actor, q="bakery orders", limit=50)
        assert not hidden & {hit["id"] for hit in found["items"]}, found["items"]
    assert [
        h["id"] for h in (await _search(client, member, q="bakery", kind="PROJECT"))["items"]
    ] == [mine]
    assert (await _search(client, viewer, q="bakery", kind="PROJECT"))["total"] == 0
    everything = await _search(client, admin, q="bakery orders", limit=50)
    assert hidden | {mine} <= {hit["id"] for hit in everything["items"]}


async def test_tasks_of_the_current_plan(client, member):
    project = await _create(client, member, "Club app", PROJECTS[1][1])
    plan = (
        await client.post(
            f"/api/v1/projects/{project}/plans", json={"generate": False}, headers=member.headers
        )
    ).json()
    for name, description, skills in [
        ("Design the login screen", "Sign-in with email and password.", ["ui design"]),
        ("Set up the database", "Tables for runners, races and results.", ["sql"]),
        ("Write the privacy policy", "What personal data we keep and why.", ["legal"]),
    ]:
        created = await client.post(
            f"/api/v1/plans/{plan['id']}/tasks",
            json={
                "name": name,
                "description": description,
                "estimate_hours": 3,
                "required_skills": skills,
            },
            headers=member.headers,
        )
        assert created.status_code == 201, created.text
    result = await _search(client, member, q="GDPR and data protection", kind="task")
    top = result["items"][0]
    assert (top["kind"], top["name"], top["project_id"]) == (
        "TASK",
        "Write the privacy policy",
        project,
    )
    result = await _search(client, member, q="database schema", kind="TASK")
    assert result["items"][0]["name"] == "Set up the database"


async def test_agent_templates_and_tools(client, member, database):
    from berrys.services.tools import service as tools

    async with database.transaction() as session:
        await tools.ensure_builtin_tools(session)
    made = await client.post(
        "/api/v1/agent-templates",
        json={
            "name": "Copywriter",
            "description": "Writes product descriptions and newsletters.",
            "agent_type": "SPECIALIST",
            "tags": ["writing", "marketing"],
        },
        headers=member.headers,
    )
    assert made.status_code == 201, made.text
    templates = await _search(client, member, q="marketing texts", kind="AGENT_TEMPLATE")
    assert templates["items"][0]["id"] == made.json()["id"]
    system = await _search(client, member, q="an auditor to review the work", kind="AGENT_TEMPLATE")
    assert system["items"][0]["name"] == "Auditor (system)", system["items"]

    found = await _search(client, member, q="open a text file", kind="TOOL")
    assert found["items"][0]["name"] == "workspace.read_file", found["items"]
    assert {hit["kind"] for hit in found["items"]} == {"TOOL"}


async def test_pages_and_every_kind(client, member):
    for name, text in PROJECTS:
        await _create(client, member, name, text)
    query = {"q": "website or app for customers", "kind": "PROJECT"}
    whole = await _search(client, member, **query, limit=50)
    assert whole["total"] >= 2
    pages = [await _search(client, member, **query, limit=1, offset=n) for n in range(2)]
    assert [page["items"][0]["id"] for page in pages] == [h["id"] for h in whole["items"][:2]]
    assert all(page["total"] == whole["total"] for page in pages)
    mixed = await _search(client, member, q="bakery website")
    assert mixed["items"][0]["kind"] == "PROJECT"
    assert mixed["items"][0]["name"] == "Bakery website"


async def test_unseen_texts_past_the_budget_are_embedded_in_the_background(
    client, member, monkeypatch, services
):
    from berrys.services.search import service

    for name, text in PROJECTS:
        await _create(client, member, f"{name} (budget)", text)
    monkeypatch.setattr(service, "EMBED_BUDGET_SECONDS", 0.0)
    monkeypatch.setattr(_scoring, "BATCH", 2)
    _scoring.cache.clear()
    partial = await _search(client, member, q="bread shop online ordering", kind="PROJECT")
    assert partial["pending"] == len(PROJECTS) - 2
    await services.models.warming.settle()
    full = await _search(client, member, q="bread shop online ordering", kind="PROJECT")
    assert full["pending"] == 0
    assert full["items"][0]["name"] == "Bakery website (budget)"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "PROJECT"}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "bakery", "kind": "PLAN"}, "kind"),
        ({"q": "bakery", "limit": 51}, "limit"),
        ({"q": "bakery", "limit": 0}, "limit"),
        ({"q": "bakery", "offset": -1}, "offset"),
    ],
)
async def test_bad_input_is_422_problem_json(client, member, params, field):
    response = await client.get(URL, params=params, headers=member.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text
    if field == "kind":
        for allowed in ("PROJECT", "TASK", "AGENT_TEMPLATE", "TOOL"):
            assert allowed in response.json()["detail"]


async def test_lowercase_kind_is_accepted_with_a_deprecation_header(client, member):
    await _create(client, member, *PROJECTS[0])
    response = await client.get(
        URL, params={"q": "bakery", "kind": "project"}, headers=member.headers
    )
    assert response.status_code == 200, response.text
    assert response.headers["deprecation"] == "true"
    assert response.json()["items"][0]["kind"] == "PROJECT"
