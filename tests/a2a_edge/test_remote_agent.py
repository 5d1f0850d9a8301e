"""A remote A2A agent as a team's tool: this (in-process) Berrys registers the real
``berrys serve`` of this package by its URL and token, its card's skills become tools, an
agent bound to one calls it during a run (after a person's approval: the skill's policy),
and the call is a recorded step of the task's journal."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select
from tests.a2a_edge.conftest import Served
from tests.mcp_server.flow import DESCRIPTION
from tests.services.runs.conftest import create_run, wait_for_status
from typer.testing import CliRunner

from berrys.cli.app import app as cli
from berrys.config import Settings
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import InteractionStatus
from berrys.services.llm import service as llm
from berrys.services.pipeline._executor import AgentExecutor
from berrys.services.runs.contracts import RunStatus, TaskSpec
from berrys.services.runs.tables import Step
from berrys.services.tools.tables import ToolExecution

TOOL = "berrys-a.run_project"


@pytest.fixture
def services_settings(settings: Settings) -> Settings:
    """Loopback is private: the egress policy lets these tests reach 127.0.0.1 only."""
    return settings.model_copy(
        update={"tools_fetch_allowed_hosts": ["127.0.0.1"], "tools_fetch_allow_private": True}
    )


async def _tool(client, actor) -> dict:  # type: ignore[no-untyped-def]
    listed = await client.get("/api/v1/tools", params={"source": "A2A"}, headers=actor.headers)
    return next(tool for tool in listed.json()["items"] if tool["name"] == TOOL)


async def _register(client, admin, served: Served) -> dict:  # type: ignore[no-untyped-def]
    body = {
        "name": "berrys-a",
        "transport": "A2A",
        "url": served.server.url,
        "bearer_token": served.member.token,
        "timeout_seconds": 60,
    }
    created = await client.post("/api/v1/mcp-servers", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert served.member.token not in created.text
    assert created.json()["has_token"] is True
    return created.json()


async def test_the_card_s_skills_become_tools(client, admin, served: Served) -> None:
    server = await _register(client, admin, served)
    refreshed = await client.post(
        f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["created"] == ["berrys-a.project_status", TOOL]
    assert refreshed.json()["server"]["healthy"] is True
    tool = await _tool(client, admin)
    assert tool["source"] == "A2A"
    assert tool["approval_policy"] == "REQUIRES_APPROVAL"
    assert tool["input_schema"]["required"] == ["message"]
    tested = await client.get(f"/api/v1/mcp-servers/{server['id']}/health", headers=admin.headers)
    assert tested.json()["tool_names"] == ["project_status", "run_project"]


async def test_an_agent_calls_the_remote_agent_after_approval_journaled(
    services,
    database,
    settings,
    client,
    admin,
    member,
    project,
    start_worker,
    served: Served,
) -> None:
    server = await _register(client, admin, served)
    await client.post(f"/api/v1/mcp-servers/{server['id']}/refresh", headers=admin.headers)
    agent = await client.post(
        f"/api/v1/projects/{project.id}/agents",
        json={"name": "Delegate", "agent_type": "ASSISTANT", "role": "hands work on"},
        headers=member.headers,
    )
    agent_id = agent.json()["id"]
    tool = await _tool(client, member)
    bound = await client.post(
        f"/api/v1/agents/{agent_id}/tools", json={"tool_id": tool["id"]}, headers=member.headers
    )
    assert bound.status_code in {200, 201}, bound.text
    call = {"id": "c1", "name": TOOL, "arguments": {"message": DESCRIPTION}}
    answers = [{"content": "", "tool_calls": [call]}, "Handed to Berrys A; its plan is done."]
    spec = TaskSpec(key="t", name="Delegate", description="Hand it on", agent_id=agent_id)
    with llm.script(services.models, "fake", answers):
        run = await create_run(database, project, [spec], actor_id=member.id)
        start_worker(
            AgentExecutor(
                settings=settings, database=database, models=services.models, tools=services.tools
            )
        )
        await wait_for_status(database, run.id, RunStatus.AWAITING_INPUT)
        async with database.transaction(read_only=True) as session:
            [asked], _ = await interactions.get_all(
                session, limit=5, offset=0, run_id=run.id, status=InteractionStatus.PENDING
            )
        assert asked.detail["subject"] == "TOOL_CALL"
        assert asked.detail["details"]["tool"] == TOOL
        answered = await client.post(
            f"/api/v1/interactions/{asked.id}/respond",
            json={"approved": True},
            headers=member.headers,
        )
        assert answered.status_code == 200, answered.text
        done = await wait_for_status(database, run.id, RunStatus.COMPLETED, within=60)
    async with database.transaction(read_only=True) as session:
        steps = (
            await session.scalars(
                select(Step).where(Step.task_run_id == done.task_runs[0].id).order_by(Step.seq)
            )
        ).all()
        executions = (
            await session.scalars(select(ToolExecution).where(ToolExecution.tool_name == TOOL))
        ).all()
    recorded = steps[1].result["value"]
    assert (steps[1].kind.value, steps[1].name) == ("TOOL", TOOL)
    assert recorded["is_error"] is False, recorded
    assert recorded["output"]["state"] == "TASK_STATE_COMPLETED"
    assert recorded["output"]["artifacts"]
    assert [execution.outcome.value for execution in executions] == ["SUCCESS"]
    async with httpx.AsyncClient(base_url=served.server.url, headers=served.member.headers) as http:
        remote = await http.get(f"/api/v1/runs/{uuid.UUID(recorded['output']['task_id'])}")
    assert remote.json()["status"] in {"COMPLETED", "COMPLETED_WITH_REVIEW"}


async def test_berrys_tools_add_a2a_registers_the_agent_with_its_token_from_the_environment(
    settings, database, tmp_path, served: Served
) -> None:
    env = {
        "BERRYS_DATA_DIR": str(tmp_path),
        "BERRYS_DATABASE_URL": settings.resolved_database_url,
        "BERRYS_SECRET_KEY": settings.resolved_secret_key,
        "BERRYS_LOCAL_MODEL_ENABLED": "false",
        "BERRYS_TOOLS_FETCH_ALLOWED_HOSTS": '["127.0.0.1"]',
        "BERRYS_TOOLS_FETCH_ALLOW_PRIVATE": "true",
        "AGENT_TOKEN": served.member.token,
    }
    command = ["tools", "add-a2a", "berrys-a", "--url", served.server.url]
    added = await asyncio.to_thread(
        CliRunner().invoke, cli, [*command, "--bearer-token-env", "AGENT_TOKEN"], env=env
    )
    assert added.exit_code == 0, added.output
    assert "A2A agent berrys-a: 2 new" in added.output
    assert TOOL in added.output
    assert served.member.token not in added.output
