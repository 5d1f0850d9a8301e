"""The MCP tools: a project from a description, its team, plan and run, the run's status and
control (pause, resume, cancel), what waits for a person and the answer, artifacts, search.
Each checks what the REST route checks and calls the same service function, so permissions
and audit are the same."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from berrys.core.contracts import MAX_INT, Description, ListOf, Name
from berrys.mcp_server.edge import EdgeContext, edge_of, tool_errors, user_of, writer_of
from berrys.services.agents import service as agents
from berrys.services.agents.contracts import GenerateRequest, GenerationOut
from berrys.services.catalogue import service as catalogue
from berrys.services.catalogue.contracts import Methodology
from berrys.services.interactions import service as interactions
from berrys.services.interactions.contracts import (
    HumanInteractionType,
    InteractionOut,
    InteractionResponse,
    InteractionStatus,
)
from berrys.services.pipeline import service as pipeline
from berrys.services.planning import service as planning
from berrys.services.planning.contracts import PlanCreate, PlanDetail
from berrys.services.projects import service as projects
from berrys.services.projects.contracts import ProjectCreate, ProjectOut, ProjectStatus
from berrys.services.runs import service as runs
from berrys.services.runs.contracts import ArtifactOut, ArtifactSummary, RunCreate, RunOut
from berrys.services.search import service as search
from berrys.services.search.contracts import SearchKind, SearchResult, SearchText

ProjectId = Annotated[uuid.UUID, Field(description="The project's id.")]
RunId = Annotated[uuid.UUID, Field(description="The run's id.")]
Limit = Annotated[int, Field(ge=1, le=200, description="Items per page.")]
Offset = Annotated[int, Field(ge=0, le=MAX_INT, description="Items to skip.")]
Comment = Annotated[str | None, Field(max_length=20_000)]


async def create_project(
    ctx: EdgeContext,
    description: Annotated[Description, Field(min_length=1, description="What the project is.")],
    name: Annotated[
        Name | None, Field(description="Default: a title from the description.")
    ] = None,
) -> ProjectOut:
    """Create a DRAFT project from a description (then generate_team, create_plan, start_run)."""
    async with tool_errors():
        user = await writer_of(ctx)
        project_in = ProjectCreate(
            name=name or catalogue.title(description), description=description
        )
        async with edge_of(ctx).services().database.transaction() as session:
            return await projects.create(session, project_in=project_in, user=user)


async def list_projects(
    ctx: EdgeContext,
    status: ProjectStatus | None = None,
    q: Annotated[
        str | None, Field(max_length=200, description="Text in name or description.")
    ] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ListOf[ProjectOut]:
    """The projects the caller may see, newest first."""
    async with tool_errors():
        user = await user_of(ctx)
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            items, total = await projects.get_all(
                session, user=user, limit=limit, offset=offset, status=status, q=q
            )
        return ListOf[ProjectOut](items=items, total=total)


async def generate_team(
    ctx: EdgeContext,
    project_id: ProjectId,
    description: Annotated[
        Description | None, Field(description="Default: the project's description.")
    ] = None,
) -> GenerationOut:
    """Staff the project: requirements, a team of agents and how they collaborate (saved)."""
    async with tool_errors():
        user = await writer_of(ctx)
        services = edge_of(ctx).services()
        async with services.database.transaction(read_only=True) as session:
            await projects.get(session, project_id=project_id, user=user)
        return await agents.generate(
            services.models,
            services.database,
            project_id=project_id,
            request=GenerateRequest(description=description),
            user=user,
        )


async def create_plan(
    ctx: EdgeContext,
    project_id: ProjectId,
    methodology: Annotated[Methodology | None, Field(description="Default: CRITICAL_PATH.")] = None,
) -> PlanDetail:
    """Generate the project's plan (phases, tasks, dependencies, schedule) as its current one."""
    async with tool_errors():
        user = await writer_of(ctx)
        services = edge_of(ctx).services()
        return await planning.create_plan(
            services.models,
            services.database,
            project_id=project_id,
            plan_in=PlanCreate(methodology=methodology),
            user=user,
        )


async def start_run(
    ctx: EdgeContext,
    project_id: ProjectId,
    plan_id: Annotated[uuid.UUID | None, Field(description="Default: the current plan.")] = None,
    require_plan_approval: Annotated[
        bool | None, Field(description="Wait for a person to approve the plan first.")
    ] = None,
    budget_usd: Annotated[float | None, Field(ge=0, description="Spend at most this.")] = None,
) -> RunOut:
    """Start running the project's plan; follow it with run_status."""
    async with tool_errors():
        user = await writer_of(ctx)
        run_in = RunCreate(
            plan_id=plan_id, require_plan_approval=require_plan_approval, budget_usd=budget_usd
        )
        services = edge_of(ctx).services()
        async with services.database.transaction() as session:
            await projects.get(session, project_id=project_id, user=user)
            return await pipeline.create_from_plan(
                session,
                models=services.models,
                database=services.database,
                project_id=project_id,
                run_in=run_in,
                user=user,
            )


async def run_status(ctx: EdgeContext, run_id: RunId) -> RunOut:
    """The run: its status, each task's status and output, its artifacts and cost."""
    async with tool_errors():
        user = await user_of(ctx)
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            return await runs.get(session, run_id=run_id, user=user)


async def pause_run(ctx: EdgeContext, run_id: RunId) -> RunOut:
    """No new task starts until resume_run; running tasks finish."""
    async with tool_errors():
        user = await writer_of(ctx)
        async with edge_of(ctx).services().database.transaction() as session:
            return await runs.pause(session, run_id=run_id, user=user)


async def resume_run(ctx: EdgeContext, run_id: RunId) -> RunOut:
    """Resume a paused run."""
    async with tool_errors():
        user = await writer_of(ctx)
        async with edge_of(ctx).services().database.transaction() as session:
            return await runs.resume(session, run_id=run_id, user=user)


async def cancel_run(ctx: EdgeContext, run_id: RunId) -> RunOut:
    """Cancel every unfinished task of the run."""
    async with tool_errors():
        user = await writer_of(ctx)
        async with edge_of(ctx).services().database.transaction() as session:
            return await runs.cancel(session, run_id=run_id, user=user)


async def list_interactions(
    ctx: EdgeContext,
    status: InteractionStatus | None = InteractionStatus.PENDING,
    type: Annotated[
        HumanInteractionType | None, Field(description="APPROVAL, CLARIFICATION, ...; all if null.")
    ] = None,
    project_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ListOf[InteractionOut]:
    """What waits for a person (approvals, questions), newest first: PENDING by default."""
    async with tool_errors():
        user = await user_of(ctx)
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            items, total = await interactions.get_all(
                session,
                limit=limit,
                offset=offset,
                project_ids=await projects.visible_scope(session, user=user),
                status=status,
                project_id=project_id,
                run_id=run_id,
                type=type,
            )
        return ListOf[InteractionOut](items=items, total=total)


async def answer_interaction(
    ctx: EdgeContext,
    interaction_id: uuid.UUID,
    approved: Annotated[bool | None, Field(description="An APPROVAL's decision.")] = None,
    comment: Comment = None,
    answer: Annotated[Comment, Field(description="A CLARIFICATION's answer.")] = None,
    feedback: Annotated[Comment, Field(description="FEEDBACK asked for.")] = None,
    acknowledged: Annotated[bool | None, Field(description="A NOTIFICATION read.")] = None,
) -> InteractionOut:
    """Answer a PENDING interaction; a run waiting for it goes on at once."""
    async with tool_errors():
        user = await writer_of(ctx)
        response = InteractionResponse(
            approved=approved,
            comment=comment,
            answer=answer,
            feedback=feedback,
            acknowledged=acknowledged,
        )
        async with edge_of(ctx).services().database.transaction() as session:
            return await runs.respond_interaction(
                session, interaction_id=interaction_id, response=response, user=user
            )


async def list_artifacts(
    ctx: EdgeContext, project_id: ProjectId, limit: Limit = 50, offset: Offset = 0
) -> ListOf[ArtifactSummary]:
    """What the project's runs produced, newest first (read one with read_artifact)."""
    async with tool_errors():
        user = await user_of(ctx)
        services = edge_of(ctx).services()
        async with services.database.transaction(read_only=True) as session:
            items, total = await runs.get_artifacts(
                session,
                project_id=project_id,
                user=user,
                workspaces=services.settings.workspaces_dir,
                limit=limit,
                offset=offset,
            )
        return ListOf[ArtifactSummary](items=items, total=total)


async def read_artifact(ctx: EdgeContext, artifact_id: uuid.UUID) -> ArtifactOut:
    """One artifact with its text content."""
    async with tool_errors():
        user = await user_of(ctx)
        async with edge_of(ctx).services().database.transaction(read_only=True) as session:
            return await runs.get_artifact_content(session, artifact_id=artifact_id, user=user)


async def search_similar(
    ctx: EdgeContext,
    q: Annotated[SearchText, Field(description="What to look for (1 to 200 characters).")],
    kind: Annotated[SearchKind | None, Field(description="All kinds if null.")] = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> SearchResult:
    """Projects, tasks, agent templates and tools the caller may see, ranked by similarity."""
    async with tool_errors():
        user = await user_of(ctx)
        services = edge_of(ctx).services()
        return await search.similar(
            services.database,
            user=user,
            q=q,
            kinds=[kind] if kind is not None else list(SearchKind),
            limit=limit,
            offset=0,
            budget=search.EMBED_BUDGET_SECONDS,
            embedder=services.embedder,
            models=services.models,
        )


TOOLS = (
    create_project,
    list_projects,
    generate_team,
    create_plan,
    start_run,
    run_status,
    pause_run,
    resume_run,
    cancel_run,
    list_interactions,
    answer_interaction,
    list_artifacts,
    read_artifact,
    search_similar,
)
