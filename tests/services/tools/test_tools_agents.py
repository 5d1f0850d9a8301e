"""Agent tool bindings: REST, access, the engine's view, and enforcement on invocation."""

from __future__ import annotations

import uuid

from berrys.services.tools import service


async def _agent(client, member, project) -> dict:  # type: ignore[no-untyped-def]
    created = await client.post(
        f"/api/v1/projects/{project['id']}/agents",
        json={"name": "Analyst", "agent_type": "RESEARCHER"},
        headers=member.headers,
    )
    assert created.status_code == 201, created.text
    return created.json()


async def test_bind_list_rebind_unbind(client, member, other_member, builtins, project, database):
    agent = await _agent(client, member, project)
    base = f"/api/v1/agents/{agent['id']}/tools"
    math, write = builtins["math.evaluate"], builtins["workspace.write_file"]

    bound = await client.post(base, json={"tool_id": math}, headers=member.headers)
    assert bound.status_code == 201, bound.text
    assert bound.json()["id"] == math
    assert bound.json()["approval_policy"] == "AUTO"
    careful = await client.post(
        base, json={"tool_id": write, "requires_approval": True}, headers=member.headers
    )
    assert careful.json()["approval_policy"] == "REQUIRES_APPROVAL"
    assert careful.json()["tool_approval_policy"] == "AUTO"

    listed = await client.get(base, headers=member.headers)
    assert [t["name"] for t in listed.json()] == ["math.evaluate", "workspace.write_file"]
    assert (await client.get(base, headers=other_member.headers)).status_code == 404
    stranger = await client.post(base, json={"tool_id": math}, headers=other_member.headers)
    assert stranger.status_code == 404

    forbidden = await client.post(
        base, json={"tool_id": math, "allowed": False}, headers=member.headers
    )
    assert forbidden.status_code == 201
    assert forbidden.json()["approval_policy"] == "DENY"
    async with database.transaction(read_only=True) as session:
        usable = await service.get_agent_tools(session, agent_id=uuid.UUID(agent["id"]))
    assert [t.name for t in usable] == ["workspace.write_file"]

    gone = await client.delete(f"{base}/{write}", headers=member.headers)
    assert gone.status_code == 204
    again = await client.delete(f"{base}/{write}", headers=member.headers)
    assert again.status_code == 404
    unknown_tool = await client.post(
        base, json={"tool_id": str(uuid.uuid4())}, headers=member.headers
    )
    assert unknown_tool.status_code == 404
    unknown_agent = await client.get(f"/api/v1/agents/{uuid.uuid4()}/tools", headers=member.headers)
    assert unknown_agent.status_code == 404


async def test_invocation_honours_the_agent_binding(client, member, builtins, project):
    agent = await _agent(client, member, project)
    math, write = builtins["math.evaluate"], builtins["workspace.write_file"]
    base = f"/api/v1/agents/{agent['id']}/tools"

    def call(tool: str, arguments: dict) -> dict:
        return {"arguments": arguments, "agent_id": agent["id"], "project_id": project["id"]}

    unbound = await client.post(
        f"/api/v1/tools/{math}/invoke",
        json=call(math, {"expression": "1+1"}),
        headers=member.headers,
    )
    assert unbound.status_code == 403
    assert "no binding" in unbound.json()["detail"]

    await client.post(base, json={"tool_id": math}, headers=member.headers)
    ok = await client.post(
        f"/api/v1/tools/{math}/invoke",
        json=call(math, {"expression": "1+1"}),
        headers=member.headers,
    )
    assert ok.status_code == 200
    assert ok.json()["output"]["value"] == 2

    await client.post(
        base, json={"tool_id": write, "requires_approval": True}, headers=member.headers
    )
    needs_approval = await client.post(
        f"/api/v1/tools/{write}/invoke",
        json=call(write, {"path": "a.txt", "content": "x"}),
        headers=member.headers,
    )
    assert needs_approval.status_code == 409

    await client.post(base, json={"tool_id": math, "allowed": False}, headers=member.headers)
    refused = await client.post(
        f"/api/v1/tools/{math}/invoke",
        json=call(math, {"expression": "1+1"}),
        headers=member.headers,
    )
    assert refused.status_code == 403

    usage = await client.get(f"/api/v1/tools/{math}/usage", headers=member.headers)
    assert usage.json() == [
        {
            "tool_id": math,
            "agent_id": agent["id"],
            "calls": 1,
            "successes": 1,
            "failures": 0,
            "mean_duration_ms": usage.json()[0]["mean_duration_ms"],
            "last_used_at": usage.json()[0]["last_used_at"],
        }
    ]


async def test_deleting_the_agent_removes_its_bindings(client, member, builtins, project, database):
    agent = await _agent(client, member, project)
    await client.post(
        f"/api/v1/agents/{agent['id']}/tools",
        json={"tool_id": builtins["math.evaluate"]},
        headers=member.headers,
    )
    deleted = await client.delete(f"/api/v1/agents/{agent['id']}", headers=member.headers)
    assert deleted.status_code == 204
    async with database.transaction(read_only=True) as session:
        assert await service.get_agent_tools(session, agent_id=uuid.UUID(agent["id"])) == []
