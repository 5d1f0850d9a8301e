"""publishing: publications and the deliveries of their webhook manifests

``publication`` records each request to publish a run's deliverables (the target and its
options, the files as approved, who asked and who approved, the approval, where it went);
``publication_delivery`` and ``publication_delivery_attempt`` hold a WEBHOOK publication's
manifest and every attempt to deliver it, with alerts' delivery columns.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 07:01:55.970290
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "publication",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column(
            "target",
            sa.Enum(
                "BUNDLE", "GIT", "WEBHOOK", name="publicationtarget", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING_APPROVAL",
                "PUBLISHING",
                "PUBLISHED",
                "FAILED",
                "REJECTED",
                name="publicationstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("options", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("files", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("interaction_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("approved_by", sa.Uuid(), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("result", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("claimed_until", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["user_account.id"],
            name=op.f("fk_publication_approved_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["human_interaction.id"],
            name=op.f("fk_publication_interaction_id_human_interaction"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_publication_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["user_account.id"],
            name=op.f("fk_publication_requested_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_publication_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication")),
    )
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_publication_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "ix_publication_status_claim", ["status", "claimed_until"], unique=False
        )

    op.create_table(
        "publication_delivery",
        sa.Column("publication_id", sa.Uuid(), nullable=False),
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
            ["publication_id"],
            ["publication.id"],
            name=op.f("fk_publication_delivery_publication_id_publication"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_delivery")),
        sa.UniqueConstraint("publication_id", name=op.f("uq_publication_delivery_publication_id")),
    )
    with op.batch_alter_table("publication_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_publication_delivery_due", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "publication_delivery_attempt",
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
            ["publication_delivery.id"],
            name=op.f("fk_publication_delivery_attempt_delivery_id_publication_delivery"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publication_delivery_attempt")),
    )
    with op.batch_alter_table("publication_delivery_attempt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_publication_delivery_attempt_delivery_id"), ["delivery_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("publication_delivery_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_publication_delivery_attempt_delivery_id"))

    op.drop_table("publication_delivery_attempt")
    with op.batch_alter_table("publication_delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_delivery_due")

    op.drop_table("publication_delivery")
    with op.batch_alter_table("publication", schema=None) as batch_op:
        batch_op.drop_index("ix_publication_status_claim")
        batch_op.drop_index(batch_op.f("ix_publication_project_id"))

    op.drop_table("publication")
