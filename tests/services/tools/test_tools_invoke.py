"""Governed invocation: schema (422 with JSON paths), DENY, approval hook, timeouts, output cap,
the execution log and usage per agent."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
import uuid
from pathlib import Path

import pytest

from berrys.config import Settings
from berrys.core.db import Database
from berrys.services.tools import service

FLAKY = str(Path(__file__).parent / "servers" / "flaky_server.py")

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "Where."},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "units": {
            "type": "object",
            "properties": {"temperature": {"enum": ["C", "F"]}},
            "required": ["temperature"],
        },
    },
    "required": ["city"],
    "additionalProperties": False,
}


async def _register(client, admin, **fields):  # type: ignore[no-untyped-def]
    body = {
        "name": "weather",
        "source": "BUILTIN",
        "target": "math.evaluate",
        "input_schema": SCHEMA,
        **fields,
    }
    created = await client.post("/api/v1/tools", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    return created.json()


async def test_arguments_are_checked_with_json_paths(client, admin, member):
    tool = await _register(client, admin)
    cases = [
        ({}, "$", "'city' is a required property"),
        ({"city": 3}, "$.city", "3 is not of type 'string'"),
        ({"city": "Oslo", "days": 40}, "$.days", "40 is greater than the maximum of 14"),
        ({"city": "Oslo", "units": {"temperature": "K"}}, "$.units.temperature", "'K' is not one"),
        ({"city": "Oslo", "extra": 1}, "$", "Additional properties are not allowed"),
    ]
    for arguments, path, message in cases:
        answer = await client.post(
            f"/api/v1/tools/{tool['id']}/invoke",
            json={"arguments": arguments},
            headers=member.headers,
        )
        assert answer.status_code == 422, answer.text
        errors = answer.json()["errors"]
        assert errors[0]["path"] == path
        assert message in errors[0]["message"]
        assert path in answer.json()["detail"]
    log = await client.get(
        "/api/v1/tools/executions", params={"tool_id": tool["id"]}, headers=member.headers
    )
    assert [item["outcome"] for item in log.json()["items"]] == ["INVALID"] * len(cases)


async def test_deny_is_refused_and_logged(client, admin, member, builtins):
    math = builtins["math.evaluate"]
    await client.patch(
        f"/api/v1/tools/{math}", json={"approval_policy": "DENY"}, headers=admin.headers
    )
    refused = await client.post(
        f"/api/v1/tools/{math}/invoke",
        json={"arguments": {"expression": "1+1"}},
        headers=member.headers,
    )
    assert refused.status_code == 403
    assert "denied by policy" in refused.json()["detail"]
    log = await client.get(
        "/api/v1/tools/executions", params={"tool_id": math}, headers=member.headers
    )
    [entry] = log.json()["items"]
    assert entry["outcome"] == "DENIED"
    assert entry["user_id"] == str(member.id)
    assert len(entry["arguments_hash"]) == 64
    # A refusal is not a use.
    tool = await client.get(f"/api/v1/tools/{math}", headers=member.headers)
    assert tool.json()["usage_count"] == 0


async def test_rejected_tool_is_refused(client, admin, member, builtins):
    math = builtins["math.evaluate"]
    patched = await client.patch(
        f"/api/v1/tools/{math}", json={"status": "REJECTED"}, headers=admin.headers
    )
    assert patched.status_code == 200
    refused = await client.post(
        f"/api/v1/tools/{math}/invoke",
        json={"arguments": {"expression": "1"}},
        headers=member.headers,
    )
    assert refused.status_code == 403


async def test_requires_approval_never_runs_by_default(client, admin, member, add_server, tool_id):
    await add_server("flaky", transport="STDIO", command=sys.executable, args=[FLAKY])
    forget = await tool_id("flaky.forget")
    tool = await client.get(f"/api/v1/tools/{forget}", headers=member.headers)
    assert tool.json()["approval_policy"] == "REQUIRES_APPROVAL"  # no annotations: destructive
    answer = await client.post(
        f"/api/v1/tools/{forget}/invoke",
        json={"arguments": {"name": "everything"}},
        headers=member.headers,
    )
    assert answer.status_code == 409
    assert answer.json()["title"] == "Approval required"
    assert "flaky.forget" in answer.json()["detail"]
    assert answer.json()["tool_id"] == forget
    log = await client.get(
        "/api/v1/tools/executions", params={"tool_id": forget}, headers=member.headers
    )
    assert [item["outcome"] for item in log.json()["items"]] == ["APPROVAL_REQUIRED"]


async def test_an_approval_policy_decides(app, services, client, member, add_server, tool_id):
    await add_server("flaky", transport="STDIO", command=sys.executable, args=[FLAKY])
    forget = await tool_id("flaky.forget")
    asked: list[service.ApprovalRequest] = []

    async def approve_records_only(request: service.ApprovalRequest) -> None:
        asked.append(request)
        if request.arguments.get("name") != "draft":
            raise service.ApprovalRequired("waiting for a human", interaction_id="i-1")

    invoker = service.ToolInvoker(  # the test's MCP sessions: closed with its Services
        services.database, services.settings, approve=approve_records_only, mcp=services.tools.mcp
    )
    app.state.services = dataclasses.replace(services, tools=invoker)
    approved = await client.post(
        f"/api/v1/tools/{forget}/invoke",
        json={"arguments": {"name": "draft"}},
        headers=member.headers,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["output"]["content"][0]["text"] == "forgot draft"
    pending = await client.post(
        f"/api/v1/tools/{forget}/invoke",
        json={"arguments": {"name": "all"}},
        headers=member.headers,
    )
    assert pending.status_code == 409
    assert pending.json()["interaction_id"] == "i-1"
    assert [request.tool_name for request in asked] == ["flaky.forget", "flaky.forget"]
    assert asked[0].user_id == member.id
    assert asked[0].idempotent is False


async def test_timeout_and_output_cap(database, settings, client, member, add_server, tool_id):
    await add_server(
        "flaky", transport="STDIO", command=sys.executable, args=[FLAKY], timeout_seconds=5
    )
    hang = await tool_id("flaky.hang")
    timed_out = await client.post(
        f"/api/v1/tools/{hang}/invoke",
        json={"arguments": {}, "timeout_seconds": 0.5},
        headers=member.headers,
    )
    assert timed_out.status_code == 504
    assert "0.5s" in timed_out.json()["detail"]

    capped_settings = settings.model_copy(update={"tools_output_max_bytes": 2048})
    big = await service.ToolInvoker(database, capped_settings).invoke(
        tool_id=uuid.UUID(await tool_id("flaky.big")),
        arguments={"size": 100_000},
        user=None,
    )
    assert big.truncated is True
    assert isinstance(big.output, str)
    assert len(big.output.encode()) <= 2048
    executions, _ = await _executions(database, await tool_id("flaky.big"))
    assert executions[0].truncated is True
    assert executions[0].output_bytes > 100_000


async def _executions(database, tool):  # type: ignore[no-untyped-def]
    async with database.transaction(read_only=True) as session:
        return await service.get_executions(session, limit=10, offset=0, tool_id=uuid.UUID(tool))


async def test_usage_counts_per_agent(database, settings, client, member, builtins, project):
    math = uuid.UUID(builtins["math.evaluate"])
    agents = []
    for name in ("first", "second"):
        agent = await client.post(
            f"/api/v1/projects/{project['id']}/agents",
            json={"name": name, "agent_type": "ASSISTANT"},
            headers=member.headers,
        )
        await client.post(
            f"/api/v1/agents/{agent.json()['id']}/tools",
            json={"tool_id": str(math)},
            headers=member.headers,
        )
        agents.append(uuid.UUID(agent.json()["id"]))
    first, second = agents
    before = await client.get(f"/api/v1/tools/{math}", headers=member.headers)
    in_project = uuid.UUID(project["id"])
    for agent, times in ((first, 3), (second, 1)):
        for _ in range(times):  # as the run engine calls: the agent's task's project
            await service.ToolInvoker(database, settings).invoke(
                tool_id=math,
                arguments={"expression": "2+2"},
                user=None,
                project_id=in_project,
                agent_id=agent,
            )
    await service.ToolInvoker(database, settings).invoke(
        tool_id=math,
        arguments={"expression": "1/0"},
        user=None,
        project_id=in_project,
        agent_id=second,
    )
    for _ in range(2):  # the member's direct calls
        await client.post(
            f"/api/v1/tools/{math}/invoke",
            json={"arguments": {"expression": "2+2"}},
            headers=member.headers,
        )
    usage = await client.get(f"/api/v1/tools/{math}/usage", headers=member.headers)
    by_agent = {row["agent_id"]: row for row in usage.json()}
    assert by_agent[str(first)]["calls"] == 3
    assert by_agent[str(first)]["successes"] == 3
    assert by_agent[str(second)]["calls"] == 2
    assert by_agent[str(second)]["failures"] == 1
    assert by_agent[None]["calls"] == 2
    tool = await client.get(f"/api/v1/tools/{math}", headers=member.headers)
    assert tool.json()["usage_count"] == 7
    assert tool.json()["last_used_at"] is not None
    # A call is not an edit: caches keyed on the tool's version stay valid.
    assert tool.json()["updated_at"] == before.json()["updated_at"]


async def test_usage_counts_only_the_calls_the_reader_may_see(
    client, admin, member, other_member, builtins
):
    math = builtins["math.evaluate"]
    for _ in range(3):
        await client.post(
            f"/api/v1/tools/{math}/invoke",
            json={"arguments": {"expression": "2+2"}},
            headers=member.headers,
        )
    await client.post(
        f"/api/v1/tools/{math}/invoke",
        json={"arguments": {"expression": "1+1"}},
        headers=other_member.headers,
    )
    mine = await client.get(f"/api/v1/tools/{math}/usage", headers=member.headers)
    theirs = await client.get(f"/api/v1/tools/{math}/usage", headers=other_member.headers)
    everyone = await client.get(f"/api/v1/tools/{math}/usage", headers=admin.headers)
    assert [row["calls"] for row in mine.json()] == [3]
    assert [row["calls"] for row in theirs.json()] == [1]
    assert [row["calls"] for row in everyone.json()] == [4]


async def test_viewer_cannot_invoke_and_unknown_tool_is_404(client, viewer, member, builtins):
    refused = await client.post(
        f"/api/v1/tools/{builtins['math.evaluate']}/invoke",
        json={"arguments": {"expression": "1"}},
        headers=viewer.headers,
    )
    assert refused.status_code == 403
    missing = await client.post(
        f"/api/v1/tools/{uuid.uuid4()}/invoke", json={"arguments": {}}, headers=member.headers
    )
    assert missing.status_code == 404


async def test_executions_are_scoped_to_what_a_member_may_see(
    client, member, other_member, builtins, project
):
    await client.post(
        f"/api/v1/tools/{builtins['workspace.write_file']}/invoke",
        json={"arguments": {"path": "a.txt", "content": "x"}, "project_id": project["id"]},
        headers=member.headers,
    )
    mine = await client.get("/api/v1/tools/executions", headers=member.headers)
    theirs = await client.get("/api/v1/tools/executions", headers=other_member.headers)
    assert mine.json()["total"] == 1
    assert theirs.json()["total"] == 0


@pytest.mark.parametrize("policy", ["deny", "Requires_Approval"])
async def test_lowercase_policy_is_accepted_with_a_warning(client, admin, builtins, policy):
    patched = await client.patch(
        f"/api/v1/tools/{builtins['math.evaluate']}",
        json={"approval_policy": policy},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    assert patched.json()["approval_policy"] == policy.upper()


_CALL_THEN_DIE = """
import asyncio, os, signal, sys
from pathlib import Path

from berrys.config import Settings
from berrys.core import migrate
from berrys.core.db import Database
from berrys.services.tools import service


async def main() -> None:
    settings = Settings(data_dir=Path(sys.argv[1]), _env_file=None)
    database = Database(settings.resolved_database_url)
    await migrate.upgrade(database)
    async with database.transaction() as session:
        await service.ensure_builtin_tools(session)
        tool = await service.get_by_name(session, name="math.evaluate")
    for number in range(20):
        await service.ToolInvoker(database, settings).invoke(
            tool_id=tool.id, arguments={"expression": "1+1"}, user=None
        )
    print(tool.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no shutdown, no flush, no dispose


asyncio.run(main())
"""


async def test_a_crash_loses_no_entry_of_a_call_that_returned(tmp_path):
    """A process killed right after its calls returned: every entry and use is on disk."""
    crashed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CALL_THEN_DIE,
        str(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await crashed.communicate()
    assert crashed.returncode == -signal.SIGKILL, err.decode()
    tool = uuid.UUID(out.decode().split()[-1])
    database = Database(Settings(data_dir=tmp_path, _env_file=None).resolved_database_url)
    try:
        async with database.transaction(read_only=True) as session:
            entries, total = await service.get_executions(session, limit=50, offset=0, tool_id=tool)
            [usage] = await service.get_usage(session, tool_id=tool)
            registered = await service.get(session, tool_id=tool)
    finally:
        await database.dispose()
    assert total == 20
    assert {entry.outcome for entry in entries} == {"SUCCESS"}
    assert usage.calls == 20
    assert registered.usage_count == 20
