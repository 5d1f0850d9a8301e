"""GET /api/v1/search/similar over REST: ranking, visibility, bad input."""

from __future__ import annotations

import pytest

from berrys.services.search import scoring

URL = "/api/v1/search/similar"

PROJECTS = [
    ("Bakery website", "A website for my bakery with online orders for bread and cakes."),
    ("Running club app", "A mobile app for our running club: training plans and race results."),
    ("Tax report", "Prepare the yearly tax declaration and collect receipts for the accountant."),
    ("Garden irrigation", "Automate watering of the vegetable garden with soil moisture sensors."),
    ("Podcast launch", "Record, edit and publish the first ten episodes of a history podcast."),
]


@pytest.fixture(autouse=True)
async def _settled():
    """Background embedding from one test never runs into the next."""
    yield
    await scoring.settle()


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
        assert result["model"] and result["pending"] == 0
        scores = [hit["score"] for hit in result["items"]]
        assert scores == sorted(scores, reverse=True)
        assert all(0.0 <= s <= 1.0 for s in scores)
        assert top["reasons"], top
