"""agents: agents, history, specialisations, templates, messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 10:33:06.623768
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_specialisation",
        sa.Column(
            "agent_type",
            sa.Enum(
                "COORDINATOR",
                "ASSISTANT",
                "RESEARCHER",
                "DEVELOPER",
                "DESIGNER",
                "SPECIALIST",
                "AUDITOR",
                "CUSTOM",
                name="agenttype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("skills", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("responsibilities", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("knowledge_domains", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("collaboration_patterns", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_specialisation")),
        sa.UniqueConstraint("agent_type", name=op.f("uq_agent_specialisation_agent_type")),
    )
    op.create_table(
        "agent_template",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "agent_type",
            sa.Enum(
                "COORDINATOR",
                "ASSISTANT",
                "RESEARCHER",
                "DEVELOPER",
                "DESIGNER",
                "SPECIALIST",
                "AUDITOR",
                "CUSTOM",
                name="agenttype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("tags", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("is_system", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_agent_template_owner_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_template")),
        sa.UniqueConstraint("name", name=op.f("uq_agent_template_name")),
    )
    with op.batch_alter_table("agent_template", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_template_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "agent",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "agent_type",
            sa.Enum(
                "COORDINATOR",
                "ASSISTANT",
                "RESEARCHER",
                "DEVELOPER",
                "DESIGNER",
                "SPECIALIST",
                "AUDITOR",
                "CUSTOM",
                name="agenttype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("role", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("prompt_template", sa.Text(), nullable=False),
        sa.Column("configuration", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("specialisation", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "CREATED",
                "INITIALIZING",
                "READY",
                "ACTIVE",
                "PAUSED",
                "ERROR",
                "TERMINATED",
                name="agentstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("generated", sa.Boolean(), nullable=False),
        sa.Column("requirements", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_agent_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_agent_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["agent_template.id"],
            name=op.f("fk_agent_template_id_agent_template"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent")),
    )
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agent_state"), ["state"], unique=False)

    op.create_table(
        "agent_template_version",
        sa.Column("template_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_agent_template_version_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["agent_template.id"],
            name=op.f("fk_agent_template_version_template_id_agent_template"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_template_version")),
        sa.UniqueConstraint("template_id", "version", name="uq_agent_template_version"),
    )
    op.create_table(
        "agent_collaboration",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("from_agent_id", sa.Uuid(), nullable=False),
        sa.Column("to_agent_id", sa.Uuid(), nullable=False),
        sa.Column(
            "interaction",
            sa.Enum(
                "DELEGATES",
                "HANDS_OFF",
                "REVIEWS",
                "REPORTS_TO",
                "CONSULTS",
                name="collaborationtype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_collaboration_from_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_agent_collaboration_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_collaboration_to_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_collaboration")),
        sa.UniqueConstraint("from_agent_id", "to_agent_id", "interaction", name="uq_agent_collab"),
    )
    with op.batch_alter_table("agent_collaboration", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_collaboration_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "agent_message",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("from_agent_id", sa.Uuid(), nullable=True),
        sa.Column("to_agent_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("payload", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "CREATED",
                "DELIVERED",
                "PROCESSED",
                "FAILED",
                name="messagestatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processed_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_message_from_agent_id_agent"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_agent_message_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["user_account.id"],
            name=op.f("fk_agent_message_sender_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_message_to_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_message")),
    )
    with op.batch_alter_table("agent_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_message_from_agent_id"), ["from_agent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_agent_message_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agent_message_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_agent_message_to_agent", ["to_agent_id", "created_at"], unique=False
        )

    op.create_table(
        "agent_state_history",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_state",
            sa.Enum(
                "CREATED",
                "INITIALIZING",
                "READY",
                "ACTIVE",
                "PAUSED",
                "ERROR",
                "TERMINATED",
                name="agentstate",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_state",
            sa.Enum(
                "CREATED",
                "INITIALIZING",
                "READY",
                "ACTIVE",
                "PAUSED",
                "ERROR",
                "TERMINATED",
                name="agentstate",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("transitioned_by", sa.Uuid(), nullable=True),
        sa.Column("transitioned_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
            name=op.f("fk_agent_state_history_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transitioned_by"],
            ["user_account.id"],
            name=op.f("fk_agent_state_history_transitioned_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_history")),
    )
    with op.batch_alter_table("agent_state_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_state_history_agent_id"), ["agent_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("agent_state_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_state_history_agent_id"))

    op.drop_table("agent_state_history")
    with op.batch_alter_table("agent_message", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_message_to_agent")
        batch_op.drop_index(batch_op.f("ix_agent_message_status"))
        batch_op.drop_index(batch_op.f("ix_agent_message_project_id"))
        batch_op.drop_index(batch_op.f("ix_agent_message_from_agent_id"))

    op.drop_table("agent_message")
    with op.batch_alter_table("agent_collaboration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_collaboration_project_id"))

    op.drop_table("agent_collaboration")
    op.drop_table("agent_template_version")
    with op.batch_alter_table("agent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_state"))
        batch_op.drop_index(batch_op.f("ix_agent_project_id"))

    op.drop_table("agent")
    with op.batch_alter_table("agent_template", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_template_owner_id"))

    op.drop_table("agent_template")
    op.drop_table("agent_specialisation")
