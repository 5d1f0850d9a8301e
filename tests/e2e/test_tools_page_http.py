"""The tools page over HTTP, in process: an ADMIN adds an MCP server, tests it (it starts
and lists its tools, or one line says why not) and registers its tools; nobody else sees
how a server is started or may do any of it; forms carry the CSRF token."""

from __future__ import annotations

import html as html_lib
import re
import sys
import uuid

import pytest
from tests.e2e.test_dashboard_http import CSRF_FAILED, _login

from berrys.services.auth.contracts import UserRole


def _flash(page: str) -> str:
    found = re.search(r'<(p|div) class="flash [a-z]+" role="status"[^>]*>(.*?)</\1>', page, re.S)
    assert found, page
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def _unique(name: str) -> str:
    """Server names are unique in the database the tests share."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _server_id(page: str, name: str) -> str:
    return re.search(rf'<tr id="server-([0-9a-f-]+)">\s*<td>{name}</td>', page).group(1)


async def _add(client, token: str, name: str, command: str, args: str = "", env: str = ""):
    return await client.post(
        "/tools/mcp-servers",
        data={"name": name, "command": command, "args": args, "env": env, "csrf_token": token},
    )


async def test_an_admin_adds_tests_and_registers_a_server(client, admin):
    token = await _login(client, admin)
    page = await client.get("/tools")
    assert '<h2 id="add-server-title">Add an MCP server</h2>' in page.text
    clock = _unique("clock")
    added = await _add(client, token, clock, sys.executable, "-m\nmcp_server_time", "TZ=UTC")
    assert added.status_code == 200, added.text
    assert f"Added MCP server {clock}" in _flash(added.text)
    server_id = _server_id(added.text, clock)
    assert f"<code>{sys.executable} -m mcp_server_time</code>" in added.text  # the ADMIN sees it
    assert "TZ=***" in added.text  # the environment's values are never shown again

    tested = await client.post(f"/tools/mcp-servers/{server_id}/test", data={"csrf_token": token})
    assert tested.status_code == 200
    result = _flash(tested.text)
    assert result.startswith(f"{clock} started and lists 2 tools")
    assert "convert_time" in result
    assert "get_current_time" in result

    registered = await client.post(
        f"/tools/mcp-servers/{server_id}/refresh", data={"csrf_token": token}
    )
    assert f"{clock}: 2 new, 0 updated" in _flash(registered.text)
    assert f"<code>{clock}.get_current_time</code>" in registered.text


async def test_an_admin_adds_a_streamable_http_server_whose_token_is_never_shown(client, admin):
    token = await _login(client, admin)
    remote = _unique("remote")
    secret = "page-token-0123456789"
    added = await client.post(
        "/tools/mcp-servers",
        data={
            "name": remote,
            "url": "https://mcp.example.com/mcp",
            "bearer_token": secret,
            "csrf_token": token,
        },
    )
    assert added.status_code == 200, added.text
    assert f"Added MCP server {remote}" in _flash(added.text)
    assert "<code>https://mcp.example.com/mcp</code>" in added.text
    assert "Authorization: ***" in added.text
    assert secret not in added.text
    both = await client.post(
        "/tools/mcp-servers",
        data={
            "name": _unique("both"),
            "command": "python",
            "url": "https://mcp.example.com/mcp",
            "csrf_token": token,
        },
    )
    assert both.status_code == 422
    assert "takes no command" in _flash(both.text)


async def test_a_broken_server_is_one_line_saying_why(client, admin):
    token = await _login(client, admin)
    crash = (
        "import sys; sys.stderr.write('starting\\nTraceback (most recent call last):\\n"
        "  File x\\nValueError: bad config\\n'); sys.exit(2)"
    )
    broken = _unique("broken")
    added = await _add(client, token, broken, sys.executable, f"-c\n{crash}")
    tested = await client.post(
        f"/tools/mcp-servers/{_server_id(added.text, broken)}/test", data={"csrf_token": token}
    )
    assert tested.status_code == 200
    block = re.search(r'id="test-result">\s*<p>(.*?)</p>', tested.text, re.S).group(1)
    assert "\n" not in block
    assert block.startswith(f"{broken} failed: could not connect")
    assert block.endswith("its stderr ends: ValueError: bad config")
    # The table says it fails, and why, in the same one line.
    assert "failing: could not connect" in tested.text

    missing = await _add(client, token, _unique("ghost"), "/nonexistent/mcp-server")
    tested = await client.post(
        f"/tools/mcp-servers/{_server_id(missing.text, 'ghost-[0-9a-f]+')}/test",
        data={"csrf_token": token},
    )
    assert "No such file or directory" in _flash(tested.text)
    refreshed = await client.post(
        f"/tools/mcp-servers/{_server_id(missing.text, 'ghost-[0-9a-f]+')}/refresh",
        data={"csrf_token": token},
    )
    assert refreshed.status_code == 503
    assert "\n" not in _flash(refreshed.text)


async def test_bad_input_says_what_is_wrong_and_keeps_the_form(client, admin):
    token = await _login(client, admin)
    bad_name = await _add(client, token, "has space", "python")
    assert bad_name.status_code == 422
    assert "Name: letters, digits" in _flash(bad_name.text)
    assert 'value="has space"' in bad_name.text
    name = _unique("ok")
    bad_env = await _add(client, token, name, "python", env="NOEQUALS")
    assert bad_env.status_code == 422
    assert "Environment line 1 is not KEY=VALUE" in _flash(bad_env.text)
    no_command = await _add(client, token, name, "")
    assert no_command.status_code == 422
    assert "needs a command" in _flash(no_command.text)
    assert (await _add(client, token, name, "python")).status_code == 200
    again = await _add(client, token, name, "python")
    assert again.status_code == 409
    assert "already exists" in _flash(again.text)


async def test_without_the_csrf_token_nothing_is_added(client, admin):
    await _login(client, admin)
    refused = await client.post(
        "/tools/mcp-servers", data={"name": "sneaky-page", "command": "python"}
    )
    assert refused.status_code == 403
    assert CSRF_FAILED in refused.text
    listed = await client.get("/api/v1/mcp-servers", headers=admin.headers)
    assert "sneaky-page" not in {server["name"] for server in listed.json()["items"]}


@pytest.mark.parametrize("role", [UserRole.MEMBER, UserRole.VIEWER])
async def test_others_see_no_command_and_may_not_add_or_test(client, admin, make_actor, role):
    actor = await make_actor(role)
    secretive = _unique("secretive")
    created = await client.post(
        "/api/v1/mcp-servers",
        json={
            "name": secretive,
            "command": "/opt/private/mcp-start",
            "args": ["--key-file", "/etc/k"],
        },
        headers=admin.headers,
    )
    server_id = created.json()["id"]
    token = await _login(client, actor)
    page = await client.get("/tools")
    assert page.status_code == 200
    assert secretive in page.text
    assert "/opt/private/mcp-start" not in page.text
    assert "--key-file" not in page.text
    assert "Add an MCP server" not in page.text
    assert f"/tools/mcp-servers/{server_id}/test" not in page.text
    mine = _unique("mine")
    refused = await _add(client, token, mine, "python")
    assert refused.status_code == 403
    assert "Only an ADMIN" in _flash(refused.text)
    tested = await client.post(f"/tools/mcp-servers/{server_id}/test", data={"csrf_token": token})
    assert tested.status_code == 403
    assert "/opt/private/mcp-start" not in tested.text
    listed = await client.get("/api/v1/mcp-servers", headers=admin.headers)
    assert mine not in {server["name"] for server in listed.json()["items"]}


async def test_an_admin_adds_a_remote_a2a_agent(client, admin):
    token = await _login(client, admin)
    agent = _unique("agent")
    added = await client.post(
        "/tools/mcp-servers",
        data={"name": agent, "url": "https://agents.example.com", "a2a": "1", "csrf_token": token},
    )
    assert added.status_code == 200, added.text
    assert f"Added A2A agent {agent}" in _flash(added.text)
    assert "MCP servers and A2A agents" in added.text
    listed = await client.get("/api/v1/mcp-servers", headers=admin.headers)
    [server] = [s for s in listed.json()["items"] if s["name"] == agent]
    assert server["transport"] == "A2A"
