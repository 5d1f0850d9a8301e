"""Intent recognition through the real model router: a scripted model's structured answer is
used; an answer that is not an intent falls back to the rules, and the chat still works."""

from __future__ import annotations

import pytest

from berrys.config import Settings
from berrys.services.llm import service as llm

BAKERY = "Create a project called Bakery Site to build a website for my bakery"


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    """The router without the local model, repairing an answer once."""
    return settings.model_copy(update={"local_model_enabled": False, "llm_max_repairs": 1})


async def _say(client, actor, content):
    session = await client.post("/api/v1/chat/sessions", json={}, headers=actor.headers)
    response = await client.post(
        f"/api/v1/chat/sessions/{session.json()['id']}/messages",
        json={"content": content},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_models_intent_drives_the_action(client, member, models):
    answer = (
        '{"intent": "CREATE_PROJECT", "project_name": "Moon Base", "description": "live there"}'
    )
    with llm.script(models, "berry-test", [answer]) as model:
        reply = await _say(client, member, "I'd like a place to live on the moon")
    assert reply["intent"] == "CREATE_PROJECT"
    assert reply["actions"][0]["result"]["name"] == "Moon Base"
    source = reply["message"]["metadata"]["source"]
    assert (source["provider"], source["model"]) == ("SCRIPTED", "berry-test")
    [request] = model.requests
    assert "Berry" in request.messages[0].content  # the stored persona is the system prompt
    assert request.messages[-1].content == "I'd like a place to live on the moon"


async def test_a_useless_model_answer_falls_back_to_the_rules(client, member, models):
    with llm.script(models, "berry-test", ["not json at all", "still not json"]):
        reply = await _say(client, member, BAKERY)
    assert reply["actions"][0]["status"] == "COMPLETED"
    assert reply["actions"][0]["result"]["name"] == "Bakery Site"
    assert reply["message"]["metadata"]["source"]["provider"] == "RULES"
