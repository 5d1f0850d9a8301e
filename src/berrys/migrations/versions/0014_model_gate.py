"""llm: model_gate (quality-gate verdicts per provider, model and task type)

How many deliverables (TASK) and reviews (REVIEW) of each model passed or failed the quality
gate, the offline draft's under provider RULES: the router leaves out of those task types a
model whose pass rate is measurably below the offline draft's.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 18:20:57.732630
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_gate",
        sa.Column(
            "provider",
            sa.Enum(
                "SCRIPTED",
                "RULES",
                "LOCAL",
                "OPENAI",
                "ANTHROPIC",
                "OLLAMA",
                name="modelprovider",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column(
            "task_type",
            sa.Enum(
                "GENERAL",
                "REQUIREMENTS",
                "TEAM",
                "PLAN",
                "INTENT",
                "TASK",
                "REVIEW",
                name="modeltasktype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "model_name", "task_type", name=op.f("pk_model_gate")),
    )


def downgrade() -> None:
    op.drop_table("model_gate")
