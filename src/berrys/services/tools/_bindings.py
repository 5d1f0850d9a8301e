"""Agent tool bindings: which tools an agent may use, and with what approval."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from berrys.core.errors import NotFound
from berrys.services.agents import service as agents
from berrys.services.audit import service as audit
from berrys.services.audit.contracts import AuditAction
from berrys.services.auth.contracts import UserOut
from berrys.services.tools._registry import get_tool_row
from berrys.services.tools.contracts import AgentToolBind, AgentToolOut, ApprovalPolicy, ToolStatus
from berrys.services.tools.tables import AgentTool, Tool


def _out(binding: AgentTool, tool: Tool) -> AgentToolOut:
    policy = ApprovalPolicy(tool.approval_policy)
    effective = policy
    if binding.requires_approval and policy == ApprovalPolicy.AUTO:
        effective = ApprovalPolicy.REQUIRES_APPROVAL
    if not binding.allowed:
        effective = ApprovalPolicy.DENY
    return AgentToolOut(
        id=tool.id,
        binding_id=binding.id,
        agent_id=binding.agent_id,
        name=tool.name,
        description=tool.description,
        input_schema=tool.input_schema or {},
        source=tool.source,
        status=tool.status,
        approval_policy=effective,
        tool_approval_policy=policy,
        idempotent=tool.idempotent,
        allowed=binding.allowed,
        requires_approval=binding.requires_approval,
        created_at=binding.created_at,
    )


async def get_agent_tools(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    user: UserOut | None = None,
    usable_only: bool = True,
) -> list[AgentToolOut]:
    """The agent's tools. ``usable_only`` (the engine's view) leaves out refused ones:
    not allowed, DENY, REJECTED. With ``user`` the agent must be visible to them."""
    if user is not None:
        await agents.get(session, agent_id=agent_id, user=user)
    rows = await session.execute(
        select(AgentTool, Tool)
        .join(Tool, Tool.id == AgentTool.tool_id)
        .where(AgentTool.agent_id == agent_id)
        .order_by(Tool.name)
    )
    tools = [_out(binding, tool) for binding, tool in rows]
    if usable_only:
        tools = [
            tool
            for tool in tools
            if tool.approval_policy != ApprovalPolicy.DENY and tool.status != ToolStatus.REJECTED
        ]
    return tools


async def bind(
    session: AsyncSession, *, agent_id: uuid.UUID, binding_in: AgentToolBind, user: UserOut
) -> AgentToolOut:
    """Allow (or forbid) a tool for an agent; binding again updates the permissions."""
    agent = await agents.get(session, agent_id=agent_id, user=user)
    tool = await get_tool_row(session, binding_in.tool_id)
    binding = await session.scalar(
        select(AgentTool).where(AgentTool.agent_id == agent_id, AgentTool.tool_id == tool.id)
    )
    before = _out(binding, tool) if binding else None
    if binding is None:
        binding = AgentTool(agent_id=agent_id, tool_id=tool.id, created_by=user.id)
        session.add(binding)
    binding.allowed = binding_in.allowed
    binding.requires_approval = binding_in.requires_approval
    await session.flush()
    after = _out(binding, tool)
    await audit.record(
        session,
        entity_type="agent_tool",
        entity_id=binding.id,
        project_id=agent.project_id,
        action=AuditAction.CREATE if before is None else AuditAction.UPDATE,
        actor_id=user.id,
        before=before,
        after=after,
    )
    return after


async def unbind(
    session: AsyncSession, *, agent_id: uuid.UUID, tool_id: uuid.UUID, user: UserOut
) -> None:
    agent = await agents.get(session, agent_id=agent_id, user=user)
    row = (
        await session.execute(
            select(AgentTool, Tool)
            .join(Tool, Tool.id == AgentTool.tool_id)
            .where(AgentTool.agent_id == agent_id, AgentTool.tool_id == tool_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"Agent {agent_id} has no binding for tool {tool_id}")
    binding, tool = row
    before = _out(binding, tool)
    await session.delete(binding)
    await audit.record(
        session,
        entity_type="agent_tool",
        entity_id=binding.id,
        project_id=agent.project_id,
        action=AuditAction.DELETE,
        actor_id=user.id,
        before=before,
    )
