"""tools: agent tool bindings (agent_tool)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_tool",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("tool_id", sa.Uuid(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_tool_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_agent_tool_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tool_id"], ["tool.id"], name=op.f("fk_agent_tool_tool_id_tool"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_tool")),
        sa.UniqueConstraint("agent_id", "tool_id", name=op.f("uq_agent_tool_agent_id")),
    )
    with op.batch_alter_table("agent_tool", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_tool_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_tool_tool_id"), ["tool_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agent_tool", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_tool_tool_id"))
        batch_op.drop_index(batch_op.f("ix_agent_tool_agent_id"))
    op.drop_table("agent_tool")
