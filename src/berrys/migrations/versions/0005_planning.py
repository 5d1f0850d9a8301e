"""planning: plans, tasks, dependencies, resources

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:38:59.282114
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import berrys.core.db

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "methodology",
            sa.Enum(
                "AGILE",
                "WATERFALL",
                "CRITICAL_PATH",
                name="methodology",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("start_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("calendar", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("generated_by", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_plan_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["plan.id"], name=op.f("fk_plan_parent_id_plan"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_plan_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("project_id", "version", name="uq_plan_project_version"),
    )
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "uq_plan_one_current",
            ["project_id"],
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )

    op.create_table(
        "plan_change",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
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
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.Uuid(), nullable=True),
        sa.Column("changed_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"],
            ["user_account.id"],
            name=op.f("fk_plan_change_changed_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_plan_change_plan_id_plan"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_change")),
    )
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_change_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "plan_phase",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_plan_phase_plan_id_plan"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_phase")),
    )
    with op.batch_alter_table("plan_phase", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_phase_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "plan_resource",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("agent_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("skills", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("capacity_hours_per_week", sa.Double(), nullable=False),
        sa.Column("cost_per_hour", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agent.id"],
            name=op.f("fk_plan_resource_agent_id_agent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_plan_resource_plan_id_plan"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_resource")),
    )
    with op.batch_alter_table("plan_resource", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_resource_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_resource_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "plan_milestone",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("task_ids", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["plan_phase.id"],
            name=op.f("fk_plan_milestone_phase_id_plan_phase"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plan.id"],
            name=op.f("fk_plan_milestone_plan_id_plan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_milestone")),
    )
    with op.batch_alter_table("plan_milestone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_milestone_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "plan_task",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("phase_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("acceptance_criteria", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column("estimate_hours", sa.Double(), nullable=False),
        sa.Column("optimistic_hours", sa.Double(), nullable=True),
        sa.Column("pessimistic_hours", sa.Double(), nullable=True),
        sa.Column("required_skills", berrys.core.db.JSONDocument(), nullable=False),
        sa.Column(
            "priority",
            sa.Enum(
                "LOW", "MEDIUM", "HIGH", "CRITICAL", name="priority", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "PENDING",
                "ASSIGNED",
                "IN_PROGRESS",
                "BLOCKED",
                "COMPLETED",
                "FAILED",
                "CANCELLED",
                name="taskstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "risk_level",
            sa.Enum(
                "LOW", "MEDIUM", "HIGH", "CRITICAL", name="risklevel", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("assigned_agent_id", sa.Uuid(), nullable=True),
        sa.Column("assigned_resource_id", sa.Uuid(), nullable=True),
        sa.Column("not_before_hours", sa.Double(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", berrys.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_agent_id"],
            ["agent.id"],
            name=op.f("fk_plan_task_assigned_agent_id_agent"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_resource_id"],
            ["plan_resource.id"],
            name=op.f("fk_plan_task_assigned_resource_id_plan_resource"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["phase_id"],
            ["plan_phase.id"],
            name=op.f("fk_plan_task_phase_id_plan_phase"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_plan_task_plan_id_plan"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_task")),
    )
    with op.batch_alter_table("plan_task", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_task_assigned_agent_id"), ["assigned_agent_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_plan_task_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_task_status"), ["status"], unique=False)

    op.create_table(
        "plan_dependency",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("from_task_id", sa.Uuid(), nullable=False),
        sa.Column("to_task_id", sa.Uuid(), nullable=False),
        sa.Column(
            "dependency_type",
            sa.Enum("FS", "SS", "FF", "SF", name="dependencytype", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("lag_hours", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_task_id"],
            ["plan_task.id"],
            name=op.f("fk_plan_dependency_from_task_id_plan_task"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plan.id"],
            name=op.f("fk_plan_dependency_plan_id_plan"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_task_id"],
            ["plan_task.id"],
            name=op.f("fk_plan_dependency_to_task_id_plan_task"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_dependency")),
        sa.UniqueConstraint("from_task_id", "to_task_id", name="uq_plan_dependency_pair"),
    )
    with op.batch_alter_table("plan_dependency", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_dependency_from_task_id"), ["from_task_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_plan_dependency_plan_id"), ["plan_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_plan_dependency_to_task_id"), ["to_task_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("plan_dependency", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_dependency_to_task_id"))
        batch_op.drop_index(batch_op.f("ix_plan_dependency_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_dependency_from_task_id"))

    op.drop_table("plan_dependency")
    with op.batch_alter_table("plan_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_task_status"))
        batch_op.drop_index(batch_op.f("ix_plan_task_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_task_assigned_agent_id"))

    op.drop_table("plan_task")
    with op.batch_alter_table("plan_milestone", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_milestone_plan_id"))

    op.drop_table("plan_milestone")
    with op.batch_alter_table("plan_resource", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_resource_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_resource_agent_id"))

    op.drop_table("plan_resource")
    with op.batch_alter_table("plan_phase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_phase_plan_id"))

    op.drop_table("plan_phase")
    with op.batch_alter_table("plan_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_change_plan_id"))

    op.drop_table("plan_change")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_plan_one_current",
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        )
        batch_op.drop_index(batch_op.f("ix_plan_project_id"))

    op.drop_table("plan")
