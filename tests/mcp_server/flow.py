"""What an MCP client does with Berrys, the same over every transport: a project from a
description to a run's artifact, with the plan approved by the client on the way."""

from __future__ import annotations

import json
from typing import Any

from mcp.client.client import Client
from mcp_types import CallToolResult, TextResourceContents
from tests.services.runs.conftest import wait_until

DESCRIPTION = "Write a launch plan and announcement for a neighbourhood bakery's new website"
TERMINAL = {"COMPLETED", "COMPLETED_WITH_REVIEW", "FAILED", "CANCELLED"}


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The tool's structured result; a tool error fails the test with its message."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    """The message of a tool call that must fail."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    assert result.is_error, result.structured_content
    return " ".join(getattr(part, "text", "") for part in result.content)


async def description_to_artifact(client: Client, *, within: float = 60) -> dict[str, Any]:
    """Project, team, plan, a run waiting for the plan's approval (paused and resumed on the
    way), approved, followed by run_status to its end, and its first text artifact read as a
    resource; the finished run."""
    project = await call(client, "create_project", description=DESCRIPTION)
    assert project["status"] == "DRAFT"
    assert "akery" in project["name"]
    team = await call(client, "generate_team", project_id=project["id"])
    assert len(team["team"]) >= 2
    plan = await call(client, "create_plan", project_id=project["id"])
    assert plan["tasks"]
    run = await call(client, "start_run", project_id=project["id"], require_plan_approval=True)
    assert (await call(client, "pause_run", run_id=run["id"]))["paused"] is True
    assert (await call(client, "resume_run", run_id=run["id"]))["paused"] is False
    waiting = await call(client, "list_interactions", run_id=run["id"], type="APPROVAL")
    assert waiting["total"] == 1, waiting
    approval = waiting["items"][0]
    answered = await call(
        client, "answer_interaction", interaction_id=approval["id"], approved=True
    )
    assert answered["status"] == "RESPONDED"

    async def ended() -> dict[str, Any] | None:
        status = await call(client, "run_status", run_id=run["id"])
        return status if status["status"] in TERMINAL else None

    finished = await wait_until(ended, within=within, message="the run to end")
    assert finished["status"] in {"COMPLETED", "COMPLETED_WITH_REVIEW"}, finished["status"]
    artifacts = await call(client, "list_artifacts", project_id=project["id"])
    assert artifacts["total"] == len(finished["artifacts"]) > 0
    text = next(a for a in artifacts["items"] if a["media_type"].startswith("text/"))
    read = await client.read_resource(f"berrys://artifacts/{text['id']}")
    content = read.contents[0]
    assert isinstance(content, TextResourceContents)
    stored = next(a for a in finished["artifacts"] if a["id"] == text["id"])
    assert content.text == stored["content"]
    current = await client.read_resource(f"berrys://projects/{project['id']}/plan")
    assert json.loads(current.contents[0].text)["id"] == plan["id"]  # type: ignore[union-attr]
    return finished
