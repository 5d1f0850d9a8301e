"""REST routes of tools: the registry, MCP servers, an agent's bindings, calls and their log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from berrys.core.contracts import ListOf
from berrys.core.deps import DatabaseDep, PageDep, Session, SettingsDep
from berrys.core.encryption import secret_box
from berrys.services.auth.contracts import UserRole
from berrys.services.auth.deps import AdminUser, CurrentUser, WriterUser
from berrys.services.llm.deps import EmbedderDep
from berrys.services.projects import service as projects
from berrys.services.tools import service
from berrys.services.tools.contracts import (
    AgentToolBind,
    AgentToolOut,
    BatchCreate,
    BatchResult,
    CategoryOut,
    DiscoverRequest,
    DiscoverResult,
    DiscoveryOut,
    EvaluateRequest,
    EvaluationOut,
    ExecutionOut,
    InvokeRequest,
    InvokeResult,
    McpHealthOut,
    McpServerCreate,
    McpServerOut,
    McpServerUpdate,
    RefreshResult,
    ToolCreate,
    ToolOut,
    ToolSource,
    ToolStatus,
    ToolUpdate,
    UsageOut,
)
from berrys.services.tools.deps import ToolInvokerDep

router = APIRouter(prefix="/api/v1/tools", tags=["tools"])
servers_router = APIRouter(prefix="/api/v1/mcp-servers", tags=["tools"])
agent_tools_router = APIRouter(prefix="/api/v1/agents/{agent_id}/tools", tags=["tools"])


@router.get("", response_model=ListOf[ToolOut])
async def list_tools(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    source: Annotated[ToolSource | None, Query()] = None,
    status: Annotated[ToolStatus | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    capability: Annotated[str | None, Query(max_length=100)] = None,
    mcp_server_id: Annotated[uuid.UUID | None, Query()] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in name/description.")] = None,
) -> ListOf[ToolOut]:
    items, total = await service.get_all(
        session,
        limit=page.limit,
        offset=page.offset,
        source=source,
        status=status,
        category=category,
        capability=capability,
        mcp_server_id=mcp_server_id,
        q=q,
    )
    return ListOf[ToolOut](items=items, total=total)


@router.post("", response_model=ToolOut, status_code=status.HTTP_201_CREATED)
async def create_tool(body: ToolCreate, session: Session, user: AdminUser) -> ToolOut:
    """Register a tool (ADMIN: tools are global)."""
    return await service.create(session, tool_in=body, user=user)


@router.post("/batch", response_model=BatchResult)
async def batch_create(body: BatchCreate, session: Session, user: AdminUser) -> BatchResult:
    """Register many: a result per item; a failed item leaves nothing behind."""
    return await service.batch_create(session, tools_in=body.tools, user=user)


@router.get("/categories", response_model=list[CategoryOut])
async def list_categories(session: Session, user: CurrentUser) -> list[CategoryOut]:
    return await service.get_categories(session)


@router.post("/discover", response_model=DiscoverResult)
async def discover(
    body: DiscoverRequest, database: DatabaseDep, embedder: EmbedderDep, user: CurrentUser
) -> DiscoverResult:
    """Rank registered tools and configured MCP servers; each candidate says why."""
    return await service.discover(database, request=body, user=user, embedder=embedder)


@router.get("/discoveries/{discovery_id}", response_model=DiscoveryOut)
async def get_discovery(
    discovery_id: uuid.UUID, session: Session, user: CurrentUser
) -> DiscoveryOut:
    """A stored discovery request with its context and results (the requester's own)."""
    return await service.get_discovery(session, discovery_id=discovery_id, user=user)


@router.get("/executions", response_model=ListOf[ExecutionOut])
async def list_executions(
    session: Session,
    user: CurrentUser,
    page: PageDep,
    tool_id: Annotated[uuid.UUID | None, Query()] = None,
    agent_id: Annotated[uuid.UUID | None, Query()] = None,
) -> ListOf[ExecutionOut]:
    """The execution log; a non-admin sees their own calls and their projects' calls."""
    items, total = await service.get_executions(
        session,
        limit=page.limit,
        offset=page.offset,
        tool_id=tool_id,
        agent_id=agent_id,
        visible_to=await projects.log_scope(session, user=user),
    )
    return ListOf[ExecutionOut](items=items, total=total)


@router.get("/{tool_id}", response_model=ToolOut)
async def get_tool(tool_id: uuid.UUID, session: Session, user: CurrentUser) -> ToolOut:
    return await service.get(session, tool_id=tool_id)


@router.patch("/{tool_id}", response_model=ToolOut)
async def update_tool(
    tool_id: uuid.UUID, body: ToolUpdate, session: Session, user: AdminUser
) -> ToolOut:
    """Change a tool; a status change must follow the lifecycle (409 names the allowed)."""
    return await service.update(session, tool_id=tool_id, tool_in=body, user=user)


@router.delete("/{tool_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tool(tool_id: uuid.UUID, session: Session, user: AdminUser) -> None:
    await service.delete(session, tool_id=tool_id, user=user)


@router.post("/{tool_id}/evaluate", response_model=EvaluationOut)
async def evaluate_tool(
    tool_id: uuid.UUID,
    invoker: ToolInvokerDep,
    user: WriterUser,
    body: EvaluateRequest | None = None,
) -> EvaluationOut:
    """Measure usability, performance, compatibility and security; store the result."""
    return await service.evaluate(
        invoker, tool_id=tool_id, request=body or EvaluateRequest(), user=user
    )


@router.get("/{tool_id}/evaluations", response_model=ListOf[EvaluationOut])
async def list_evaluations(
    tool_id: uuid.UUID, session: Session, user: CurrentUser, page: PageDep
) -> ListOf[EvaluationOut]:
    items, total = await service.get_evaluations(
        session, tool_id=tool_id, limit=page.limit, offset=page.offset
    )
    return ListOf[EvaluationOut](items=items, total=total)


@router.get("/{tool_id}/usage", response_model=list[UsageOut])
async def tool_usage(tool_id: uuid.UUID, session: Session, user: CurrentUser) -> list[UsageOut]:
    """Calls per agent (and direct calls, agent_id null); a non-admin counts only the calls
    the execution log shows them (their own and their projects')."""
    await service.get(session, tool_id=tool_id)
    visible_to = await projects.log_scope(session, user=user)
    return await service.get_usage(session, tool_id=tool_id, visible_to=visible_to)


@router.post("/{tool_id}/invoke", response_model=InvokeResult)
async def invoke_tool(
    tool_id: uuid.UUID,
    body: InvokeRequest,
    invoker: ToolInvokerDep,
    user: WriterUser,
) -> InvokeResult:
    """Call the tool: schema (422 with JSON paths), policy (403 DENY, 409 approval), timeout."""
    return await invoker.invoke(
        tool_id=tool_id,
        arguments=body.arguments,
        user=user,
        project_id=body.project_id,
        agent_id=body.agent_id,
        timeout_seconds=body.timeout_seconds,
    )


@servers_router.get("", response_model=ListOf[McpServerOut])
async def list_servers(session: Session, user: CurrentUser, page: PageDep) -> ListOf[McpServerOut]:
    items, total = await service.get_servers(
        session, limit=page.limit, offset=page.offset, reveal=user.role == UserRole.ADMIN
    )
    return ListOf[McpServerOut](items=items, total=total)


@servers_router.post("", response_model=McpServerOut, status_code=status.HTTP_201_CREATED)
async def create_server(
    body: McpServerCreate, session: Session, user: AdminUser, settings: SettingsDep
) -> McpServerOut:
    """Configure an MCP server (ADMIN: a STDIO server is a command run on this host), or a
    remote A2A agent (transport A2A, its base URL: refresh registers its card's skills as
    tools); an HTTP server's headers and bearer token are stored encrypted, never returned."""
    return await service.create_server(session, server_in=body, user=user, box=secret_box(settings))


@servers_router.get("/{server_id}", response_model=McpServerOut)
async def get_server(server_id: uuid.UUID, session: Session, user: CurrentUser) -> McpServerOut:
    """How a server is started (command, arguments) is shown to ADMIN only."""
    return await service.get_server(
        session, server_id=server_id, reveal=user.role == UserRole.ADMIN
    )


@servers_router.patch("/{server_id}", response_model=McpServerOut)
async def update_server(
    server_id: uuid.UUID,
    body: McpServerUpdate,
    session: Session,
    user: AdminUser,
    settings: SettingsDep,
) -> McpServerOut:
    """Change a server; '***' sent back for a masked value keeps the stored one, and
    headers or a bearer token given replace the stored ones."""
    return await service.update_server(
        session, server_id=server_id, server_in=body, user=user, box=secret_box(settings)
    )


@servers_router.delete("/{server_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_server(
    server_id: uuid.UUID, session: Session, user: AdminUser, invoker: ToolInvokerDep
) -> None:
    await service.delete_server(session, invoker, server_id=server_id, user=user)


@servers_router.post("/{server_id}/refresh", response_model=RefreshResult)
async def refresh_server(
    server_id: uuid.UUID, invoker: ToolInvokerDep, user: AdminUser
) -> RefreshResult:
    """Connect, list the server's tools, register new ones (DISCOVERED), refresh the rest."""
    return await service.refresh_server(invoker, server_id=server_id, user=user)


@servers_router.get("/{server_id}/health", response_model=McpHealthOut)
async def server_health(
    server_id: uuid.UUID, invoker: ToolInvokerDep, user: WriterUser
) -> McpHealthOut:
    """Measured now: connect (or reuse the session) and list tools within the timeout.

    It may start the server's process, so a VIEWER may not: the same people who may call the
    server's tools (and so start it anyway) may check it; a VIEWER reads the last health
    recorded on the server."""
    return await service.server_health(invoker, server_id=server_id)


@agent_tools_router.get("", response_model=list[AgentToolOut])
async def list_agent_tools(
    agent_id: uuid.UUID, session: Session, user: CurrentUser
) -> list[AgentToolOut]:
    """Every binding of the agent (refused ones too), with the effective approval policy."""
    return await service.get_agent_tools(session, agent_id=agent_id, user=user, usable_only=False)


@agent_tools_router.post("", response_model=AgentToolOut, status_code=status.HTTP_201_CREATED)
async def bind_agent_tool(
    agent_id: uuid.UUID, body: AgentToolBind, session: Session, user: WriterUser
) -> AgentToolOut:
    """Let the agent use a tool (``allowed``), optionally only with approval; binding the same
    tool again updates the permissions."""
    return await service.bind_agent_tool(session, agent_id=agent_id, binding_in=body, user=user)


@agent_tools_router.delete("/{tool_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unbind_agent_tool(
    agent_id: uuid.UUID, tool_id: uuid.UUID, session: Session, user: WriterUser
) -> None:
    await service.unbind_agent_tool(session, agent_id=agent_id, tool_id=tool_id, user=user)
