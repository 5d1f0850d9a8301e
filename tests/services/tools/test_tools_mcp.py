"""The MCP client against real servers: mcp-server-time and mcp-server-git (stdio), a server
of our own over streamable HTTP, and servers that crash, hang or answer garbage."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from berrys.services.tools.tables import McpServer

FLAKY = str(Path(__file__).parent / "servers" / "flaky_server.py")
GARBAGE = str(Path(__file__).parent / "servers" / "garbage_server.py")

TIME_SERVER = {"transport": "STDIO", "command": sys.executable, "args": ["-m", "mcp_server_time"]}


async def test_time_server_tools_are_registered_and_return_the_real_time(
    client, admin, member, add_server, tool_id
):
    server = await add_server("time", **TIME_SERVER)
    assert server["refresh"]["created"] == ["time.convert_time", "time.get_current_time"]
    assert server["refresh"]["server"]["healthy"] is True
    assert server["refresh"]["server"]["protocol_version"]

    listed = await client.get(
        "/api/v1/tools", params={"mcp_server_id": server["id"]}, headers=member.headers
    )
    tools = {tool["name"]: tool for tool in listed.json()["items"]}
    current = tools["time.get_current_time"]
    assert current["status"] == "DISCOVERED"
    assert current["source"] == "MCP"
    assert current["approval_policy"] == "AUTO"  # the server declares it read-only
    assert current["idempotent"] is True
    assert current["input_schema"]["required"] == ["timezone"]

    called = await client.post(
        f"/api/v1/tools/{current['id']}/invoke",
        json={"arguments": {"timezone": "UTC"}},
        headers=member.headers,
    )
    assert called.status_code == 200, called.text
    result = called.json()
    assert result["outcome"] == "SUCCESS"
    answered = datetime.fromisoformat(result["output"]["structured_content"]["datetime"])
    assert abs(answered - datetime.now(UTC)) < timedelta(minutes=2)

    # Refreshing again changes nothing; the execution was logged.
    again = await client.post(f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers)
    assert again.json()["unchanged"] == ["time.convert_time", "time.get_current_time"]
    log = await client.get(
        "/api/v1/tools/executions", params={"tool_id": current["id"]}, headers=member.headers
    )
    assert [e["outcome"] for e in log.json()["items"]] == ["SUCCESS"]


async def test_a_tool_error_is_a_result_not_a_failure(client, member, add_server, tool_id):
    await add_server("time", **TIME_SERVER)
    called = await client.post(
        f"/api/v1/tools/{await tool_id('time.get_current_time')}/invoke",
        json={"arguments": {"timezone": "Mars/Olympus_Mons"}},
        headers=member.headers,
    )
    assert called.status_code == 200
    assert called.json()["is_error"] is True
    assert called.json()["outcome"] == "ERROR"
    assert "Mars/Olympus_Mons" in called.json()["error"]


async def test_the_session_is_reused_between_calls(client, member, add_server, tool_id, services):
    server = await add_server("time", **TIME_SERVER)
    tool = await tool_id("time.get_current_time")
    first = services.tools.mcp._connections[uuid.UUID(server["id"])]
    for _ in range(3):
        called = await client.post(
            f"/api/v1/tools/{tool}/invoke",
            json={"arguments": {"timezone": "Europe/Paris"}},
            headers=member.headers,
        )
        assert called.json()["outcome"] == "SUCCESS"
    assert services.tools.mcp._connections[uuid.UUID(server["id"])] is first


async def test_git_server_over_stdio(client, member, add_server, tool_id, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    init = await asyncio.create_subprocess_exec("git", "init", "-q", str(repo))
    assert await init.wait() == 0
    (repo / "hello.txt").write_text("hello\n")
    await add_server(
        "git", transport="STDIO", command=sys.executable, args=["-m", "mcp_server_git"]
    )
    listed = await client.get("/api/v1/tools", params={"category": "git"}, headers=member.headers)
    names = {tool["name"] for tool in listed.json()["items"]}
    assert {"git.git_status", "git.git_log"} <= names
    called = await client.post(
        f"/api/v1/tools/{await tool_id('git.git_status')}/invoke",
        json={"arguments": {"repo_path": str(repo)}},
        headers=member.headers,
    )
    assert called.status_code == 200, called.text
    text = " ".join(block.get("text", "") for block in called.json()["output"]["content"])
    assert "hello.txt" in text


async def test_an_http_server_the_egress_policy_refuses_is_never_reached(
    client, admin, add_server, http_server
):
    """Loopback is refused by default: the connection is never made (503 naming the rule)."""
    server = await add_server(
        "loopback", refresh=False, transport="STREAMABLE_HTTP", url=http_server
    )
    refused = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert refused.status_code == 503, refused.text
    assert "BERRYS_TOOLS_FETCH_ALLOWED_HOSTS" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("tool", "expect_status", "words"),
    [
        ("crash", 503, "closed the connection"),
        ("hang", 504, "did not answer within 2s"),
        ("garbage", 504, "did not answer within 2s"),
    ],
)
async def test_a_misbehaving_server_fails_clearly_in_time_and_recovers(
    client, admin, member, add_server, tool_id, tool, expect_status, words
):
    # Starting a Python server may take a while on a busy machine: the server keeps its 30 s
    # default (the connect budget); the call itself gets 2 s.
    server = await add_server("flaky", transport="STDIO", command=sys.executable, args=[FLAKY])
    started = time.monotonic()
    called = await client.post(
        f"/api/v1/tools/{await tool_id(f'flaky.{tool}')}/invoke",
        json={"arguments": {}, "timeout_seconds": 2},
        headers=member.headers,
    )
    elapsed = time.monotonic() - started
    assert called.status_code == expect_status, called.text
    assert words in called.json()["detail"]
    assert "flaky" in called.json()["detail"]
    assert elapsed < 4, f"took {elapsed:.1f}s for a 2s timeout"
    row = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=member.headers)
    assert row.json()["healthy"] is False
    assert words in row.json()["last_error"]
    log = await client.get("/api/v1/tools/executions", headers=admin.headers)
    assert log.json()["items"][0]["outcome"] == ("ERROR" if expect_status == 503 else "TIMEOUT")

    # The next call reconnects and works; the server is healthy again.
    added = await client.post(
        f"/api/v1/tools/{await tool_id('flaky.add')}/invoke",
        json={"arguments": {"a": 1, "b": 1}},
        headers=member.headers,
    )
    assert added.json()["output"]["structured_content"] == {"result": 2}
    row = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=member.headers)
    assert row.json()["healthy"] is True


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([GARBAGE, "noise"], "did not finish connecting within 2s"),
        ([GARBAGE, "bad-result"], "validation error"),
        (["-c", "import sys; sys.stderr.write('bad config'); sys.exit(2)"], "bad config"),
    ],
    ids=["noise", "malformed-result", "exits"],
)
async def test_a_server_that_cannot_connect_is_refused_clearly(
    client, admin, add_server, args, words
):
    server = await add_server(
        "broken",
        refresh=False,
        transport="STDIO",
        command=sys.executable,
        args=args,
        timeout_seconds=2,
    )
    started = time.monotonic()
    refreshed = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert time.monotonic() - started < 4
    assert refreshed.status_code == 503
    assert words in refreshed.json()["detail"]
    row = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=admin.headers)
    assert row.json()["healthy"] is False
    health = await client.get(f"/api/v1/mcp-servers/{server['id']}/health", headers=admin.headers)
    assert health.json()["healthy"] is False
    assert health.json()["connected"] is False


async def test_missing_command_and_disabled_server(client, admin, add_server):
    server = await add_server(
        "ghost", refresh=False, transport="STDIO", command="/nonexistent/mcp-server"
    )
    refreshed = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert refreshed.status_code == 503
    assert "No such file" in refreshed.json()["detail"]
    await client.patch(
        f"/api/v1/mcp-servers/{server['id']}", json={"enabled": False}, headers=admin.headers
    )
    refreshed = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert refreshed.status_code == 409
    tool = await client.post(
        "/api/v1/tools",
        json={"name": "ghost.do", "source": "MCP", "mcp_server_id": server["id"], "target": "do"},
        headers=admin.headers,
    )
    assert tool.status_code == 201, tool.text
    called = await client.post(
        f"/api/v1/tools/{tool.json()['id']}/invoke", json={"arguments": {}}, headers=admin.headers
    )
    assert called.status_code == 503
    assert "disabled" in called.json()["detail"]


async def test_server_configuration_rules_and_masking(client, admin, member, database):
    bad = await client.post(
        "/api/v1/mcp-servers", json={"name": "x", "transport": "STDIO"}, headers=admin.headers
    )
    assert bad.status_code == 422
    assert "needs a command" in bad.text
    not_admin = await client.post(
        "/api/v1/mcp-servers",
        json={"name": "x", "command": "python"},
        headers=member.headers,
    )
    assert not_admin.status_code == 403
    created = await client.post(
        "/api/v1/mcp-servers",
        json={
            "name": "secretive",
            "command": "python",
            "env": {"API_TOKEN": "s3cret", "MODE": "x"},
        },
        headers=admin.headers,
    )
    body = created.json()
    assert body["env"] == {"API_TOKEN": "***", "MODE": "***"}
    assert "s3cret" not in created.text
    # Sending the mask back keeps the stored secret.
    patched = await client.patch(
        f"/api/v1/mcp-servers/{body['id']}",
        json={"env": {"API_TOKEN": "***", "MODE": "y"}},
        headers=admin.headers,
    )
    assert patched.status_code == 200
    async with database.transaction(read_only=True) as session:
        row = await session.get(McpServer, uuid.UUID(body["id"]))
        assert row.env == {"API_TOKEN": "s3cret", "MODE": "y"}
    duplicate = await client.post(
        "/api/v1/mcp-servers", json={"name": "secretive", "command": "x"}, headers=admin.headers
    )
    assert duplicate.status_code == 409


async def test_a_server_that_died_while_idle_is_reconnected_transparently(
    client, member, add_server, tool_id, services
):
    server = await add_server("flaky", transport="STDIO", command=sys.executable, args=[FLAKY])
    bye = await client.post(
        f"/api/v1/tools/{await tool_id('flaky.exit_after_answer')}/invoke",
        json={"arguments": {}},
        headers=member.headers,
    )
    assert bye.json()["output"]["content"][0]["text"] == "bye"
    connection = services.tools.mcp._connections[uuid.UUID(server["id"])]
    async with asyncio.timeout(10):  # wait for the session to see the process gone
        while connection.alive:  # noqa: ASYNC110 - the SDK offers no event for this state
            await asyncio.sleep(0.01)
    added = await client.post(
        f"/api/v1/tools/{await tool_id('flaky.add')}/invoke",
        json={"arguments": {"a": 20, "b": 22}},
        headers=member.headers,
    )
    assert added.status_code == 200, added.text
    assert added.json()["output"]["structured_content"] == {"result": 42}
    assert services.tools.mcp._connections[uuid.UUID(server["id"])] is not connection


async def test_only_an_admin_sees_how_a_server_is_started(
    client, admin, member, viewer, add_server
):
    server = await add_server(
        "started", refresh=False, command="/opt/mcp/run", args=["--db", "/srv/private.db"]
    )
    for reader in (member, viewer):
        one = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=reader.headers)
        listed = await client.get("/api/v1/mcp-servers", headers=reader.headers)
        for shown in (one.json(), listed.json()["items"][0]):
            assert shown["name"] == "started"
            assert shown["command"] == "***"
            assert shown["args"] == ["***"]
        assert "/opt/mcp/run" not in one.text + listed.text
        assert "private.db" not in one.text + listed.text
    full = await client.get(f"/api/v1/mcp-servers/{server['id']}", headers=admin.headers)
    assert full.json()["command"] == "/opt/mcp/run"
    assert full.json()["args"] == ["--db", "/srv/private.db"]


async def test_a_viewer_cannot_start_a_server_by_checking_its_health(
    client, viewer, add_server, services
):
    server = await add_server("idle", refresh=False, **TIME_SERVER)
    health = await client.get(f"/api/v1/mcp-servers/{server['id']}/health", headers=viewer.headers)
    assert health.status_code == 403
    assert uuid.UUID(server["id"]) not in services.tools.mcp._connections


async def test_a_server_name_past_100_characters_is_a_422_naming_the_limit(client, admin):
    too_long = {"name": "s" * 101, "command": "/bin/true"}
    response = await client.post("/api/v1/mcp-servers", json=too_long, headers=admin.headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"][-1] == "name"
    assert error["type"] == "string_too_long"
    longest = {"name": "s" * 100, "command": "/bin/true"}
    created = await client.post("/api/v1/mcp-servers", json=longest, headers=admin.headers)
    assert created.status_code == 201, created.text
