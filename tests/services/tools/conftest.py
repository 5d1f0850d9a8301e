"""Tools fixtures: built-ins registered, MCP servers configured over REST, sessions closed."""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from berrys.services.tools import service as tools

FLAKY = str(Path(__file__).parent / "servers" / "flaky_server.py")


@pytest.fixture
async def builtins(database) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The built-in tools, registered; name -> id."""
    async with database.transaction() as session:
        await tools.ensure_builtin_tools(session)
        items, _ = await tools.get_all(session, limit=200, offset=0)
    return {tool.name: str(tool.id) for tool in items}


@pytest.fixture
def add_server(client, admin):  # type: ignore[no-untyped-def]
    """Configure an MCP server over REST and (by default) refresh its tools."""

    async def _add(name: str, *, refresh: bool = True, **body: object) -> dict:
        created = await client.post(
            "/api/v1/mcp-servers", json={"name": name, **body}, headers=admin.headers
        )
        assert created.status_code == 201, created.text
        server = created.json()
        if refresh:
            refreshed = await client.post(
                f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
            )
            assert refreshed.status_code == 200, refreshed.text
            server["refresh"] = refreshed.json()
        return server

    return _add


@pytest.fixture
def tool_id(client, admin):  # type: ignore[no-untyped-def]
    async def _find(name: str) -> str:
        listed = await client.get("/api/v1/tools", params={"q": name}, headers=admin.headers)
        matches = [tool for tool in listed.json()["items"] if tool["name"] == name]
        assert matches, f"{name} not registered: {listed.json()}"
        return matches[0]["id"]

    return _find


@pytest.fixture
async def project(client, member) -> dict:  # type: ignore[no-untyped-def]
    created = await client.post(
        "/api/v1/projects", json={"name": "Tool workshop"}, headers=member.headers
    )
    assert created.status_code == 201, created.text
    return created.json()


@pytest.fixture
def http_server() -> Iterator[str]:
    """The flaky MCP server over streamable HTTP, in its own process: its URL."""
    process = subprocess.Popen(
        [sys.executable, FLAKY, "--http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)  # bounded wait for its port
        port = process.stdout.readline().strip() if ready else ""  # printed once it listens
        assert port.isdigit(), f"server did not start (exit {process.poll()})"
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
