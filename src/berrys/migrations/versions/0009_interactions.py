"""interactions: human_interaction and its approval, clarification, feedback, notification tables

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:43:56.194179
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "human_interaction",
        sa.Column(
            "type",
            sa.Enum(
                "APPROVAL",
                "CLARIFICATION",
                "FEEDBACK",
                "NOTIFICATION",
                name="humaninteractiontype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "RESPONDED",
                "EXPIRED",
                "CANCELLED",
                name="interactionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum(
                "LOW", "MEDIUM", "HIGH", "CRITICAL", name="priority", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("task_run_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("expires_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "escalation",
            sa.Enum(
                "REJECT", "APPROVE", "ESCALATE", name="escalationrule", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column(
            "on_reject",
            sa.Enum("FAIL", "SKIP", name="rejectionpolicy", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("responded_by", sa.Uuid(), nullable=True),
        sa.Column("responded_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_human_interaction_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["responded_by"],
            ["user_account.id"],
            name=op.f("fk_human_interaction_responded_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_human_interaction_run_id_run"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_human_interaction_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_human_interaction")),
    )
    with op.batch_alter_table("human_interaction", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_human_interaction_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_human_interaction_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_human_interaction_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_human_interaction_status_expires", ["status", "expires_at"], unique=False
        )

    op.create_table(
        "approval",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column(
            "subject",
            sa.Enum(
                "PLAN",
                "TOOL_CALL",
                "TOOL_RERUN",
                "TASK_RISK",
                "BUDGET",
                name="approvalsubject",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("details", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["human_interaction.id"],
            name=op.f("fk_approval_interaction_id_human_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_approval")),
    )

    op.create_table(
        "clarification",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["human_interaction.id"],
            name=op.f("fk_clarification_interaction_id_human_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_clarification")),
    )

    op.create_table(
        "feedback",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["human_interaction.id"],
            name=op.f("fk_feedback_interaction_id_human_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_feedback")),
    )

    op.create_table(
        "notification",
        sa.Column("interaction_id", sa.Uuid(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "INFO", "WARNING", "ERROR", name="notificationlevel", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["human_interaction.id"],
            name=op.f("fk_notification_interaction_id_human_interaction"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("interaction_id", name=op.f("pk_notification")),
    )


def downgrade() -> None:
    op.drop_table("notification")

    op.drop_table("feedback")

    op.drop_table("clarification")

    op.drop_table("approval")

    with op.batch_alter_table("human_interaction", schema=None) as batch_op:
        batch_op.drop_index("ix_human_interaction_status_expires")
        batch_op.drop_index(batch_op.f("ix_human_interaction_status"))
        batch_op.drop_index(batch_op.f("ix_human_interaction_run_id"))
        batch_op.drop_index(batch_op.f("ix_human_interaction_project_id"))

    op.drop_table("human_interaction")
