"""alerts: rules, their episodes, notifications and delivery attempts

``alert_rule`` (a kind, its parameters, the project or none for global, where to notify,
when it is next evaluated), ``alert_episode`` (one per span a rule's condition held),
``alert_delivery`` (one notification of an episode's event on one channel) and
``alert_delivery_attempt`` (every try to deliver one).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 03:52:50.862232
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_rule",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "TASK_FAILURE_RATE",
                "BUDGET_SPENT",
                "RUN_STALLED",
                "APPROVAL_WAITING",
                "WORKER_SILENT",
                name="alertkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("params", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.Text(), nullable=True),
        sa.Column("webhook_secret_encrypted", sa.Text(), nullable=True),
        sa.Column("email_to", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("next_evaluation_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_evaluated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_alert_rule_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_alert_rule_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rule")),
    )
    with op.batch_alter_table("alert_rule", schema=None) as batch_op:
        batch_op.create_index("ix_alert_rule_due", ["enabled", "next_evaluation_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_rule_project_id"), ["project_id"], unique=False)

    op.create_table(
        "alert_episode",
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum(
                "TASK_FAILURE_RATE",
                "BUDGET_SPENT",
                "RUN_STALLED",
                "APPROVAL_WAITING",
                "WORKER_SILENT",
                name="alertkind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum("FIRING", "RESOLVED", name="episodestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("opened_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["user_account.id"],
            name=op.f("fk_alert_episode_acknowledged_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_alert_episode_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["alert_rule.id"],
            name=op.f("fk_alert_episode_rule_id_alert_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_episode")),
    )
    with op.batch_alter_table("alert_episode", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_episode_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index("ix_alert_episode_rule_status", ["rule_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_alert_episode_status"), ["status"], unique=False)

    op.create_table(
        "alert_delivery",
        sa.Column("episode_id", sa.Uuid(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum("WEBHOOK", "EMAIL", name="deliverychannel", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column(
            "event",
            sa.Enum("FIRED", "RESOLVED", name="episodeevent", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "DELIVERED",
                "FAILED",
                name="deliverystatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["alert_episode.id"],
            name=op.f("fk_alert_delivery_episode_id_alert_episode"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery")),
    )
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.create_index("ix_alert_delivery_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alert_delivery_episode_id"), ["episode_id"], unique=False
        )

    op.create_table(
        "alert_delivery_attempt",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["alert_delivery.id"],
            name=op.f("fk_alert_delivery_attempt_delivery_id_alert_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_delivery_attempt")),
    )
    with op.batch_alter_table("alert_delivery_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_delivery_attempt_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_delivery_attempt_delivery_id"))

    op.drop_table("alert_delivery_attempt")
    with op.batch_alter_table("alert_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_delivery_episode_id"))
        batch_op.drop_index("ix_alert_delivery_due")

    op.drop_table("alert_delivery")
    with op.batch_alter_table("alert_episode", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_episode_status"))
        batch_op.drop_index("ix_alert_episode_rule_status")
        batch_op.drop_index(batch_op.f("ix_alert_episode_project_id"))

    op.drop_table("alert_episode")
    with op.batch_alter_table("alert_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_rule_project_id"))
        batch_op.drop_index("ix_alert_rule_due")

    op.drop_table("alert_rule")
