"""catalogue: project_profile and plan_task.deliverable

What Berrys understood of a project (its types with their confidence and signals, the sizes
its description gives, its stated and implied requirements, a short title) is kept per
project; a plan task names the deliverable type it hands over.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:15:03.739945
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "project_profile",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("types", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("constraints", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("requirements", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("notes", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_project_profile_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_profile")),
    )
    with op.batch_alter_table("plan_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deliverable", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_task", schema=None) as batch_op:
        batch_op.drop_column("deliverable")

    op.drop_table("project_profile")
