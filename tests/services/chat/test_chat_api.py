"""Berry over REST: a sentence becomes a real project through the projects service, follow-ups
use the conversation, and nothing is a 500."""

from __future__ import annotations

import json

import pytest

from berrys.core.errors import ServiceUnavailable
from berrys.services.chat import _intents
from berrys.services.chat.contracts import ChatIntent, IntentResult, IntentSource

BAKERY = "Create a project called Bakery Site to build a website for my bakery"


async def _session(client, actor, **body):
    response = await client.post("/api/v1/chat/sessions", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _say(client, actor, session_id, content):
    response = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": content},
        headers=actor.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_project_in_chat_creates_exactly_that_project(client, member):
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, BAKERY)

    assert reply["intent"] == "CREATE_PROJECT"
    [action] = reply["actions"]
    assert action["type"] == "CREATE_PROJECT"
    assert action["status"] == "COMPLETED"
    project_id = action["result"]["project_id"]
    assert "Bakery Site" in reply["reply"]

    projects = (await client.get("/api/v1/projects", headers=member.headers)).json()
    assert projects["total"] == 1
    [project] = projects["items"]
    assert project["id"] == project_id
    assert project["name"] == "Bakery Site"
    assert project["description"] == "build a website for my bakery"
    assert project["status"] == "DRAFT"
    assert project["owner_id"] == str(member.id)
    # The same audit entry a REST create writes: one code path.
    trail = (
        await client.get(f"/api/v1/audit?project_id={project_id}", headers=member.headers)
    ).json()
    assert [e["action"] for e in trail["items"]] == ["CREATE"]

    session = (
        await client.get(f"/api/v1/chat/sessions/{session_id}", headers=member.headers)
    ).json()
    assert session["project_id"] == project_id
    assert [m["role"] for m in session["messages"]] == ["USER", "ASSISTANT"]
    assert session["messages"][1]["actions"] == reply["actions"]
    assert session["messages"][1]["metadata"]["source"]["provider"] == "RULES"


async def test_planning_or_running_too_early_says_what_comes_first(client, member):
    session_id = await _session(client, member)
    project_id = (await _say(client, member, session_id, BAKERY))["actions"][0]["result"][
        "project_id"
    ]

    plan = await _say(client, member, session_id, "now plan it")
    [action] = plan["actions"]
    assert (action["type"], action["status"]) == ("PLAN", "FAILED")
    assert action["detail"] == '"Bakery Site" has no team yet to assign tasks to.'
    assert action["result"] == {"project_id": project_id}
    assert plan["reply"].endswith('Say "generate the team" first, then ask me to plan it.')

    run = await _say(client, member, session_id, "start it")
    [action] = run["actions"]
    assert (action["type"], action["status"]) == ("START_RUN", "FAILED")
    assert action["detail"] == '"Bakery Site" has no plan to run yet.'
    assert run["reply"] == '"Bakery Site" has no plan to run yet. Say "now plan it" first.'


async def test_follow_ups_use_the_conversation(client, member):
    session_id = await _session(client, member)
    created = await _say(client, member, session_id, BAKERY)
    project_id = created["actions"][0]["result"]["project_id"]

    team = await _say(client, member, session_id, "generate the team")
    [action] = team["actions"]
    assert (action["type"], action["status"]) == ("GENERATE_TEAM", "COMPLETED")
    assert action["result"]["project_id"] == project_id
    assert action["result"]["agents"]
    agents = (
        await client.get(f"/api/v1/projects/{project_id}/agents", headers=member.headers)
    ).json()
    assert agents["total"] == len(action["result"]["agents"])

    status = await _say(client, member, session_id, "how is it going?")
    [action] = status["actions"]
    assert (action["type"], action["status"]) == ("STATUS", "COMPLETED")
    assert action["result"]["project_id"] == project_id
    assert action["result"]["status"] == "DRAFT"
    assert action["result"]["agents"] == agents["total"]
    assert "Bakery Site" in status["reply"]

    plan = await _say(client, member, session_id, "now plan it")
    [action] = plan["actions"]
    assert (action["type"], action["status"]) == ("PLAN", "COMPLETED")
    assert action["result"]["project_id"] == project_id
    assert action["result"]["tasks"] > 0
    current = await client.get(
        f"/api/v1/projects/{project_id}/plans/current", headers=member.headers
    )
    assert current.json()["id"] == action["result"]["plan_id"]

    again = await _say(client, member, session_id, "plan it again")
    assert [(a["type"], a["status"]) for a in again["actions"]] == [("PLAN", "NEEDS_CONFIRMATION")]
    second = await _say(client, member, session_id, "yes")
    assert [(a["type"], a["status"]) for a in second["actions"]] == [("PLAN", "COMPLETED")]
    assert second["actions"][0]["result"]["version"] == 2

    asked = await _say(client, member, session_id, "start it")
    assert [(a["type"], a["status"]) for a in asked["actions"]] == [
        ("START_RUN", "NEEDS_CONFIRMATION")
    ]
    assert "cost money" in asked["reply"]
    assert (await client.get(f"/api/v1/projects/{project_id}/runs", headers=member.headers)).json()[
        "total"
    ] == 0
    started = await _say(client, member, session_id, "yes")
    [action] = started["actions"]
    assert (action["type"], action["status"]) == ("START_RUN", "COMPLETED")
    run = await client.get(f"/api/v1/runs/{action['result']['run_id']}", headers=member.headers)
    assert run.status_code == 200
    assert run.json()["project_id"] == project_id
    assert len(run.json()["task_runs"]) == second["actions"][0]["result"]["tasks"]

    status = await _say(client, member, session_id, "how is it going?")
    assert status["actions"][0]["result"]["run"]["run_id"] == action["result"]["run_id"]
    assert "latest run" in status["reply"]

    nothing = await _say(client, member, session_id, "approve")
    assert nothing["intent"] == "APPROVE"
    assert nothing["actions"] == []
    assert "Nothing is waiting" in nothing["reply"]


async def test_a_plan_approval_is_answered_in_chat(client, member):
    session_id = await _session(client, member)
    created = await _say(client, member, session_id, BAKERY)
    project_id = created["actions"][0]["result"]["project_id"]
    await client.patch(
        f"/api/v1/projects/{project_id}",
        json={"metadata": {"require_plan_approval": True}},
        headers=member.headers,
    )
    await _say(client, member, session_id, "generate the team")
    await _say(client, member, session_id, "now plan it")
    await _say(client, member, session_id, "start it")
    started = await _say(client, member, session_id, "yes")
    run_id = started["actions"][0]["result"]["run_id"]
    assert "approval" in started["reply"]
    pending = (
        await client.get(
            f"/api/v1/interactions?status=PENDING&project_id={project_id}", headers=member.headers
        )
    ).json()
    assert pending["total"] == 1

    answered = await _say(client, member, session_id, "approve: looks good")
    [action] = answered["actions"]
    assert (action["type"], action["status"]) == ("APPROVE", "COMPLETED")
    assert action["result"]["run_id"] == run_id
    assert action["result"]["approved"] is True
    interaction = (
        await client.get(
            f"/api/v1/interactions/{action['result']['interaction_id']}", headers=member.headers
        )
    ).json()
    assert interaction["status"] == "RESPONDED"
    again = await _say(client, member, session_id, "reject it")
    assert again["actions"] == []


async def test_regenerating_a_team_asks_first(client, member):
    session_id = await _session(client, member)
    await _say(client, member, session_id, BAKERY)
    first = await _say(client, member, session_id, "generate the team")
    first_ids = {a["id"] for a in first["actions"][0]["result"]["agents"]}

    asked = await _say(client, member, session_id, "generate the team again")
    assert [(a["type"], a["status"]) for a in asked["actions"]] == [
        ("GENERATE_TEAM", "NEEDS_CONFIRMATION")
    ]
    session = (
        await client.get(f"/api/v1/chat/sessions/{session_id}", headers=member.headers)
    ).json()
    assert session["pending_action"]["type"] == "GENERATE_TEAM"

    declined = await _say(client, member, session_id, "no")
    assert [(a["type"], a["status"]) for a in declined["actions"]] == [
        ("GENERATE_TEAM", "CANCELLED")
    ]
    project_id = first["actions"][0]["result"]["project_id"]
    agents = (
        await client.get(f"/api/v1/projects/{project_id}/agents", headers=member.headers)
    ).json()
    assert {a["id"] for a in agents["items"]} == first_ids

    await _say(client, member, session_id, "regenerate the team")
    confirmed = await _say(client, member, session_id, "yes")
    assert [(a["type"], a["status"]) for a in confirmed["actions"]] == [
        ("GENERATE_TEAM", "COMPLETED")
    ]
    agents = (
        await client.get(f"/api/v1/projects/{project_id}/agents", headers=member.headers)
    ).json()
    assert {a["id"] for a in agents["items"]}.isdisjoint(first_ids)


async def test_a_project_named_in_the_message_is_the_one_meant(client, member):
    first = await _session(client, member)
    await _say(client, member, first, BAKERY)
    await _say(client, member, first, "Create a project called Garden Planner to plan my garden")
    other = await _say(client, member, first, "how is Bakery Site going?")
    assert other["actions"][0]["result"]["name"] == "Bakery Site"


async def test_streamed_reply(client, member):
    session_id = await _session(client, member)
    response = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": BAKERY},
        headers={**member.headers, "Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    names = [name for name, _ in events]
    assert names[0] == "intent"
    assert names[1] == "action"
    assert names[-1] == "done"
    assert names.count("delta") >= 2
    done = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == done["reply"]
    assert done["actions"][0]["result"]["name"] == "Bakery Site"
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 1


async def test_a_viewer_cannot_create_through_chat(client, viewer):
    session_id = await _session(client, viewer)
    reply = await _say(client, viewer, session_id, BAKERY)
    assert [(a["type"], a["status"]) for a in reply["actions"]] == [("CREATE_PROJECT", "FAILED")]
    assert "VIEWER" in reply["actions"][0]["detail"]
    assert (await client.get("/api/v1/projects", headers=viewer.headers)).json()["total"] == 0


async def test_planning_before_a_team_says_what_to_do_first(client, member):
    session_id = await _session(client, member)
    await _say(client, member, session_id, BAKERY)
    plan = await _say(client, member, session_id, "now plan it")
    assert [(a["type"], a["status"]) for a in plan["actions"]] == [("PLAN", "FAILED")]
    assert "generate the team" in plan["reply"]


async def test_no_name_means_a_question_not_a_project(client, member):
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, "Make a project to track my running")
    assert reply["actions"] == []
    assert "called" in reply["reply"]
    assert (await client.get("/api/v1/projects", headers=member.headers)).json()["total"] == 0


async def test_a_bad_name_is_a_failed_action_not_a_500(client, member):
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, "Create a project called " + "x" * 300)
    assert reply["actions"][0]["status"] == "FAILED"
    assert "200" in reply["actions"][0]["detail"]


async def test_sessions_are_private(client, member, other_member):
    session_id = await _session(client, member)
    await _say(client, member, session_id, "hello")
    for method, url, body in (
        ("GET", f"/api/v1/chat/sessions/{session_id}", None),
        ("POST", f"/api/v1/chat/sessions/{session_id}/messages", {"content": BAKERY}),
    ):
        response = await client.request(method, url, json=body, headers=other_member.headers)
        assert response.status_code == 404
    assert (await client.get("/api/v1/projects", headers=other_member.headers)).json()["total"] == 0
    listed = (await client.get("/api/v1/chat/sessions", headers=other_member.headers)).json()
    assert listed["total"] == 0


async def test_a_session_about_someone_elses_project_is_not_found(client, member, other_member):
    project = (
        await client.post("/api/v1/projects", json={"name": "Mine"}, headers=member.headers)
    ).json()
    response = await client.post(
        "/api/v1/chat/sessions", json={"project_id": project["id"]}, headers=other_member.headers
    )
    assert response.status_code == 404


async def test_empty_message_is_422(client, member):
    session_id = await _session(client, member)
    response = await client.post(
        f"/api/v1/chat/sessions/{session_id}/messages",
        json={"content": "   "},
        headers=member.headers,
    )
    assert response.status_code == 422


async def test_the_model_answer_is_used_when_there_is_one(client, member, monkeypatch):
    seen = {}

    async def model(models, database, *, messages, rules_answer):
        seen["messages"] = messages
        return (
            IntentResult(
                intent=ChatIntent.CREATE_PROJECT, project_name="Moon Base", description="x"
            ),
            IntentSource(provider="SCRIPTED", model="script", fallback=False),
        )

    monkeypatch.setattr(_intents, "complete", model)
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, "I'd like somewhere to live on the moon")
    assert reply["actions"][0]["result"]["name"] == "Moon Base"
    assert reply["message"]["metadata"]["source"]["provider"] == "SCRIPTED"
    assert seen["messages"][0]["role"] == "system"
    assert "Berry" in seen["messages"][0]["content"]
    assert seen["messages"][-1] == {
        "role": "user",
        "content": "I'd like somewhere to live on the moon",
    }


async def test_a_failing_model_falls_back_to_the_rules(client, member, monkeypatch):
    async def broken(models, database, *, messages, rules_answer):
        raise ServiceUnavailable("no model configured")

    monkeypatch.setattr(_intents, "complete", broken)
    session_id = await _session(client, member)
    reply = await _say(client, member, session_id, BAKERY)
    assert reply["actions"][0]["status"] == "COMPLETED"
    source = reply["message"]["metadata"]["source"]
    assert (source["provider"], source["fallback"]) == ("RULES", True)
    assert "no model configured" in source["reason"]


@pytest.mark.parametrize("name", ["greeting", "help"])
async def test_prompts_are_stored_and_editable_by_an_admin(client, admin, member, name):
    prompts = (await client.get("/api/v1/chat/prompts", headers=member.headers)).json()
    assert {p["name"] for p in prompts} == {"persona", "intent", "greeting", "help"}
    assert all(p["is_default"] for p in prompts)

    denied = await client.put(
        f"/api/v1/chat/prompts/{name}", json={"content": "Nope"}, headers=member.headers
    )
    assert denied.status_code == 403
    text = "Howdy! Berry here, ready to build."
    updated = await client.put(
        f"/api/v1/chat/prompts/{name}", json={"content": text}, headers=admin.headers
    )
    assert updated.status_code == 200
    assert updated.json()["is_default"] is False

    session_id = await _session(client, member)
    said = "hello" if name == "greeting" else "help"
    assert (await _say(client, member, session_id, said))["reply"] == text

    reset = await client.delete(f"/api/v1/chat/prompts/{name}", headers=admin.headers)
    assert reset.json()["is_default"] is True
    assert (await _say(client, member, session_id, said))["reply"] != text
    unknown = await client.put(
        "/api/v1/chat/prompts/nonsense", json={"content": "x"}, headers=admin.headers
    )
    assert unknown.status_code == 422
