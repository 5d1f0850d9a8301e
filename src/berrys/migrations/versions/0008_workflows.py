"""workflows: runs, task runs and their dependencies, steps, the event outbox, artifacts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 10:43:56.194179
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "QUEUED",
                "RUNNING",
                "AWAITING_INPUT",
                "PAUSED",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                name="runstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("gate_interaction_id", sa.Uuid(), nullable=True),
        sa.Column("max_concurrency", sa.Integer(), nullable=False),
        sa.Column("provider_limits", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("budget_usd", sa.Double(), nullable=True),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("options", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("started_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_run_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_run_plan_id_plan"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_run_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_run_status"), ["status"], unique=False)

    op.create_table(
        "event",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "RUN_CREATED",
                "RUN_STATUS",
                "RUN_PAUSED",
                "RUN_RESUMED",
                "RUN_CANCELLED",
                "TASK_READY",
                "TASK_STARTED",
                "TASK_RECLAIMED",
                "TASK_OUTPUT_READY",
                "TASK_COMPLETED",
                "TASK_FAILED",
                "TASK_RETRY_SCHEDULED",
                "TASK_RETRIED",
                "TASK_AWAITING_INPUT",
                "TASK_RESUMED",
                "TASK_SKIPPED",
                "TASK_CANCELLED",
                "TASK_DIVERGED",
                "TASK_REVIEWED",
                "STEP_REISSUED",
                "INTERACTION_CREATED",
                "INTERACTION_RESOLVED",
                "WORKFLOW_STAGE",
                "DEGRADED",
                name="runeventtype",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("task_run_id", sa.Uuid(), nullable=True),
        sa.Column("payload", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_event_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_event")),
    )
    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_created_at"), ["created_at"], unique=False)

    op.create_table(
        "task_run",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("plan_task_id", sa.Uuid(), nullable=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("acceptance_criteria", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "risk_level",
            sa.Enum(
                "LOW", "MEDIUM", "HIGH", "CRITICAL", name="risklevel", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("spec", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "READY",
                "RUNNING",
                "AWAITING_INPUT",
                "COMPLETED",
                "FAILED",
                "SKIPPED",
                "CANCELLED",
                name="taskrunstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Double(), nullable=True),
        sa.Column("not_before", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("output_ready", sa.Boolean(), nullable=False),
        sa.Column("grants", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("output", berrys.core.db.JSONDocument(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("started_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agent.id"], name=op.f("fk_task_run_agent_id_agent"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["plan_task_id"],
            ["plan_task.id"],
            name=op.f("fk_task_run_plan_task_id_plan_task"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_task_run_run_id_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_run")),
        sa.UniqueConstraint("run_id", "key", name="uq_task_run_run_key"),
    )
    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.create_index("ix_task_run_claim", ["status", "lease_expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_run_run_id"), ["run_id"], unique=False)

    op.create_table(
        "artifact",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("task_run_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("produced_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_artifact_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["run.id"], name=op.f("fk_artifact_run_id_run"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_artifact_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact")),
    )
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifact_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifact_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifact_task_run_id"), ["task_run_id"], unique=False)

    op.create_table(
        "step",
        sa.Column("task_run_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("MODEL", "TOOL", name="stepkind", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "STARTED", "COMPLETED", "FAILED", name="stepstatus", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("idempotent", sa.Boolean(), nullable=False),
        sa.Column("result", berrys.core.db.JSONDocument(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("started_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", berrys.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_run_id"],
            ["task_run.id"],
            name=op.f("fk_step_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step")),
        sa.UniqueConstraint("task_run_id", "attempt", "seq", name="uq_step_task_run_attempt_seq"),
    )
    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_task_run_id"), ["task_run_id"], unique=False)

    op.create_table(
        "task_run_dependency",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("from_task_run_id", sa.Uuid(), nullable=False),
        sa.Column("to_task_run_id", sa.Uuid(), nullable=False),
        sa.Column(
            "dependency_type",
            sa.Enum("FS", "SS", "FF", "SF", name="dependencytype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("lag_hours", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_dependency_from_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["run.id"],
            name=op.f("fk_task_run_dependency_run_id_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_task_run_id"],
            ["task_run.id"],
            name=op.f("fk_task_run_dependency_to_task_run_id_task_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "from_task_run_id", "to_task_run_id", name=op.f("pk_task_run_dependency")
        ),
    )
    with op.batch_alter_table("task_run_dependency", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_run_dependency_run_id"), ["run_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_task_run_dependency_to_task_run_id"), ["to_task_run_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("task_run_dependency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_run_dependency_to_task_run_id"))
        batch_op.drop_index(batch_op.f("ix_task_run_dependency_run_id"))

    op.drop_table("task_run_dependency")

    with op.batch_alter_table("step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_task_run_id"))

    op.drop_table("step")

    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_task_run_id"))
        batch_op.drop_index(batch_op.f("ix_artifact_run_id"))
        batch_op.drop_index(batch_op.f("ix_artifact_project_id"))

    op.drop_table("artifact")

    with op.batch_alter_table("task_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_run_run_id"))
        batch_op.drop_index("ix_task_run_claim")

    op.drop_table("task_run")

    with op.batch_alter_table("event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_created_at"))

    op.drop_table("event")

    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_status"))
        batch_op.drop_index(batch_op.f("ix_run_project_id"))

    op.drop_table("run")
