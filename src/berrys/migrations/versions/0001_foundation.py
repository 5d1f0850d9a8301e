"""foundation: users, tokens, audit, projects

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:29:19.724379
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column(
            "action",
            sa.Enum(
                "CREATE",
                "UPDATE",
                "DELETE",
                "TRANSITION",
                "LOGIN",
                "LOGOUT",
                "INVOKE",
                "GENERATE",
                "RESPOND",
                name="auditaction",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("before", berrys.core.db.JSONDocument(), nullable=True),
        sa.Column("after", berrys.core.db.JSONDocument(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_entry_seq")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_created_at"), ["created_at"], unique=False)
        batch_op.create_index("ix_audit_entry_entity", ["entity_type", "entity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_project_id"), ["project_id"], unique=False)

    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # The chain's genesis: appends lock and advance this one row.
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "entry_hash": "0" * 64}])
    op.create_table(
        "login_failure",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("failed_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failure_email"), ["email"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum("ADMIN", "MEMBER", "VIEWER", name="userrole", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("LOGIN", "PERSONAL", name="tokenkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "project",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "DRAFT",
                "PLANNING",
                "IN_PROGRESS",
                "PAUSED",
                "REVIEW",
                "COMPLETED",
                "ARCHIVED",
                "CANCELLED",
                name="projectstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("project_metadata", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["user_account.id"],
            name=op.f("fk_project_owner_id_user_account"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_status"), ["status"], unique=False)

    op.create_table(
        "project_state",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "DRAFT",
                "PLANNING",
                "IN_PROGRESS",
                "PAUSED",
                "REVIEW",
                "COMPLETED",
                "ARCHIVED",
                "CANCELLED",
                name="projectstatus",
                native_enum=False,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "DRAFT",
                "PLANNING",
                "IN_PROGRESS",
                "PAUSED",
                "REVIEW",
                "COMPLETED",
                "ARCHIVED",
                "CANCELLED",
                name="projectstatus",
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
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_state_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transitioned_by"],
            ["user_account.id"],
            name=op.f("fk_project_state_transitioned_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project_state")),
    )
    with op.batch_alter_table("project_state", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_project_state_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("project_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_state_project_id"))

    op.drop_table("project_state")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_status"))
        batch_op.drop_index(batch_op.f("ix_project_owner_id"))

    op.drop_table("project")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user_account")
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_email"))

    op.drop_table("login_failure")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_project_id"))
        batch_op.drop_index("ix_audit_entry_entity")
        batch_op.drop_index(batch_op.f("ix_audit_entry_created_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_actor_id"))

    op.drop_table("audit_entry")
