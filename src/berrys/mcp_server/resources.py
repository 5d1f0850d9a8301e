"""The MCP resources (templates: each reads what the calling user may see): a project, its
current plan, a plan version, a project's artifacts and an artifact's content, under
``berrys://`` URIs. The projects themselves are listed by the list_projects tool."""

from __future__ import annotations

import asyncio

from mcp.server.mcpserver import MCPServer

from berrys.core.contracts import ListOf
from berrys.mcp_server.edge import (
    Edge,
    EdgeContext,
    edge_of,
    resource_errors,
    resource_id,
    user_of,
)
from berrys.services.planning import service as planning
from berrys.services.projects import service as projects
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import ArtifactSummary

JSON = "application/json"
# The newest this many; a client pages through more with the list tools.
LISTED = 200


async def project(ctx: EdgeContext, project_id: str) -> str:
    """One project."""
    async with resource_errors():
        user = await user_of(ctx)
        wanted = resource_id(project_id, "project")
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            found = await projects.get(session, project_id=wanted, user=user)
        return found.model_dump_json()


async def current_plan(ctx: EdgeContext, project_id: str) -> str:
    """The project's current plan: phases, tasks, dependencies, schedule."""
    async with resource_errors():
        user = await user_of(ctx)
        wanted = resource_id(project_id, "project")
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            plan = await planning.get_current(session, project_id=wanted, user=user)
        return plan.model_dump_json()


async def plan(ctx: EdgeContext, plan_id: str) -> str:
    """One plan version with its phases, tasks and dependencies."""
    async with resource_errors():
        user = await user_of(ctx)
        wanted = resource_id(plan_id, "plan")
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            detail = await planning.get_detail(session, plan_id=wanted, user=user)
        return detail.model_dump_json()


async def artifact_list(ctx: EdgeContext, project_id: str) -> str:
    """What the project's runs produced, newest first."""
    async with resource_errors():
        user = await user_of(ctx)
        wanted = resource_id(project_id, "project")
        services = edge_of(ctx).services()
        async with services.database.transaction(read_only=True) as session:
            items, total = await runs.get_artifacts(
                session,
                project_id=wanted,
                user=user,
                workspaces=services.settings.workspaces_dir,
                limit=LISTED,
                offset=0,
            )
        return ListOf[ArtifactSummary](items=items, total=total).model_dump_json()


async def artifact(ctx: EdgeContext, artifact_id: str) -> str | bytes:
    """The artifact as REST serves its content: the workspace file (a spreadsheet is not its
    text), else its text; text as text, anything else as a blob."""
    async with resource_errors():
        user = await user_of(ctx)
        wanted = resource_id(artifact_id, "artifact")
        services = edge_of(ctx).services()
        async with services.database.transaction(read_only=True) as session:
            found = await runs.get_artifact_content(session, artifact_id=wanted, user=user)
        _, body = await asyncio.to_thread(
            runs.read_artifact_file, found, services.settings.workspaces_dir
        )
        if found.media_type.startswith("text/"):
            return body.decode("utf-8", errors="replace")
        return body


def register(server: MCPServer[Edge]) -> None:
    """Every resource on ``server``."""
    server.resource("berrys://projects/{project_id}", name="project", mime_type=JSON)(project)
    server.resource("berrys://projects/{project_id}/plan", name="current plan", mime_type=JSON)(
        current_plan
    )
    server.resource("berrys://plans/{plan_id}", name="plan", mime_type=JSON)(plan)
    server.resource("berrys://projects/{project_id}/artifacts", name="artifacts", mime_type=JSON)(
        artifact_list
    )
    server.resource(
        "berrys://artifacts/{artifact_id}",
        name="artifact",
        description="An artifact's content: text, or a blob for a binary file.",
    )(artifact)
