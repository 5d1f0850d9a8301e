"""Tables of tools: MCP servers, tools, executions, evaluations, discoveries, agents' bindings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from berrys.core.db import Base, Timestamps, UUIDPrimaryKey, enum_column, utcnow
from berrys.services.tools.contracts import (
    ApprovalPolicy,
    McpTransport,
    ToolExecutionOutcome,
    ToolSource,
    ToolStatus,
    ToolVerdict,
)

AUTHORIZATION_HEADER = "Authorization"


class McpServer(UUIDPrimaryKey, Timestamps, Base):
    """How to reach one MCP server; its tools are registered as ``tool`` rows."""

    __tablename__ = "mcp_server"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    transport: Mapped[McpTransport] = mapped_column(enum_column(McpTransport))
    command: Mapped[str | None] = mapped_column(String(1000))
    args: Mapped[list[Any]] = mapped_column(default=list)
    env: Mapped[dict[str, Any]] = mapped_column(default=dict)
    url: Mapped[str | None] = mapped_column(String(2000))
    # The headers and bearer token, as JSON encrypted under the secret key; only the names
    # of the headers are ever shown.
    credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    header_names: Mapped[list[Any]] = mapped_column(default=list)
    timeout_seconds: Mapped[float] = mapped_column(Float, default=30.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    healthy: Mapped[bool | None] = mapped_column(Boolean)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column()
    server_version: Mapped[str | None] = mapped_column(String(200))
    protocol_version: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )

    @property
    def has_token(self) -> bool:
        """Whether a bearer token is stored: it is sent as the Authorization header."""
        return AUTHORIZATION_HEADER in (self.header_names or [])


class Tool(UUIDPrimaryKey, Timestamps, Base):
    """One registered tool, whatever its source."""

    __tablename__ = "tool"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    input_schema: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_schema: Mapped[dict[str, Any] | None] = mapped_column()
    capabilities: Mapped[list[Any]] = mapped_column(default=list)
    categories: Mapped[list[Any]] = mapped_column(default=list)
    source: Mapped[ToolSource] = mapped_column(enum_column(ToolSource), index=True)
    version: Mapped[str] = mapped_column(String(64), default="1.0.0")
    status: Mapped[ToolStatus] = mapped_column(enum_column(ToolStatus), index=True)
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    approval_policy: Mapped[ApprovalPolicy] = mapped_column(enum_column(ApprovalPolicy))
    idempotent: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the tool calls: the built-in's key, or the tool's name on its MCP server.
    target: Mapped[str] = mapped_column(String(200))
    mcp_server_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("mcp_server.id", ondelete="CASCADE"), index=True
    )
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    tool_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    score: Mapped[float | None] = mapped_column(Float)
    usage_count: Mapped[int] = mapped_column(Integer, default=0)
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class ToolExecution(UUIDPrimaryKey, Base):
    """One invocation attempt, refused ones included: who, what (hashed), how it went."""

    __tablename__ = "tool_execution"
    __table_args__ = (Index("ix_tool_execution_tool_agent", "tool_id", "agent_id"),)

    tool_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tool.id", ondelete="SET NULL"))
    tool_name: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    arguments_hash: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[ToolExecutionOutcome] = mapped_column(enum_column(ToolExecutionOutcome))
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    output_bytes: Mapped[int] = mapped_column(Integer, default=0)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class ToolEvaluation(UUIDPrimaryKey, Base):
    """One evaluation from measurements; the history of a tool's scores."""

    __tablename__ = "tool_evaluation"

    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool.id", ondelete="CASCADE"), index=True
    )
    usability: Mapped[float] = mapped_column(Float)
    performance: Mapped[float] = mapped_column(Float)
    compatibility: Mapped[float] = mapped_column(Float)
    security: Mapped[float] = mapped_column(Float)
    overall: Mapped[float] = mapped_column(Float)
    verdict: Mapped[ToolVerdict] = mapped_column(enum_column(ToolVerdict))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    evaluated_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolDiscovery(UUIDPrimaryKey, Base):
    """A discovery request, kept with its context and what it found."""

    __tablename__ = "tool_discovery"

    capability: Mapped[str | None] = mapped_column(String(200))
    query_text: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    results: Mapped[list[Any]] = mapped_column(default=list)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentTool(UUIDPrimaryKey, Timestamps, Base):
    """An agent's permission to use a tool: allowed or not, and whether each call needs a
    human's approval whatever the tool's own policy."""

    __tablename__ = "agent_tool"
    __table_args__ = (UniqueConstraint("agent_id", "tool_id"),)

    agent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agent.id", ondelete="CASCADE"), index=True
    )
    tool_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tool.id", ondelete="CASCADE"), index=True
    )
    allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
