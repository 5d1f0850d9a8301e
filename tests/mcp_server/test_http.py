"""Berrys over streamable HTTP at /mcp, with the SDK's own client, against the application
served by uvicorn in this process (its lifespan runs the MCP session manager and the
embedded run worker, which carries tasks out offline with the RULES provider)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import httpx2
import pytest
import uvicorn
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from tests.e2e.processes import free_port
from tests.mcp_server.flow import DESCRIPTION, call, description_to_artifact, error_of
from tests.services.runs.conftest import wait_until

from berrys.app import create_app


@pytest.fixture
async def live(settings, database) -> AsyncIterator[str]:
    # The hashing embedder: the bundled one takes tens of seconds to embed the catalogue.
    app = create_app(settings.model_copy(update={"embedding_model": "hashing"}), database=database)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: server.started, message="server started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@asynccontextmanager
async def connected(url: str, token: str) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_no_or_a_bad_token_is_401_before_any_mcp_message(live, member) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    async with httpx.AsyncClient(base_url=live) as http:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic x"}):
            response = await http.post("/mcp", json=initialize, headers=headers)
            assert response.status_code == 401, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["title"] == "Unauthorized"


async def test_tools_have_precise_schemas(live, member) -> None:
    async with connected(live, member.token) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        templates = (await client.list_resource_templates()).resource_templates
    assert {
        "create_project",
        "generate_team",
        "create_plan",
        "start_run",
        "pause_run",
        "resume_run",
        "cancel_run",
        "run_status",
        "list_interactions",
        "answer_interaction",
        "list_artifacts",
        "read_artifact",
        "search_similar",
    } <= set(tools)
    create = tools["create_project"].input_schema
    assert create["required"] == ["description"]
    assert create["properties"]["description"]["maxLength"] == 20_000
    assert tools["run_status"].input_schema["properties"]["run_id"]["format"] == "uuid"
    assert tools["run_status"].output_schema is not None
    assert {t.uri_template for t in templates} >= {
        "berrys://projects/{project_id}",
        "berrys://projects/{project_id}/plan",
        "berrys://plans/{plan_id}",
        "berrys://artifacts/{artifact_id}",
    }


async def test_a_description_becomes_an_approved_finished_run_with_artifacts(
    live, member, other_member, viewer
) -> None:
    async with connected(live, member.token) as client:
        run = await description_to_artifact(client)
        found = await call(client, "search_similar", q="bakery website", kind="PROJECT")
        assert found["items"][0]["id"] == run["project_id"]
        paused = await error_of(client, "pause_run", run_id=run["id"])
        assert "409" in paused  # an ended run cannot be paused: the engine's own message
        waiting = await call(
            client, "start_run", project_id=run["project_id"], require_plan_approval=True
        )
        cancelled = await call(client, "cancel_run", run_id=waiting["id"])
        assert cancelled["status"] == "CANCELLED"
    async with httpx.AsyncClient(base_url=live, headers=member.headers) as http:
        audit = await http.get(
            "/api/v1/audit", params={"project_id": run["project_id"], "limit": 200}
        )
    # Every change the client made is in the audit log under the member's name.
    mine = {
        (e["entity_type"], e["action"])
        for e in audit.json()["items"]
        if e["actor_id"] == str(member.id)
    }
    assert {("project", "CREATE"), ("run", "CREATE"), ("run", "TRANSITION")} <= mine, mine
    assert ("human_interaction", "RESPOND") in mine
    async with connected(live, other_member.token) as stranger:
        missing = await error_of(stranger, "run_status", run_id=run["id"])
        assert f"Not found (404): Run {run['id']} not found" in missing
        with pytest.raises(MCPError, match="Not found"):
            await stranger.read_resource(f"berrys://projects/{run['project_id']}")
        hidden = await error_of(stranger, "list_artifacts", project_id=run["project_id"])
        assert "Not found (404)" in hidden
    async with connected(live, viewer.token) as reader:
        refused = await error_of(reader, "create_project", description=DESCRIPTION)
        assert "Forbidden (403): Role VIEWER can only read" in refused
