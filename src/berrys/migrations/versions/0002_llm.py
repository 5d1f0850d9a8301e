"""llm: model registry, requests, budgets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model",
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
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("capabilities", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("input_price_per_million", sa.Float(), nullable=False),
        sa.Column("output_price_per_million", sa.Float(), nullable=False),
        sa.Column("is_local", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("quality", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=False),
        sa.Column("latency_ms_avg", sa.Float(), nullable=True),
        sa.Column("feedback_score", sa.Float(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("provider", "name", name="uq_model_provider_name"),
    )
    op.create_table(
        "model_budget",
        sa.Column(
            "scope",
            sa.Enum(
                "PROJECT", "AGENT", "PROVIDER", name="budgetscope", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
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
            nullable=True,
        ),
        sa.Column(
            "period",
            sa.Enum("TOTAL", "DAILY", name="budgetperiod", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("limit_usd", sa.Float(), nullable=True),
        sa.Column("limit_tokens", sa.Integer(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_model_budget_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_budget")),
    )
    with op.batch_alter_table("model_budget", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_budget_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_model_budget_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "model_request",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Uuid(), nullable=True),
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
        sa.Column(
            "outcome",
            sa.Enum(
                "SUCCESS",
                "TIMEOUT",
                "RATE_LIMITED",
                "SERVER_ERROR",
                "CONNECTION_ERROR",
                "CONTEXT_OVERFLOW",
                "INVALID_OUTPUT",
                "UNSUPPORTED",
                "ERROR",
                name="modelrequestoutcome",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("error_class", sa.String(length=100), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("route_reason", sa.Text(), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_model_request_project_id_project"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_model_request_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_request")),
    )
    with op.batch_alter_table("model_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_request_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_request_call_id"), ["call_id"], unique=False)
        batch_op.create_index("ix_model_request_created_at", ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_model_request_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_model_request_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_model_request_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_request_user_id"))
        batch_op.drop_index(batch_op.f("ix_model_request_project_id"))
        batch_op.drop_index(batch_op.f("ix_model_request_model_id"))
        batch_op.drop_index("ix_model_request_created_at")
        batch_op.drop_index(batch_op.f("ix_model_request_call_id"))
        batch_op.drop_index(batch_op.f("ix_model_request_agent_id"))

    op.drop_table("model_request")
    with op.batch_alter_table("model_budget", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_budget_project_id"))
        batch_op.drop_index(batch_op.f("ix_model_budget_agent_id"))

    op.drop_table("model_budget")
    op.drop_table("model")
