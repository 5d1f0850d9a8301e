"""tools: registry, MCP servers, executions, evaluations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:40:01.936442
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mcp_server",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "transport",
            sa.Enum("STDIO", "STREAMABLE_HTTP", name="mcptransport", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("command", sa.String(length=1000), nullable=True),
        sa.Column("args", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("env", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("headers", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_checked_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("server_version", sa.String(length=200), nullable=True),
        sa.Column("protocol_version", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_mcp_server_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_server")),
        sa.UniqueConstraint("name", name=op.f("uq_mcp_server_name")),
    )
    op.create_table(
        "tool_discovery",
        sa.Column("capability", sa.String(length=200), nullable=True),
        sa.Column("query_text", sa.Text(), nullable=True),
        sa.Column("context", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("results", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_tool_discovery_requested_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_discovery")),
    )
    op.create_table(
        "tool",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("input_schema", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("output_schema", berrys.core.db.JSONDocument(), nullable=True),
        sa.Column("capabilities", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("categories", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "source",
            sa.Enum("BUILTIN", "MCP", "HTTP", name="toolsource", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DISCOVERED",
                "EVALUATED",
                "APPROVED",
                "DEPRECATED",
                "REJECTED",
                name="toolstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("configuration", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "approval_policy",
            sa.Enum(
                "AUTO",
                "REQUIRES_APPROVAL",
                "DENY",
                name="approvalpolicy",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("idempotent", sa.Boolean(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("mcp_server_id", sa.Uuid(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("tool_metadata", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("last_used_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_tool_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["mcp_server_id"],
            ["mcp_server.id"],
            name=op.f("fk_tool_mcp_server_id_mcp_server"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool")),
        sa.UniqueConstraint("name", name=op.f("uq_tool_name")),
    )
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_mcp_server_id"), ["mcp_server_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_source"), ["source"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_status"), ["status"], unique=False)

    op.create_table(
        "tool_evaluation",
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("usability", sa.Float(), nullable=False),
        sa.Column("performance", sa.Float(), nullable=False),
        sa.Column("compatibility", sa.Float(), nullable=False),
        sa.Column("security", sa.Float(), nullable=False),
        sa.Column("overall", sa.Float(), nullable=False),
        sa.Column(
            "verdict",
            sa.Enum(
                "RECOMMENDED",
                "ACCEPTABLE",
                "NOT_RECOMMENDED",
                name="toolverdict",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("details", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("evaluated_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluated_by"],
            ["user_account.id"],
            name=op.f("fk_tool_evaluation_evaluated_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool.id"],
            name=op.f("fk_tool_evaluation_tool_id_tool"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_evaluation")),
    )
    with op.batch_alter_table("tool_evaluation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_evaluation_tool_id"), ["tool_id"], unique=False)

    op.create_table(
        "tool_execution",
        sa.Column("tool_id", sa.Uuid(), nullable=True),
        sa.Column("tool_name", sa.String(length=200), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("arguments_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "SUCCESS",
                "ERROR",
                "TIMEOUT",
                "INVALID",
                "DENIED",
                "APPROVAL_REQUIRED",
                name="toolexecutionoutcome",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("output_bytes", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_tool_execution_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"],
            ["tool.id"],
            name=op.f("fk_tool_execution_tool_id_tool"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_tool_execution_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tool_execution")),
    )
    with op.batch_alter_table("tool_execution", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_execution_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tool_execution_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tool_execution_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index("ix_tool_execution_tool_agent", ["tool_id", "agent_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tool_execution", schema=None) as batch_op:
        batch_op.drop_index("ix_tool_execution_tool_agent")
        batch_op.drop_index(batch_op.f("ix_tool_execution_project_id"))
        batch_op.drop_index(batch_op.f("ix_tool_execution_created_at"))
        batch_op.drop_index(batch_op.f("ix_tool_execution_agent_id"))

    op.drop_table("tool_execution")
    with op.batch_alter_table("tool_evaluation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_evaluation_tool_id"))

    op.drop_table("tool_evaluation")
    with op.batch_alter_table("tool", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_status"))
        batch_op.drop_index(batch_op.f("ix_tool_source"))
        batch_op.drop_index(batch_op.f("ix_tool_mcp_server_id"))

    op.drop_table("tool")
    op.drop_table("tool_discovery")
    op.drop_table("mcp_server")
