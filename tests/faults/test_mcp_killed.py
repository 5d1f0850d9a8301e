"""An MCP server killed (SIGKILL) while a tool call is in flight: the call fails at once with
a 503 that names the server and what happened (not a hang until the timeout, not a 500), the
failure is logged, and the next call starts the server again and works."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tests.services.runs.conftest import wait_until

BLOCKING = str(Path(__file__).parent / "servers" / "blocking_server.py")


async def _tool_ids(client, admin, server_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    listed = await client.get(
        "/api/v1/tools", params={"mcp_server_id": server_id}, headers=admin.headers
    )
    return {tool["name"]: tool["id"] for tool in listed.json()["items"]}


def _pid_in(path: Path) -> int | None:
    text = path.read_text() if path.exists() else ""
    return int(text) if text else None


async def test_a_server_killed_mid_call_fails_the_call_cleanly_and_starts_again(
    client, admin, member, tmp_path
) -> None:
    pid_file = tmp_path / "pid"
    created = await client.post(
        "/api/v1/mcp-servers",
        json={
            "name": "blocking",
            "transport": "STDIO",
            "command": sys.executable,
            "args": [BLOCKING, str(pid_file)],
        },
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    server_id = created.json()["id"]
    refreshed = await client.post(f"/api/v1/mcp-servers/{server_id}/refresh", headers=admin.headers)
    assert refreshed.status_code == 200, refreshed.text
    ids = await _tool_ids(client, admin, server_id)

    call = asyncio.create_task(
        client.post(
            f"/api/v1/tools/{ids['blocking.block']}/invoke",
            json={"arguments": {}},
            headers=member.headers,
        )
    )
    # The server wrote its pid from inside the call: the call is in flight.
    killed_pid = await wait_until(lambda: _pid_in(pid_file), within=30, message="the call")
    os.kill(killed_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    async with asyncio.timeout(10):  # the server's own timeout is 30 s: no waiting for it
        answer = await call
    failed_after = time.monotonic() - killed_at

    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert "'blocking'" in problem["detail"]
    assert "closed the connection" in problem["detail"]
    assert failed_after < 5, f"the call failed {failed_after:.1f} s after the kill"
    row = (await client.get(f"/api/v1/mcp-servers/{server_id}", headers=admin.headers)).json()
    assert row["healthy"] is False
    assert "closed the connection" in row["last_error"]
    log = await client.get(
        "/api/v1/tools/executions",
        params={"tool_id": ids["blocking.block"]},
        headers=admin.headers,
    )
    assert [item["outcome"] for item in log.json()["items"]] == ["ERROR"]

    # The next call starts the server again (a new process) and answers.
    again = await client.post(
        f"/api/v1/tools/{ids['blocking.whoami']}/invoke",
        json={"arguments": {}},
        headers=member.headers,
    )
    assert again.status_code == 200, again.text
    new_pid = again.json()["output"]["structured_content"]["result"]
    assert new_pid != killed_pid
    row = (await client.get(f"/api/v1/mcp-servers/{server_id}", headers=admin.headers)).json()
    assert row["healthy"] is True
    print(f"mcp server killed mid-call: the call failed {failed_after:.2f} s after the kill")
