"""Agents over REST: create, read, update, delete, access, bad input, messages, prompts."""

from __future__ import annotations

import uuid

import pytest


async def test_create_get_list_update_delete(client, member, project, new_agent):
    agent = await new_agent(
        name="Backend developer",
        role="Builds the API",
        goal="Ship the shop",
        prompt_template="You are {{ agent.name }} working on {{ project.name }}.",
        configuration={"model_preference": "quality", "temperature": 0.2, "budget_usd": 5},
        specialisation={"skills": ["python", "sql"]},
    )
    assert agent["state"] == "CREATED"
    assert agent["allowed_transitions"] == ["ERROR", "INITIALIZING", "TERMINATED"]
    assert agent["configuration"] == {
        "model_preference": "quality",
        "temperature": 0.2,
        "budget_usd": 5.0,
    }
    assert agent["project_id"] == project["id"]
    assert agent["generated"] is False

    got = await client.get(f"/api/v1/agents/{agent['id']}", headers=member.headers)
    assert got.json() == agent

    await new_agent(name="Designer", agent_type="designer")
    listed = await client.get(f"/api/v1/projects/{project['id']}/agents", headers=member.headers)
    assert listed.json()["total"] == 2
    only = await client.get(
        f"/api/v1/projects/{project['id']}/agents",
        params={"agent_type": "DESIGNER", "limit": 1},
        headers=member.headers,
    )
    assert [a["name"] for a in only.json()["items"]] == ["Designer"]

    patched = await client.patch(
        f"/api/v1/agents/{agent['id']}",
        json={"goal": "Ship it well", "configuration": {"temperature": 0.5}},
        headers=member.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["goal"] == "Ship it well"
    assert patched.json()["configuration"]["temperature"] == 0.5
    assert patched.json()["configuration"]["model_preference"] == "quality"

    prompt = await client.get(f"/api/v1/agents/{agent['id']}/system-prompt", headers=member.headers)
    text = prompt.json()["system_prompt"]
    assert text.startswith("You are Builds the API.")
    assert "Your skills: python, sql, software engineering" in text
    assert "Builds, integrates, tests and ships software." in text
    assert text.endswith("You are Backend developer working on Bakery shop.")

    deleted = await client.delete(f"/api/v1/agents/{agent['id']}", headers=member.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/agents/{agent['id']}", headers=member.headers)
    assert gone.status_code == 404


async def test_project_stats_count_agents(client, member, project, new_agent):
    await new_agent()
    await new_agent(name="Second")
    stats = await client.get(f"/api/v1/projects/{project['id']}/stats", headers=member.headers)
    assert stats.status_code == 200
    assert stats.json()["agents"] == 2


async def test_someone_elses_agent_is_not_found_everywhere(client, other_member, new_agent):
    agent = await new_agent()
    base = f"/api/v1/agents/{agent['id']}"
    for method, path, body in [
        ("GET", base, None),
        ("PATCH", base, {"goal": "steal"}),
        ("DELETE", base, None),
        ("POST", f"{base}/transitions", {"to_state": "INITIALIZING"}),
        ("GET", f"{base}/history", None),
        ("GET", f"{base}/system-prompt", None),
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"content": "hello"}),
    ]:
        response = await client.request(method, path, json=body, headers=other_member.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert str(agent["project_id"]) not in response.text


async def test_an_admin_sees_every_agent(client, admin, new_agent):
    agent = await new_agent()
    assert (await client.get(f"/api/v1/agents/{agent['id']}", headers=admin.headers)).is_success


async def test_a_viewer_cannot_write(client, member, viewer, project, new_agent):
    agent = await new_agent()
    base = f"/api/v1/agents/{agent['id']}"
    for method, path, body in [
        ("POST", f"/api/v1/projects/{project['id']}/agents", {"name": "x", "agent_type": "CUSTOM"}),
        ("POST", f"/api/v1/projects/{project['id']}/agents/generate", {"dry_run": True}),
        ("PATCH", base, {"goal": "x"}),
        ("DELETE", base, None),
        ("POST", f"{base}/transitions", {"to_state": "INITIALIZING"}),
        ("POST", f"{base}/messages", {"content": "hello"}),
        ("POST", "/api/v1/agent-templates", {"name": "t", "agent_type": "CUSTOM"}),
    ]:
        response = await client.request(method, path, json=body, headers=viewer.headers)
        assert response.status_code == 403, (method, path, response.text)
    unchanged = await client.get(base, headers=member.headers)
    assert unchanged.json()["state"] == "CREATED"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "agent_type": "DEVELOPER"},
        {"name": "x" * 201, "agent_type": "DEVELOPER"},
        {"name": "x", "agent_type": "WIZARD"},
        {"name": "x"},
        {"name": "x", "agent_type": "DEVELOPER", "configuration": {"temperature": 9}},
        {"name": "x", "agent_type": "DEVELOPER", "configuration": {"colour": "red"}},
        {"name": "x", "agent_type": "DEVELOPER", "prompt_template": "{% if %}"},
        {"name": "x", "agent_type": "DEVELOPER", "overrides": {"role": "y"}},
        {"name": "x", "agent_type": "DEVELOPER", "unknown": 1},
        {"name": "x", "template_id": "not-a-uuid"},
    ],
)
async def test_bad_agent_input_is_422(client, member, project, body):
    response = await client.post(
        f"/api/v1/projects/{project['id']}/agents", json=body, headers=member.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_template_is_404(client, member, project):
    response = await client.post(
        f"/api/v1/projects/{project['id']}/agents",
        json={"name": "x", "template_id": str(uuid.uuid4())},
        headers=member.headers,
    )
    assert response.status_code == 404


async def test_a_busy_agent_cannot_be_deleted_and_a_terminated_one_not_changed(
    client, member, new_agent
):
    agent = await new_agent()
    base = f"/api/v1/agents/{agent['id']}"
    for state in ("INITIALIZING", "READY", "ACTIVE"):
        await client.post(f"{base}/transitions", json={"to_state": state}, headers=member.headers)
    busy = await client.delete(base, headers=member.headers)
    assert busy.status_code == 409
    assert "pause or terminate" in busy.json()["detail"]
    await client.post(
        f"{base}/transitions", json={"to_state": "TERMINATED"}, headers=member.headers
    )
    frozen = await client.patch(base, json={"goal": "more"}, headers=member.headers)
    assert frozen.status_code == 409
    assert (await client.delete(base, headers=member.headers)).status_code == 204


async def test_sandboxed_prompt_cannot_reach_python_internals(client, member, new_agent):
    agent = await new_agent(prompt_template="{{ agent.__class__.__mro__ }}{{ ''.__class__ }}")
    response = await client.get(
        f"/api/v1/agents/{agent['id']}/system-prompt", headers=member.headers
    )
    assert response.status_code in (200, 422)
    assert "object" not in response.text or response.status_code == 422
    assert "<class" not in response.text


async def test_messages_flow_and_status_machine(client, member, other_member, new_agent):
    sender = await new_agent(name="Researcher", agent_type="RESEARCHER")
    receiver = await new_agent(name="Writer", agent_type="ASSISTANT")
    sent = await client.post(
        f"/api/v1/agents/{receiver['id']}/messages",
        json={
            "content": "Findings attached",
            "subject": "hand-off",
            "from_agent_id": sender["id"],
            "payload": {"sources": 3},
        },
        headers=member.headers,
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert message["status"] == "CREATED"
    assert message["from_agent_id"] == sender["id"]

    inbox = await client.get(f"/api/v1/agents/{receiver['id']}/messages", headers=member.headers)
    assert inbox.json()["total"] == 1
    outbox = await client.get(
        f"/api/v1/agents/{sender['id']}/messages",
        params={"direction": "outbox"},
        headers=member.headers,
    )
    assert [m["id"] for m in outbox.json()["items"]] == [message["id"]]

    url = f"/api/v1/agents/{receiver['id']}/messages/{message['id']}"
    illegal = await client.patch(url, json={"status": "PROCESSED"}, headers=member.headers)
    assert illegal.status_code == 409
    assert illegal.json()["allowed"] == ["DELIVERED", "FAILED"]
    delivered = await client.patch(url, json={"status": "DELIVERED"}, headers=member.headers)
    assert delivered.json()["delivered_at"] is not None
    processed = await client.patch(url, json={"status": "processed"}, headers=member.headers)
    assert processed.json()["status"] == "PROCESSED"
    final = await client.patch(url, json={"status": "FAILED"}, headers=member.headers)
    assert final.status_code == 409

    created = await client.get(
        f"/api/v1/agents/{receiver['id']}/messages",
        params={"status": "CREATED"},
        headers=member.headers,
    )
    assert created.json()["total"] == 0
    foreign = await client.patch(url, json={"status": "FAILED"}, headers=other_member.headers)
    assert foreign.status_code == 404


async def test_message_from_an_agent_of_another_project_is_422(client, member, new_agent):
    receiver = await new_agent()
    other_project = (
        await client.post("/api/v1/projects", json={"name": "Other"}, headers=member.headers)
    ).json()
    outsider = (
        await client.post(
            f"/api/v1/projects/{other_project['id']}/agents",
            json={"name": "Out", "agent_type": "CUSTOM"},
            headers=member.headers,
        )
    ).json()
    response = await client.post(
        f"/api/v1/agents/{receiver['id']}/messages",
        json={"content": "hi", "from_agent_id": outsider["id"]},
        headers=member.headers,
    )
    assert response.status_code == 422
    empty = await client.post(
        f"/api/v1/agents/{receiver['id']}/messages", json={"content": ""}, headers=member.headers
    )
    assert empty.status_code == 422


async def test_engine_hand_off_and_delivery(client, member, database, new_agent):
    from berrys.services.agents import _messages
    from berrys.services.agents.contracts import MessageStatusUpdate

    researcher = await new_agent(name="Researcher", agent_type="RESEARCHER")
    writer = await new_agent(name="Writer", agent_type="ASSISTANT")
    async with database.transaction() as session:
        sent = await _messages.hand_off(
            session,
            from_agent_id=uuid.UUID(researcher["id"]),
            to_agent_id=uuid.UUID(writer["id"]),
            content="Findings: three sources agree.",
            payload={"task": "t1"},
            actor_id=member.id,
        )
        delivered = await _messages.set_status(
            session, message_id=sent.id, status_in=MessageStatusUpdate(status="DELIVERED")
        )
    assert delivered.status == "DELIVERED"
    inbox = (
        await client.get(f"/api/v1/agents/{writer['id']}/messages", headers=member.headers)
    ).json()
    assert inbox["items"][0]["payload"] == {"task": "t1"}
    assert inbox["items"][0]["from_agent_id"] == researcher["id"]


async def test_nul_characters_are_422_not_500(client, member, project, new_agent):
    agent = await new_agent()
    base = f"/api/v1/projects/{project['id']}/agents"
    for method, path, body in [
        ("POST", base, {"name": "a\x00b", "agent_type": "CUSTOM"}),
        ("POST", f"{base}/generate", {"description": "Build an app\x00 now.", "dry_run": True}),
        ("PATCH", f"/api/v1/agents/{agent['id']}", {"specialisation": {"skills": ["x\x00"]}}),
        (
            "POST",
            f"/api/v1/agents/{agent['id']}/messages",
            {"content": "hi", "payload": {"\x00": 1}},
        ),
        (
            "POST",
            "/api/v1/agent-templates",
            {"name": "t", "agent_type": "CUSTOM", "tags": ["\x00"]},
        ),
    ]:
        response = await client.request(method, path, json=body, headers=member.headers)
        assert response.status_code == 422, (path, response.text)
    search = await client.get(
        "/api/v1/agent-templates", params={"q": "a\x00"}, headers=member.headers
    )
    assert search.status_code == 422


async def test_an_agents_budget_is_the_routers_agent_budget(
    models, client, member, database, new_agent
):
    from berrys.core.errors import BudgetExceeded
    from berrys.services.llm import service as llm
    from berrys.services.llm.contracts import (
        BudgetScope,
        ChatMessage,
        CompletionRequest,
        ModelTaskType,
    )

    agent = await new_agent(configuration={"budget_usd": 0})
    agent_id = uuid.UUID(agent["id"])

    def request():
        return CompletionRequest(
            messages=[ChatMessage(role="user", content="hello")],
            task_type=ModelTaskType.GENERAL,
            agent_id=agent_id,
        )

    async def budgets():
        async with database.transaction(read_only=True) as session:
            return [
                b
                for b in await llm.get_budgets(session)
                if b.scope == BudgetScope.AGENT and b.agent_id == agent_id
            ]

    assert [b.limit_usd for b in await budgets()] == [0.0]
    model = llm.script(models, "budget-model", ["hi"])
    with pytest.raises(BudgetExceeded):
        await llm.complete(models, database, request())
    assert model.remaining == 1  # refused before any spending

    raised = await client.patch(
        f"/api/v1/agents/{agent['id']}",
        json={"configuration": {"budget_usd": 2.5}},
        headers=member.headers,
    )
    assert raised.status_code == 200
    assert [b.limit_usd for b in await budgets()] == [2.5]
    assert (await llm.complete(models, database, request())).content == "hi"

    await client.patch(
        f"/api/v1/agents/{agent['id']}",
        json={"configuration": {"budget_usd": None}},
        headers=member.headers,
    )
    assert await budgets() == []
    await client.patch(
        f"/api/v1/agents/{agent['id']}",
        json={"configuration": {"budget_usd": 1}},
        headers=member.headers,
    )
    await client.delete(f"/api/v1/agents/{agent['id']}", headers=member.headers)
    assert await budgets() == []
